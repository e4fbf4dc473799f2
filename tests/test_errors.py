"""One exception tree: every class the hub defines is an IntermodalError, and each one
becomes the HTTP problem a caller can act on."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

import pytest

import intermodal
from intermodal.api.errors import ApiError
from intermodal.canonical.events import EventError
from intermodal.config import ConfigError
from intermodal.connectors.carriers.contract import (
    CarrierRejected,
    CarrierResponseError,
    CarrierUnavailable,
)
from intermodal.connectors.carriers.shopping import NoCarrierBooked
from intermodal.connectors.odoo.client import OdooError
from intermodal.connectors.odoo.ops import OdooMappingError
from intermodal.edi.errors import EdiSyntaxError
from intermodal.engine.normalize import NormalizeError
from intermodal.errors import (
    PROBLEM_TYPE,
    ConfigurationError,
    Conflict,
    Forbidden,
    IntermodalError,
    InvalidInput,
    NotFound,
    Unauthorized,
    Unavailable,
    UpstreamError,
)
from intermodal.ingress.signatures import SignatureError
from intermodal.mapping.expressions import ExpressionError
from intermodal.mapping.spec import MappingError
from intermodal.security.secrets import SecretError
from intermodal.workflows.spec import FlowError


def _exception_classes() -> list[type[BaseException]]:
    """Every exception class defined in a module of the package, found by walking it."""
    found: dict[str, type[BaseException]] = {}
    for module_info in pkgutil.walk_packages(intermodal.__path__, "intermodal."):
        if module_info.name.endswith("__main__"):
            continue  # running it is its whole point
        module = importlib.import_module(module_info.name)
        for _name, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == module.__name__:
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[name] for name in sorted(found)]


CLASSES = _exception_classes()


def test_the_walk_finds_the_known_classes() -> None:
    names = {cls.__name__ for cls in CLASSES}
    assert {"ConfigError", "EventError", "EdiError", "OdooError", "ApiError"} <= names
    assert len(CLASSES) >= 20


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_every_exception_class_is_an_intermodal_error(cls: type[BaseException]) -> None:
    assert issubclass(cls, IntermodalError)


@pytest.mark.parametrize(
    "cls",
    [ConfigError, NormalizeError, FlowError, MappingError, ExpressionError, SecretError],
)
def test_value_errors_stay_value_errors(cls: type[Exception]) -> None:
    """Callers that catch ValueError around parsing keep working."""
    assert issubclass(cls, ValueError)
    assert issubclass(EventError, ValueError) and issubclass(OdooMappingError, ValueError)


@pytest.mark.parametrize(
    ("error", "base", "status", "code"),
    [
        (IntermodalError("boom"), IntermodalError, 500, "internal"),
        (ConfigError(["hub.port: too big"]), ConfigurationError, 500, "configuration"),
        (FlowError("flows/x.yaml: not valid YAML"), ConfigurationError, 500, "configuration"),
        (SecretError("environment variable X is not set"), ConfigurationError, 500, None),
        (EventError([{"loc": "data.milestone", "msg": "bad"}]), InvalidInput, 422, "invalid"),
        (NormalizeError("no such field", "data.x"), InvalidInput, 422, "invalid"),
        (OdooMappingError("unknown type"), InvalidInput, 422, "invalid"),
        (EdiSyntaxError("syntax", "no ISA segment"), InvalidInput, 422, "syntax"),
        (SignatureError("no signature matches"), Unauthorized, 401, "bad_signature"),
        (SignatureError("webhook-id too long", 400), Unauthorized, 400, "bad_request"),
        (Forbidden("no"), Forbidden, 403, "forbidden"),
        (NotFound("no shipment 'S'"), NotFound, 404, "not_found"),
        (Conflict("reused id"), Conflict, 409, "conflict"),
        (OdooError("AccessDenied", "wrong key", retryable=False), UpstreamError, 502, None),
        (CarrierRejected("acme", "book", "bad address"), UpstreamError, 502, "upstream"),
        (CarrierResponseError("acme", "track", "no status"), UpstreamError, 502, None),
        (CarrierUnavailable("acme", "rate", "timeout"), Unavailable, 503, "unavailable"),
        (NoCarrierBooked("S-1", {"acme": "down"}), UpstreamError, 502, None),
        (ApiError(415, "unsupported_media_type", "json only"), IntermodalError, 415, None),
    ],
)
def test_to_problem_maps_each_kind_to_its_status(
    error: IntermodalError, base: type[IntermodalError], status: int, code: str | None
) -> None:
    assert isinstance(error, base)
    found = error.to_problem()
    assert found["status"] == status
    assert found["detail"] == str(error)
    assert found["type"] == PROBLEM_TYPE + found["code"]
    assert found["title"] and isinstance(found["title"], str)
    if code is not None:
        assert found["code"] == code


def test_problem_carries_the_error_s_context() -> None:
    carrier = CarrierUnavailable("acme", "book", "timeout after 10s").to_problem()
    assert carrier["carrier"] == "acme" and carrier["operation"] == "book"
    assert carrier["title"] == "Service Unavailable"
    event = EventError([{"loc": "data.milestone", "msg": "unknown milestone"}]).to_problem()
    assert event["problems"] == [{"loc": "data.milestone", "msg": "unknown milestone"}]
    config = ConfigError(["hub.port: too big"]).to_problem()
    assert config["problems"] == ["hub.port: too big"]
    odoo = OdooError("AccessDenied", "wrong key", retryable=False, status=403).to_problem()
    assert odoo["status"] == 502 and odoo["name"] == "AccessDenied"  # Odoo's own status stays out
    api = ApiError(422, "invalid", "bad", [{"loc": "id", "msg": "missing"}]).to_problem()
    assert api["errors"] == [{"loc": "id", "msg": "missing"}]


def test_context_keeps_only_what_json_can_carry() -> None:
    class WithObjects(InvalidInput):
        def __init__(self) -> None:
            super().__init__("bad")
            self.partner = "acme"
            self.when: Any = object()
            self._private = "x"

    found = WithObjects().to_problem()
    assert found["partner"] == "acme"
    assert "when" not in found and "_private" not in found
