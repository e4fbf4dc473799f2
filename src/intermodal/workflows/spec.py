"""Flow files: what they may say, and the loader that checks them.

A flow is data, one YAML file per flow in `workflows/flows/`, so that "what happens when a
proof of delivery arrives?" is answered by reading one file. Each transition reads as a
sentence: *from* these states, *on* this trigger, *when* these conditions hold, *emit*
these commands to these roles, open/close these cases, set/cancel these timers, and go
*to* that state. The words a flow may use (triggers, conditions, commands, roles, case
kinds) are a closed vocabulary defined in Python (`vocabulary.py`), so a typo is an error
at start that names the file, the flow and the field, never a transition that silently
never fires.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from intermodal.errors import ConfigurationError
from intermodal.workflows.vocabulary import (
    CASE_KINDS,
    COMMANDS,
    CONDITIONS,
    ROLES,
    TIMER_ACTIONS,
    is_trigger,
    trigger_names,
)
from intermodal.yaml_loader import UniqueKeyLoader, load_yaml

FLOWS_FOLDER = Path(__file__).parent / "flows"

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Emit(_Strict):
    """One command a transition sends: what (a command builder) to whom (a role)."""

    command: str
    to: Literal["odoo", "tms", "notify", "customs"]
    once: bool = False
    """Once per shipment (the command id ignores the trigger): e.g. the invoice."""

    @field_validator("command")
    @classmethod
    def _known_command(cls, value: str) -> str:
        if value not in COMMANDS:
            raise ValueError(f"unknown command '{value}' (known: {', '.join(sorted(COMMANDS))})")
        return value


class Transition(_Strict):
    name: Name
    from_: list[Name] | None = Field(default=None, alias="from", min_length=1)
    """States this transition leaves (default: any state)."""
    on: Annotated[list[str], Field(min_length=1)]
    when: list[str] = []
    emit: list[Emit] = []
    open_case: str | None = None
    close_cases: list[str] = []
    set_timers: str | None = None
    cancel_timers: str | None = None
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None
    """The case's reason; `{milestone}`, `{reason}`, `{due}` are filled in."""
    to: Name | None = None
    """The state afterwards (default: unchanged)."""

    @field_validator("on")
    @classmethod
    def _known_triggers(cls, values: list[str]) -> list[str]:
        for value in values:
            if not is_trigger(value):
                raise ValueError(f"unknown trigger '{value}' (known: {trigger_names()})")
        return values

    @field_validator("when")
    @classmethod
    def _known_conditions(cls, values: list[str]) -> list[str]:
        for value in values:
            name = value.removeprefix("not ").strip()
            if name not in CONDITIONS:
                known = ", ".join(sorted(CONDITIONS))
                raise ValueError(f"unknown condition '{name}' (known: {known})")
        return values

    @field_validator("open_case")
    @classmethod
    def _known_case(cls, value: str | None) -> str | None:
        if value is not None and value not in CASE_KINDS:
            raise ValueError(f"unknown case kind '{value}' (known: {', '.join(CASE_KINDS)})")
        return value

    @field_validator("close_cases")
    @classmethod
    def _known_cases(cls, values: list[str]) -> list[str]:
        for value in values:
            cls._known_case(value)
        return values

    @field_validator("set_timers", "cancel_timers")
    @classmethod
    def _known_timers(cls, value: str | None) -> str | None:
        if value is not None and value not in TIMER_ACTIONS:
            known = ", ".join(sorted(TIMER_ACTIONS))
            raise ValueError(f"unknown timer set '{value}' (known: {known})")
        return value


class Flow(_Strict):
    flow: Name
    about: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    states: Annotated[list[Name], Field(min_length=1)]
    start: Name
    transitions: Annotated[list[Transition], Field(min_length=1)]

    def check(self) -> list[str]:
        """Problems the field validators cannot see: states named but not declared."""
        problems = []
        states = set(self.states)
        if self.start not in states:
            problems.append(f"start: '{self.start}' is not one of states {self.states}")
        seen: set[str] = set()
        for i, t in enumerate(self.transitions):
            if t.name in seen:
                problems.append(f"transitions.{i}.name: '{t.name}' is used twice")
            seen.add(t.name)
            for j, state in enumerate(t.from_ or []):
                if state not in states:
                    problems.append(f"transitions.{i}.from.{j}: '{state}' is not a state")
            if t.to is not None and t.to not in states:
                problems.append(f"transitions.{i}.to: '{t.to}' is not a state")
        return problems


class FlowError(ConfigurationError, ValueError):
    """A flow file that cannot run: which file, which flow, which field, what is wrong."""


class _FlowLoader(UniqueKeyLoader):
    """YAML 1.1 reads `on`, `off`, `yes` and `no` as booleans; in a flow `on:` is a key."""


_FlowLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_FlowLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), list("tf")
)


def parse_flow(text: str, source: str) -> Flow:
    """One flow file's text -> a checked Flow; FlowError naming file, flow and field."""
    try:
        raw = load_yaml(text, _FlowLoader)
    except yaml.YAMLError as exc:
        raise FlowError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise FlowError(f"{source}: a flow file holds a mapping (flow, about, states, ...)")
    name = raw.get("flow", "?")
    try:
        flow = Flow.model_validate(raw)
    except ValidationError as exc:
        errors = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise FlowError(f"{source}, flow '{name}': {errors}") from None
    if problems := flow.check():
        raise FlowError(f"{source}, flow '{name}': {'; '.join(problems)}")
    return flow


def load_folder(folder: Path) -> dict[str, Flow]:
    """Every `*.yaml` in the folder, by flow name, in file-name order."""
    flows: dict[str, Flow] = {}
    for path in sorted(folder.glob("*.yaml")):
        flow = parse_flow(path.read_text(encoding="utf-8"), path.name)
        if flow.flow in flows:
            raise FlowError(f"{path.name}: flow '{flow.flow}' is defined twice")
        flows[flow.flow] = flow
    return flows


@cache
def load_flows() -> dict[str, Flow]:
    """The flows shipped with the hub (checked once per process)."""
    return load_folder(FLOWS_FOLDER)


__all__ = ["ROLES", "Emit", "Flow", "FlowError", "Transition", "load_flows", "parse_flow"]
