"""Flow files: the shipped ones load; broken ones fail naming file, flow and field; the
documentation is generated from them and a stale docs/flows.md fails here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from intermodal.cli import app
from intermodal.config import ConfigError, load_config
from intermodal.workflows.docs import mermaid, render
from intermodal.workflows.spec import FlowError, load_flows, parse_flow

DOCS = Path(__file__).parents[2] / "docs" / "flows.md"
GOOD = """
flow: demo
about: A small flow.
states: [a, b]
start: a
transitions:
  - name: go
    from: [a]
    on: [milestone.delivered]
    when: [pod, not customs_held]
    emit: [{command: invoice, to: odoo, once: true}]
    to: b
"""


def test_the_shipped_flows_load() -> None:
    flows = load_flows()
    assert set(flows) == {
        "order_intake", "execution", "customs", "billing", "exceptions", "sla", "documents"
    }  # fmt: skip
    assert parse_flow(GOOD, "demo.yaml").transitions[0].from_ == ["a"]


def test_docs_flows_md_is_generated_from_the_flow_files() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert render(text) == text, "docs/flows.md is stale: run `intermodal flows docs --write`"
    for flow in load_flows().values():
        assert mermaid(flow) in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("on", ["milestone.teleported"]), "transitions.0.on: Value error, unknown trigger"),
        (("when", ["pod", "sunny"]), "unknown condition 'sunny'"),
        (("emit", [{"command": "fax", "to": "odoo"}]), "unknown command 'fax'"),
        (("emit", [{"command": "invoice", "to": "printer"}]), "transitions.0.emit.0.to"),
        (("to", "c"), "transitions.0.to: 'c' is not a state"),
        (("from", ["z"]), "transitions.0.from.0: 'z' is not a state"),
        (("open_case", "bad_weather"), "unknown case kind 'bad_weather'"),
        (("set_timers", "hourly"), "unknown timer set 'hourly'"),
        (("colour", "red"), "transitions.0.colour: Extra inputs are not permitted"),
    ],
)
def test_a_broken_flow_names_file_flow_and_field(change: tuple[str, Any], message: str) -> None:
    raw = yaml.safe_load(GOOD.replace("on:", "'on':"))
    raw["transitions"][0][change[0]] = change[1]
    with pytest.raises(FlowError) as err:
        parse_flow(yaml.safe_dump(raw), "broken.yaml")
    assert str(err.value).startswith("broken.yaml, flow 'demo': ")
    assert message in str(err.value)


def test_yaml_booleans_do_not_eat_the_on_key() -> None:
    """YAML 1.1 reads a bare `on` as true; flow files are read so that it stays a key."""
    assert parse_flow(GOOD, "demo.yaml").transitions[0].on == ["milestone.delivered"]
    with pytest.raises(FlowError, match="not valid YAML"):
        parse_flow("flow: [", "bad.yaml")
    with pytest.raises(FlowError, match="holds a mapping"):
        parse_flow("- 1", "list.yaml")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_a_flow_or_a_flow_error(text: str) -> None:
    try:
        parse_flow(text, "fuzz.yaml")
    except FlowError as exc:
        assert str(exc).startswith("fuzz.yaml")


def test_config_problems_name_the_workflows_key(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "endpoints": {"hooks": {"url": "http://127.0.0.1:9/x"}},
                "workflows": {
                    "roles": {"odoo": "hooks", "tms": "nowhere", "tms_mode": "x12"},
                    "flows": ["billing", "payroll"],
                    "default_service_level": "gold",
                    "service_levels": {"express": {"expected": {"delivered": "2 weeks"}}},
                },
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "workflows.service_levels.express.expected.delivered" in str(err.value)
    fixed = yaml.safe_load(path.read_text())
    fixed["workflows"]["service_levels"]["express"]["expected"]["delivered"] = "2d"
    path.write_text(yaml.safe_dump(fixed), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    problems = err.value.problems
    assert "workflows.roles.odoo: 'hooks' is a webhook endpoint; the odoo role writes to Odoo" in (
        problems
    )
    assert "workflows.roles.tms: no endpoint named 'nowhere'" in problems
    assert any(p.startswith("workflows.flows.1: no flow named 'payroll'") for p in problems)
    assert any(p.startswith("workflows.default_service_level: 'gold'") for p in problems)


def test_cli_lists_checks_and_draws(tmp_path: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["flows", "list"])
    assert listed.exit_code == 0 and "billing: states open, held, invoiced" in listed.output
    drawn = runner.invoke(app, ["flows", "diagram", "billing"])
    assert drawn.exit_code == 0 and "open --> invoiced : invoice" in drawn.output
    assert runner.invoke(app, ["flows", "diagram", "nope"]).exit_code == 1
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD, encoding="utf-8")
    bad.write_text(GOOD.replace("to: b", "to: c"), encoding="utf-8")
    checked = runner.invoke(app, ["flows", "check", str(good), str(bad)])
    assert checked.exit_code == 1
    assert "good.yaml: flow 'demo' ok" in checked.output
    assert "bad.yaml, flow 'demo': transitions.0.to: 'c' is not a state" in checked.output


def test_the_documented_workflows_example_is_valid() -> None:
    """docs/configuration.md's `workflows` example and examples/intermodal.yaml's commented
    one parse as the configuration the hub reads."""
    from intermodal.config import WorkflowsConfig

    text = (DOCS.parent / "configuration.md").read_text(encoding="utf-8")
    block = text.split("## `workflows`", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    documented = WorkflowsConfig.model_validate(yaml.safe_load(block)["workflows"])
    assert documented.billing.partner_tolerance_percent == {"ridgeline": 5.0}
    assert documented.service_levels["express"].expected["picked_up"] == 4 * 3600
    example = (DOCS.parents[1] / "examples" / "intermodal.yaml").read_text(encoding="utf-8")
    lines = example.split("# workflows:", 1)[1].splitlines()
    commented = "\n".join(line[2:] for line in lines if line.startswith("#"))
    assert WorkflowsConfig.model_validate(yaml.safe_load(commented)).roles.odoo == "odoo"


def test_a_broken_flow_file_stops_the_hub_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`intermodal serve` loads the configuration first: a flow file that does not check
    is a configuration problem naming the file, the flow and the field."""
    import intermodal.workflows.spec as spec

    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "billing.yaml").write_text(GOOD.replace("when: [pod", "when: [paid"), "utf-8")
    monkeypatch.setattr(spec, "FLOWS_FOLDER", flows)
    spec.load_flows.cache_clear()
    try:
        config = tmp_path / "hub.yaml"
        config.write_text(yaml.safe_dump({"workflows": {}}), encoding="utf-8")
        with pytest.raises(ConfigError) as err:
            load_config(config)
        (problem,) = err.value.problems
        assert problem.startswith(
            "workflows: billing.yaml, flow 'demo': transitions.0.when: Value error, unknown"
            " condition 'paid'"
        )
        served = CliRunner().invoke(app, ["serve", "--config", str(config)])
        assert served.exit_code != 0 and "unknown condition 'paid'" in served.output
    finally:
        spec.load_flows.cache_clear()


def test_serve_says_which_flows_run(tmp_path: Path, sqlite_url: str) -> None:
    import os
    import subprocess
    import sys

    from intermodal_sim.testing import free_port

    cases: list[tuple[Any, str]] = [
        (None, "flows: off (no workflows: section)"),
        ({"flows": ["billing", "sla"]}, "flows: billing, sla"),
    ]
    for workflows, expected in cases:
        config: dict[str, Any] = {"hub": {"database": sqlite_url, "port": free_port()}}
        if workflows is not None:
            config["workflows"] = workflows
        path = tmp_path / "hub.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        process = subprocess.Popen(
            [sys.executable, "-m", "intermodal.cli", "serve", "--config", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert "intermodal listening" in line and expected in line, line
        finally:
            process.terminate()
            process.wait(timeout=20)


def test_docs_name_every_word_of_the_vocabulary() -> None:
    from intermodal.workflows.vocabulary import (
        CASE_TRIGGERS,
        COMMANDS,
        CONDITIONS,
        DOCUMENT_TRIGGERS,
        MESSAGE_TRIGGERS,
        TIMER_ACTIONS,
        TIMER_TRIGGERS,
    )

    text = DOCS.read_text(encoding="utf-8").split("## The flows")[0]
    words = [*CONDITIONS, *COMMANDS, *TIMER_ACTIONS, *DOCUMENT_TRIGGERS, *MESSAGE_TRIGGERS,
             *TIMER_TRIGGERS, *CASE_TRIGGERS]  # fmt: skip
    assert [w for w in words if f"`{w}`" not in text] == []
