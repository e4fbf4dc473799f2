"""NATS with JetStream for the `nats` endpoint's tests: the machine's server, for real.

The server is the one at 127.0.0.1:4222 (override with INTERMODAL_TEST_NATS); each test gets
a stream of its own, with a subject prefix of its own, deleted afterwards. When the server
does not answer, the tests fail and say how to start it: a skipped test would hide a
`nats` endpoint that was never exercised.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import nats.js.errors
import nkeys
import orjson
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg

from intermodal_sim.testing import free_port

NATS_URL = os.environ.get("INTERMODAL_TEST_NATS", "nats://127.0.0.1:4222")
START = (
    "start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server --"
    " -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log"
)


class Outage:
    """A TCP relay in front of the NATS server that a test can take away and bring back:
    NATS going down and coming back, without touching the machine's server."""

    def __init__(self, target: str = NATS_URL) -> None:
        host, _, port = target.removeprefix("nats://").partition(":")
        self.target = (host, int(port or 4222))
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        """Refuse new connections and cut the open ones."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers += [writer, up_writer]

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@dataclass
class Stream:
    """A test's own stream name and subject prefix, and a JetStream context to read it."""

    name: str
    prefix: str
    js: JetStreamContext

    async def count(self) -> int:
        try:
            info = await self.js.stream_info(self.name)
        except nats.js.errors.NotFoundError:
            return 0
        return int(info.state.messages)

    async def messages(self) -> list[RawStreamMsg]:
        """Every message on the stream, in stream order."""
        return [await self.js.get_msg(self.name, seq) for seq in range(1, await self.count() + 1)]


async def _ignore(_exc: Exception) -> None:
    return None


@pytest.fixture
async def nats_client() -> AsyncIterator[Client]:
    try:
        client = await nats.connect(
            NATS_URL,
            connect_timeout=2,
            allow_reconnect=False,
            max_reconnect_attempts=1,  # the client's default keeps trying for two minutes
            reconnect_time_wait=0,
            error_cb=_ignore,  # the failure below says it once, without the client's traceback
        )
    except Exception as exc:
        pytest.fail(
            f"NATS with JetStream does not answer at {NATS_URL} ({type(exc).__name__}: {exc});"
            f" these tests need it. Start it with: {START}",
            pytrace=False,
        )
    yield client
    await client.close()


NATS_SERVER = "/usr/sbin/nats-server"


@contextlib.contextmanager
def private_nats(folder: Path, settings: str) -> Iterator[str]:
    """A NATS server of the test's own (the machine's takes anyone), started from the
    machine's nats-server with `settings` (config file lines); yields its URL."""
    if not os.path.exists(NATS_SERVER):
        pytest.fail(f"{NATS_SERVER} is missing: install Debian's nats-server", pytrace=False)
    port = free_port()
    config, log = folder / f"nats-{port}.conf", folder / f"nats-{port}.log"
    config.write_text(
        f"listen: 127.0.0.1:{port}\n"
        f'log_file: "{log}"\n'
        f'jetstream {{ store_dir: "{folder / f"js-{port}"}" }}\n'
        f"{settings}\n",
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [NATS_SERVER, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        # The port opens before JetStream is enabled for the accounts; "Server is ready"
        # comes after both.
        deadline = time.monotonic() + 10
        while not (log.exists() and "Server is ready" in log.read_text(errors="replace")):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                pytest.fail(f"nats-server did not start with {config}:\n{tail}", pytrace=False)
            time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _jwt(issuer: nkeys.KeyPair, subject: str, name: str, claims: dict[str, Any]) -> str:
    """A NATS JWT (v2) as `nsc` would write it: ed25519-signed by the issuer's nkey."""

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    body = {"iat": int(time.time()), "iss": issuer.public_key.decode(), "name": name}
    body |= {"sub": subject, "nats": {**claims, "version": 2}}
    digest = hashlib.sha512(orjson.dumps(body)).digest()[:32]
    body["jti"] = base64.b32encode(digest).decode().rstrip("=")
    header = b64(orjson.dumps({"typ": "JWT", "alg": "ed25519-nkey"}))
    signed = f"{header}.{b64(orjson.dumps(body))}"
    return f"{signed}.{b64(issuer.sign(signed.encode()))}"


def _keypair(prefix: int) -> nkeys.KeyPair:
    return nkeys.from_seed(bytearray(nkeys.encode_seed(os.urandom(32), prefix)))


@dataclass
class Operator:
    """An operator, a system account and an account with JetStream, as `nsc` makes them:
    what a NATS server that authenticates with `.creds` files trusts."""

    settings: str
    account: nkeys.KeyPair

    @classmethod
    def make(cls) -> Operator:
        operator = _keypair(nkeys.PREFIX_BYTE_OPERATOR)
        system, account = _keypair(nkeys.PREFIX_BYTE_ACCOUNT), _keypair(nkeys.PREFIX_BYTE_ACCOUNT)
        op_pub = operator.public_key.decode()
        unlimited = dict.fromkeys(("subs", "data", "payload", "imports", "exports", "conn"), -1)
        stores = dict.fromkeys(("mem_storage", "disk_storage", "streams", "consumer"), -1)
        accounts = {
            key.public_key.decode(): _jwt(operator, key.public_key.decode(), name,
                                          {"type": "account", "limits": limits})
            for key, name, limits in (
                (system, "SYS", unlimited),
                (account, "HUB", {**unlimited, **stores}),
            )
        }  # fmt: skip
        settings = (
            f"operator: {_jwt(operator, op_pub, 'test', {'type': 'operator'})}\n"
            f"system_account: {system.public_key.decode()}\n"
            "resolver: MEMORY\n"
            f"resolver_preload: {{ {', '.join(f'{k}: {v}' for k, v in accounts.items())} }}"
        )
        return cls(settings, account)

    def creds(self, issuer: nkeys.KeyPair | None = None) -> str:
        """A user's `.creds` file, signed by the account (or by `issuer`, to be refused)."""
        user = _keypair(nkeys.PREFIX_BYTE_USER)
        claims = {"type": "user", "subs": -1, "data": -1, "payload": -1, "pub": {}, "sub": {}}
        jwt = _jwt(issuer or self.account, user.public_key.decode(), "hub", claims)
        return (
            f"-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n"
            f"-----BEGIN USER NKEY SEED-----\n{user.seed.decode()}\n"
            "------END USER NKEY SEED------\n"
        )


@pytest.fixture
async def outage() -> AsyncIterator[Outage]:
    relay = Outage()
    await relay.up()
    yield relay
    await relay.down()


@pytest.fixture
async def stream(nats_client: Client) -> AsyncIterator[Stream]:
    token = secrets.token_hex(4)
    js = nats_client.jetstream(timeout=5)
    made = Stream(name=f"INTERMODAL_TEST_{token}", prefix=f"imtest{token}", js=js)
    yield made
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_stream(made.name)
