"""The running hub: the store and the three workers of the spine, started and stopped together.

- the group committer (inbox writes, one thread; on SQLite under `serve --workers N`
  it hands them to the inbox writer, engine/commit_relay.py),
- the applier (inbox -> events, state, outbox; woken by each commit): a thread, or
  processes of their own, each applying its share of the partitions (`hub.applier`,
  `hub.appliers`, engine/applier_process.py, engine/partitions.py),
- the dispatcher (outbox -> HTTP; an asyncio task, woken by the applier),
- the token registry's round (security/tokens.py: issued tokens reloaded, last uses and
  authentication failures written; an asyncio task on every worker),
- the singletons, on the one node that holds the `leader` lease (store/leases.py;
  several hubs may share one database): a poller per partner configured with `poll`
  (Odoo write_date cursor), the timer worker when a `workflows` section is configured,
  the scheduled master-data sync and reconciliation, and outbox retention (delivered
  commands older than `delivery.keep_delivered` deleted a minute after start and hourly
  after that, outbox/retention.py), and the audit checkpoint when `hub.audit_key` is set
  (security/audit_checkpoint.py: every `hub.audit_checkpoint_seconds`, and once more
  when the leader stops, after its appliers), the document reader when a partner sends
  documents (foresight/documents_reader.py), and with a `foresight` section the
  arrival-time refresh and model retraining (foresight/eta_refresh.py), the anomaly
  detectors and the exception classifier (foresight/anomalies.py, classify.py); asyncio
  tasks, started when this node gains the lease and cancelled when it loses it.

Under `intermodal serve --workers N` (intermodal/serve.py) one worker process runs all of
this (the core worker, which also takes part in the leader election); the others are
ingest-only hubs (`applier="elsewhere"`): a group committer whose commits wake the core
worker's appliers through their datagram sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import httpx
from sqlalchemy import Connection

from intermodal.config import Partner, Settings, TelemetryConfig
from intermodal.engine.applier import Applier
from intermodal.engine.applier_process import (
    ApplierElsewhere,
    ApplierPool,
    ApplierProcess,
    wake_addresses,
)
from intermodal.engine.commit_relay import Committer, RelayCommitter
from intermodal.engine.inbox import GroupCommitter
from intermodal.mapping import MappingNormalizer
from intermodal.observe import traces
from intermodal.observe.memory import freeze_start_up_heap, release_free_memory
from intermodal.observe.metrics import Metrics
from intermodal.observe.metrics import current as current_metrics
from intermodal.outbox.dispatcher import Dispatcher
from intermodal.security.audit import check_appendable, keys_from_settings, use_keys
from intermodal.security.audit_checkpoint import CheckpointWriter
from intermodal.security.tokens import TokenRegistry
from intermodal.store import Store, open_store
from intermodal.store.leases import LEADER, Lease, LeaseKeeper, Leases, still_holds
from intermodal.wiring import SINK_KINDS

log = logging.getLogger(__name__)
PRUNE_FIRST_SECONDS = 60.0
PRUNE_EVERY_SECONDS = 3600.0


@dataclass
class Hub:
    settings: Settings
    store: Store
    committer: Committer
    applier: Applier | ApplierProcess | ApplierPool | ApplierElsewhere
    metrics: Metrics
    tokens: TokenRegistry
    """Every bearer token the hub accepts: configured and issued (security/tokens.py)."""
    dispatcher: Dispatcher | None = None
    ingest_only: bool = False
    """An ingest worker: no dispatcher, timers or pollers (the core worker runs them)."""
    checkpoints: CheckpointWriter | None = None
    """Writes the audit checkpoint while this node leads; None without `hub.audit_key`."""
    _pollers: list[asyncio.Task[None]] = field(default_factory=list, repr=False)
    _poll_http: httpx.AsyncClient | None = field(default=None, repr=False)
    _dispatch_task: asyncio.Task[None] | None = field(default=None, repr=False)
    _leadership: LeaseKeeper | None = field(default=None, repr=False)
    _election: asyncio.Task[None] | None = field(default=None, repr=False)
    _singletons: list[asyncio.Task[None]] = field(default_factory=list, repr=False)

    @classmethod
    def create(
        cls,
        settings: Settings,
        store: Store | None = None,
        applier: Literal["thread", "process", "elsewhere"] = "thread",
        wake_address: str | None = None,
        relay_address: str | None = None,
    ) -> Hub:
        """`applier` is where the applier runs when the configuration says `auto`:
        `intermodal serve` asks for a process, an embedded hub keeps it a thread.
        `elsewhere` (an ingest worker of `serve --workers N`) runs none and wakes the
        applier processes bound at the addresses named after `wake_address`; `process`
        appliers given `wake_address` bind them, so that other workers' commits wake
        them too. `hub.appliers` says how many applier processes (one by default).
        On SQLite, `relay_address` is the inbox writer's socket (engine/commit_relay.py):
        the worker's messages are committed there, with every other worker's."""
        store = store or open_store(settings.hub.database)
        keys = keys_from_settings(settings)
        use_keys(store, keys)  # every process that appends seals its rows
        check_appendable(store)
        checkpoints = None
        if keys is not None:
            every = settings.hub.audit_checkpoint_seconds
            checkpoints = CheckpointWriter(store, keys, settings.hub.audit_checkpoint, every)
        telemetry = settings.telemetry or TelemetryConfig()
        traces.configure(telemetry.otlp_endpoint, telemetry.service_name, telemetry.sample_ratio)
        metrics = Metrics(
            store,
            list(settings.partners),
            telemetry.metrics_cache_seconds,
            endpoints=list(settings.endpoints),
        )
        where = applier if settings.hub.applier == "auto" else settings.hub.applier
        worker: Applier | ApplierProcess | ApplierPool | ApplierElsewhere
        count = settings.hub.applier_count()
        addresses = wake_addresses(wake_address, count) if wake_address is not None else None
        if applier == "elsewhere" and addresses is not None:
            worker = ApplierElsewhere(addresses)
        elif where == "process" and store.shared_by_processes and count > 1:
            worker = ApplierPool(settings, store.url, metrics, wake_address, count)
        elif where == "process" and store.shared_by_processes:
            first = addresses[0] if addresses else None
            worker = ApplierProcess(settings, store.url, metrics, first)
        else:
            normalize = MappingNormalizer(settings)
            worker = Applier(store, settings, metrics=metrics, normalize=normalize)
        local = GroupCommitter(
            store,
            on_commit=worker.wake.set,
            metrics=metrics,
            commits=settings.hub.ingest_commits,
        )
        committer: Committer = local
        if relay_address is not None and store.is_sqlite:
            committer = RelayCommitter(relay_address, local)
        tokens = TokenRegistry(store, settings.tokens, settings.partners, metrics.auth_failures)
        return cls(
            settings,
            store,
            committer,
            worker,
            metrics,
            tokens,
            ingest_only=applier == "elsewhere",
            checkpoints=checkpoints,
        )

    async def start(self, dispatch: bool = True) -> None:
        freeze_start_up_heap()
        self.committer.start()
        self.applier.start()
        self._pollers.append(asyncio.create_task(self.tokens.run(), name="tokens"))
        if self.ingest_only:
            self._pollers.append(  # W5: the resident set after bursts
                asyncio.create_task(self._release_memory_when_quiet(), name="memory")
            )
            return
        if dispatch:
            self.dispatcher = Dispatcher(
                self.store,
                self.settings,
                lease_seconds=self.settings.delivery.lease_seconds,
                metrics=self.metrics,
                sink_kinds=SINK_KINDS,
            )
            loop = asyncio.get_running_loop()
            dispatcher = self.dispatcher

            def wake_dispatcher(_count: int) -> None:
                loop.call_soon_threadsafe(dispatcher.wake.set)

            self.applier.on_commands = wake_dispatcher
            # What Odoo did not do (a delivery left open) comes back to the flows.
            dispatcher.on_follow_ups = self.applier.wake.set
            self._dispatch_task = asyncio.create_task(dispatcher.run(), name="dispatcher")

        self._pollers.append(  # W5: the resident set after bursts
            asyncio.create_task(self._release_memory_when_quiet(), name="memory")
        )
        for partner in self.settings.partners.values():
            if partner.inbox_folder is not None:  # the watched EDI folder: every node
                from intermodal.ingress.edi import watch_folder

                self._pollers.append(
                    asyncio.create_task(watch_folder(self, partner), name=f"edi-{partner.name}")
                )
            if partner.documents_folder is not None:  # the watched document folder
                from intermodal.ingress.documents import watch_document_folder

                self._pollers.append(
                    asyncio.create_task(
                        watch_document_folder(self, partner), name=f"documents-{partner.name}"
                    )
                )
        await self._elect()

    @property
    def leading(self) -> bool:
        """Whether this node holds the leader lease and runs the singletons."""
        return self._leadership is not None and self._leadership.lease is not None

    async def _elect(self) -> None:
        """Take part in the leader election: try for the lease once now (a lone hub
        starts its singletons before `start` returns), then keep trying or renewing."""
        leases = Leases(self.store, ttl_seconds=self.settings.hub.lease_seconds)
        self._leadership = LeaseKeeper(leases, LEADER, self._lead, self._follow)
        self.metrics.leader.set(0)
        await self._leadership.step()
        self._election = asyncio.create_task(self._leadership.run(), name="leader-election")

    async def _lead(self, lease: Lease) -> None:
        log.info(
            "leader: this node (%s) leads now (lease token %d)",
            lease.holder,
            lease.token,
            extra=_lease_context(lease),
        )
        for name, job in self._singleton_jobs(lease):
            self._singletons.append(asyncio.create_task(job(), name=name))
        self.metrics.leader.set(1)
        self.metrics.leader_changes.labels("gained").inc()

    async def _follow(self, lease: Lease, why: str) -> None:
        """Lost the lease: the singletons stop before another node may start them."""
        tasks, self._singletons = self._singletons, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # one that had failed too
        self.metrics.leader.set(0)
        self.metrics.leader_changes.labels("lost").inc()
        level = logging.INFO if why == "stopping" else logging.WARNING
        log.log(
            level,
            "leader: this node (%s) stopped leading (lease token %d): %s",
            lease.holder,
            lease.token,
            why,
            extra=_lease_context(lease),
        )

    def _singleton_jobs(
        self, lease: Lease
    ) -> list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]]:
        """What only the leader runs, by task name. Each job's writes are safe to repeat
        (timers and pollers by the inbox key, retention, sync upserts) except starting a
        reconciliation run, which checks the lease (`still_holds`) in its transaction."""
        jobs: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = []
        if self.settings.workflows is not None:  # durable timers
            from intermodal.workflows.timers import TimerWorker

            worker = TimerWorker(
                self.store, self.settings.workflows.timer_poll_seconds, self.applier.wake.set
            )
            jobs.append(("timers", worker.run))
        if self.settings.delivery.keep_delivered is not None:
            jobs.append(("retention", self._prune_forever))
        if self.checkpoints is not None:
            jobs.append(("audit-checkpoint", self.checkpoints.run))
        if any(p.documents is not None for p in self.settings.partners.values()):
            jobs.append(("documents", self._read_documents))
        for partner in self.settings.partners.values():
            if partner.poll is not None:
                jobs.append((f"poll-{partner.name}", functools.partial(self._poll, partner)))
        sync, reconcile = self.settings.sync, self.settings.reconcile
        if sync is not None and sync.interval_seconds > 0:  # master data from Odoo
            jobs.append(("master-data-sync", self._sync))
        if reconcile is not None and reconcile.interval_seconds > 0:
            from intermodal.workflows.reconcile.run import run_forever

            def leads(conn: Connection) -> bool:
                return still_holds(conn, LEADER, lease.token)

            jobs.append(("reconcile", functools.partial(run_forever, self.store, reconcile, leads)))
        jobs.extend(self._foresight_jobs(lease))
        return jobs

    def _foresight_jobs(
        self, lease: Lease
    ) -> list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]]:
        """The foresight assists the `foresight` section turns on: the anomaly detectors,
        the exception classifier, the ETA refresh and the model's retraining (the ETA jobs
        check the lease in each write, like a reconciliation run)."""
        foresight = self.settings.foresight
        if foresight is None:
            return []
        jobs: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = []
        if foresight.anomalies.enabled:  # anomaly cases
            from intermodal.foresight.anomalies import AnomalyWatch

            jobs.append(("anomalies", AnomalyWatch(self.store, self.settings).run))
        if foresight.classify.enabled:  # exception suggestions
            from intermodal.foresight.classify import ExceptionClassifier

            jobs.append(("classify", ExceptionClassifier(self.store, self.settings).run))
        if not foresight.eta.enabled:
            return jobs
        from intermodal.foresight.eta_refresh import EtaRefresher, EtaTrainer

        def leads(conn: Connection) -> bool:
            return still_holds(conn, LEADER, lease.token)

        loop = asyncio.get_running_loop()

        def wake_dispatcher(_count: int) -> None:
            if self.dispatcher is not None:
                loop.call_soon_threadsafe(self.dispatcher.wake.set)

        refresher = EtaRefresher(
            self.store, self.settings, leads=leads, on_commands=wake_dispatcher
        )
        jobs.append(("eta-refresh", refresher.run))
        if foresight.eta.model.enabled:
            jobs.append(("eta-retrain", EtaTrainer(self.store, self.settings, leads=leads).run))
        return jobs

    async def _read_documents(self) -> None:
        """Read received documents into events, forever (foresight/documents_reader.py);
        the reading process is stopped with the task."""
        from intermodal.foresight.documents_reader import DocumentReader, reading_process

        process = reading_process(self.settings)
        reader = DocumentReader(self.store, self.settings, process.read, self.applier.wake.set)
        try:
            await reader.run(self.settings.documents.poll_seconds)
        finally:
            await asyncio.to_thread(process.close)

    async def _sync(self) -> None:
        """Copy Odoo's master data on the `sync` schedule, forever."""
        from intermodal.connectors.odoo.sink import odoo_client
        from intermodal.connectors.odoo.sync.batch import MasterDataSync

        config = self.settings.sync
        assert config is not None
        if self._poll_http is None:
            self._poll_http = httpx.AsyncClient()
        runner = MasterDataSync(
            odoo_client(self.settings.endpoints[config.endpoint], self._poll_http),
            self.store,
            config.endpoint,
            models=list(config.models) if config.models else None,
            page_size=config.page_size,
            overlap_seconds=config.overlap_seconds,
        )
        await runner.run(config.interval_seconds)

    async def _poll(self, partner: Partner) -> None:
        """Pull a partner's changes (Odoo's write_date cursor) into the inbox, forever."""
        from intermodal.connectors.odoo.sink import odoo_client
        from intermodal.ingress.odoo_capture import WriteDatePoller

        assert partner.poll is not None
        current_metrics.set(self.metrics)  # Odoo calls are counted
        if self._poll_http is None:
            self._poll_http = httpx.AsyncClient()
        endpoint = self.settings.endpoints[partner.poll.endpoint]
        poller = WriteDatePoller(
            odoo_client(endpoint, self._poll_http),
            self.store,
            partner.name,
            self.committer.submit,
            overlap_seconds=partner.poll.overlap_seconds,
        )
        await poller.run(partner.poll.interval_seconds)

    async def _release_memory_when_quiet(self, every: float = 2.0) -> None:
        """Once ingest and apply have been quiet for `every` seconds after
        a burst, hand the heap pages the burst freed back to the OS (observe/memory.py)."""
        previous = trimmed = (self.committer.rows, self.applier.totals.messages)
        while True:
            await asyncio.sleep(every)
            current = (self.committer.rows, self.applier.totals.messages)
            if current == previous and current != trimmed:
                await asyncio.to_thread(release_free_memory)
                trimmed = current
            previous = current

    async def prune_outbox(self) -> int:
        """Delete delivered commands older than `delivery.keep_delivered` (none when it is
        null); counted in `intermodal_outbox_pruned_total`, each chunk audited."""
        from intermodal.outbox.retention import prune_delivered

        keep = self.settings.delivery.keep_delivered
        if keep is None:
            return 0
        pruned = await asyncio.to_thread(
            prune_delivered, self.store, timedelta(seconds=keep), "hub:retention"
        )
        if pruned:
            self.metrics.outbox_pruned.inc(pruned)
            log.info("outbox retention: %d delivered command(s) deleted", pruned)
        return pruned

    async def _prune_forever(self) -> None:
        await asyncio.sleep(PRUNE_FIRST_SECONDS)
        while True:
            try:
                await self.prune_outbox()
            except Exception:  # the store is down: try again at the next round
                log.exception("outbox retention failed; retrying in an hour")
            await asyncio.sleep(PRUNE_EVERY_SECONDS)

    async def stop(self) -> None:
        led = self.leading
        if self._election is not None:
            self._election.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._election
        if self._leadership is not None:  # singletons stop, then the lease is free
            await self._leadership.release()
        for task in self._pollers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._poll_http is not None:
            await self._poll_http.aclose()
        if self.dispatcher is not None:
            self.dispatcher.stop()
            if self._dispatch_task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await self._dispatch_task
            await self.dispatcher.aclose()
        await asyncio.to_thread(self.tokens.close)  # last uses and failures still pending
        await asyncio.to_thread(self.committer.stop)
        await asyncio.to_thread(self.applier.stop)
        if led and self.checkpoints is not None:  # the appliers' last rows anchored too
            await asyncio.to_thread(self.checkpoints.write_logged)
        self.store.dispose()

    async def replay_dead_letters(
        self, actor: str, ids: list[str] | None, everything: bool, endpoint: str | None
    ) -> int:
        """Replay dead letters (outbox/dead_letters.py), waking the dispatcher after each
        chunk so delivery starts while the rest move; returns how many were replayed."""
        from intermodal.outbox import dead_letters

        loop = asyncio.get_running_loop()
        dispatcher = self.dispatcher

        def moved(_count: int) -> None:
            if dispatcher is not None:
                loop.call_soon_threadsafe(dispatcher.wake.set)

        return await asyncio.to_thread(
            dead_letters.replay, self.store, actor, ids, everything, endpoint, moved
        )

    def alive(self) -> dict[str, bool]:
        if self.ingest_only:
            return {"committer": self.committer.alive, "applier": self.applier.alive}
        return {
            "committer": self.committer.alive,
            "applier": self.applier.alive,
            "dispatcher": self._dispatch_task is not None and not self._dispatch_task.done(),
        }


def _lease_context(lease: Lease) -> dict[str, str | int]:
    """Leadership log lines carry a correlation id like every line of the spine: one
    search for `leader:<token>` finds a term of leadership from start to end."""
    return {"correlation_id": f"{lease.name}:{lease.token}", "node": lease.holder}
