"""The connector's chatter and document follow-ups against the Odoo test server, on JSON-2
(Odoo 19) and JSON-RPC (Odoo 18), each replayed as the dispatcher would after a crash.

- Notes go through `message_post` (addons/mail/models/mail_thread.py), never as raw
  `mail.message` rows: Odoo sets the author and notifies the note's followers.
- Activities name their model as `activity_schedule` does (mail_activity_mixin.py:
  `ir.model._get(model)`), for any model.
- `intermodal.odoo.activity.done` marks activities done with
  `mail.activity.action_feedback` (mail_activity.py); a gone activity is a done one.
- `intermodal.odoo.attachment.create` attaches a file (odoo/addons/base/models/
  ir_attachment.py), once per record, name and content.
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio
from hypothesis import given, settings
from hypothesis import strategies as st

from intermodal.connectors.odoo.mappings import ir_attachment, ops_for
from intermodal.connectors.odoo.ops import (
    ActivitiesDone,
    Activity,
    Attach,
    OdooMappingError,
    PickingsOf,
    Ref,
)
from intermodal.connectors.odoo.sink import OdooSink
from intermodal.connectors.odoo.writer import Work
from intermodal.outbox.sinks import ClaimedCommand
from intermodal_sim.odoo.testing import RunningSim
from tests.connectors.odoo.helpers import command, endpoint, milestone, order, replayed

DONE = "intermodal.odoo.activity.done"
ATTACH = "intermodal.odoo.attachment.create"
PDF = b"%PDF-1.4\n% proof of delivery\n%%EOF\n"


@pytest_asyncio.fixture
async def sink(served: tuple[RunningSim, str]) -> AsyncIterator[OdooSink]:
    sim, protocol = served
    async with httpx.AsyncClient() as http:
        # Every milestone noted: these tests are about how a note is posted, not which.
        yield OdooSink(endpoint(sim, protocol, note_milestones=None), http)


async def ok(sink: OdooSink, commands: list[ClaimedCommand]) -> None:
    results = await sink.write(commands)
    assert [r.error for r in results if not r.ok] == []


async def read(sink: OdooSink, model: str, domain: list[Any], fields: list[str]) -> list[Any]:
    return list(
        await sink.client.call(model, "search_read", domain=domain, fields=fields, order="id asc")
    )


async def order_id(sink: OdooSink, key: str) -> int:
    (found,) = await sink.client.call(
        "sale.order", "search", domain=[["client_order_ref", "=", key]]
    )
    return int(found)


async def chatter(sink: OdooSink, order: int, subtype: str) -> list[Any]:
    return await read(
        sink,
        "mail.message",
        [["model", "=", "sale.order"], ["res_id", "=", order], ["subtype_id.name", "=", subtype]],
        ["body", "message_type", "author_id", "notification_ids"],
    )


# -- notes ----------------------------------------------------------------------------------
async def test_notes_are_posted_with_message_post_once(
    sink: OdooSink, served: tuple[RunningSim, str]
) -> None:
    sim, _ = served
    await ok(sink, [order("NOTE-1")])
    oid = await order_id(sink, "NOTE-1")
    (demo,) = await sink.client.call(
        "res.users", "search_read", domain=[["login", "=", "demo"]], fields=["partner_id"]
    )
    note_subtype = await sink.client.call(
        "ir.model.data", "check_object_reference", module="mail", xml_id="mt_note"
    )
    await sink.client.call(
        "sale.order",
        "message_subscribe",
        [oid],
        partner_ids=[demo["partner_id"][0]],
        subtype_ids=[note_subtype[1]],
    )
    sim.server.reset_counts()
    # Two milestones for one order in one flush: one message_post, one chatter message.
    batch = [
        milestone("NOTE-1", "picked_up", tracking_number="TRK-N1"),
        milestone("NOTE-1", "in_transit", "2026-11-23T12:00:00Z"),
    ]
    await ok(sink, batch)
    await ok(sink, [replayed(c) for c in batch])
    calls = sim.server.call_counts()["calls"]
    assert all(
        "mail.message" not in by_model or "create" not in by_model["mail.message"]
        for by_model in calls.values()
    )
    (note,) = await chatter(sink, oid, "Notes")
    assert note["message_type"] == "comment" and note["author_id"][1] == "Mitchell Admin"
    assert "<b>NOTE-1</b>: Picked up" in note["body"]  # HTML kept (body_is_html)
    assert "In transit" in note["body"]
    for c in batch:
        assert f"intermodal:{c.command_id}" in note["body"]
    # Odoo notified the follower of notes; the hub's own user did not start following.
    notified = await read(
        sink, "mail.notification", [["mail_message_id", "=", note["id"]]], ["res_partner_id"]
    )
    assert [n["res_partner_id"][0] for n in notified] == [demo["partner_id"][0]]
    followers = await read(
        sink,
        "mail.followers",
        [["res_model", "=", "sale.order"], ["res_id", "=", oid]],
        ["partner_id"],
    )
    assert [f["partner_id"][0] for f in followers] == [demo["partner_id"][0]]


# -- activities -----------------------------------------------------------------------------
async def test_an_activity_names_its_model_as_activity_schedule_does(sink: OdooSink) -> None:
    """Any model (a partner here), not only orders: res_model_id is ir.model's id."""
    await ok(
        sink,
        [
            command(
                "intermodal.odoo.partner.upsert",
                "parties",
                {"role": "customer", "name": "Act Partner", "reference": "ACT-P"},
            )
        ],
    )
    work = Work(
        [
            Activity(
                Ref("res.partner", "ref", "ACT-P"),
                "Check the VAT number",
                "",
                "cmd_act_partner",
                deadline="2026-12-01",
            )
        ]
    )
    await sink.writer.execute([work])
    assert work.outcome.ok, work.outcome.error
    (activity,) = await read(
        sink,
        "mail.activity",
        [["summary", "=", "Check the VAT number"]],
        ["res_model_id", "res_model", "automated", "activity_type_id"],
    )
    (model,) = await sink.client.call("ir.model", "search", domain=[["model", "=", "res.partner"]])
    assert activity["res_model_id"][0] == model and activity["res_model"] == "res.partner"
    assert activity["automated"] is True and activity["activity_type_id"][1] == "To-Do"


async def test_a_closed_cases_activities_are_marked_done_once(sink: OdooSink) -> None:
    await ok(sink, [order("DONE-1")])
    oid = await order_id(sink, "DONE-1")
    failed = milestone("DONE-1", "delivery_failed", reason="Nobody at the door")
    todo = command(
        "intermodal.odoo.activity.create",
        "DONE-1",
        {"summary": "Shipment DONE-1: call the consignee", "deadline": "2026-11-24"},
    )
    other = command(
        "intermodal.odoo.activity.create",
        "DONE-1",
        {"summary": "Shipment DONE-1: unrelated", "deadline": "2026-11-24"},
    )
    await ok(sink, [failed, todo, other])
    assert len(await read(sink, "mail.activity", [["res_id", "=", oid]], ["id"])) == 3
    done = command(
        DONE,
        "DONE-1",
        {
            "markers": [failed.command_id, todo.command_id, "cmd_never_sent"],
            "feedback": "Redelivered: delivered reported by carrier-x at 2026-11-24 09:00 UTC.",
        },
    )
    await ok(sink, [done])
    await ok(sink, [replayed(done)])
    left = await read(sink, "mail.activity", [["res_id", "=", oid]], ["summary"])
    assert [a["summary"] for a in left] == ["Shipment DONE-1: unrelated"]
    messages = await chatter(sink, oid, "Activities")
    assert len(messages) == 2
    assert all("Redelivered: delivered reported by carrier-x" in m["body"] for m in messages)
    assert any("call the consignee" in m["body"] for m in messages)


async def test_an_activity_done_by_someone_in_odoo_counts_as_done(sink: OdooSink) -> None:
    await ok(sink, [order("DONE-2")])
    todo = command(
        "intermodal.odoo.activity.create",
        "DONE-2",
        {"summary": "Shipment DONE-2: late", "deadline": "2026-11-24"},
    )
    await ok(sink, [todo])
    (activity,) = await read(
        sink, "mail.activity", [["summary", "=", "Shipment DONE-2: late"]], ["id"]
    )
    await sink.client.call("mail.activity", "action_done", [activity["id"]])
    await ok(sink, [command(DONE, "DONE-2", {"markers": [todo.command_id]})])
    # ... and so is an order Odoo does not have: nothing can be open there.
    await ok(sink, [command(DONE, "NO-SUCH-ORDER", {"markers": [todo.command_id]})])


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({}, "markers: Field required"),
        ({"markers": []}, "markers: List should have at least 1"),
        ({"markers": ["a b"]}, "markers.0: String should match pattern"),
        ({"markers": [f"m{i}" for i in range(51)]}, "markers: List should have at most 50"),
        ({"markers": ["m"], "feedback": "x\x00y"}, "feedback: String should match pattern"),
        ({"markers": ["m"], "feedback": "x" * 4001}, "feedback: String should have at most"),
        ({"markers": ["m"], "model": "res.partner"}, "model: Extra inputs"),
    ],
)
def test_bad_done_commands_are_mapping_errors(data: dict[str, Any], problem: str) -> None:
    with pytest.raises(OdooMappingError, match=problem):
        ops_for(command(DONE, "DONE-3", data).payload, None)


_VALUES = st.one_of(
    st.text(max_size=30),
    st.integers(-(2**63), 2**63 - 1),
    st.none(),
    st.lists(st.text(max_size=10), max_size=3),
)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["markers", "feedback", "x"]), _VALUES))
def test_any_done_data_is_an_op_or_a_mapping_error(data: dict[str, Any]) -> None:
    try:
        ops = ops_for(command(DONE, "DONE-4", data).payload, None)
    except OdooMappingError:
        return
    assert len(ops) == 1 and isinstance(ops[0], ActivitiesDone) and ops[0].markers


# -- attachments ----------------------------------------------------------------------------
def attach(subject: str, model: str, **data: Any) -> ClaimedCommand:
    body = {
        "model": model,
        "name": "POD.pdf",
        "content_base64": base64.b64encode(PDF).decode(),
        **data,
    }
    return command(ATTACH, subject, body)


async def test_a_document_is_attached_once_to_the_record_it_names(sink: OdooSink) -> None:
    await ok(sink, [order("ATT-1")])
    oid = await order_id(sink, "ATT-1")
    (picking,) = await read(sink, "stock.picking", [["sale_id", "=", oid]], ["name"])
    to_order = attach("ATT-1", "sale.order", description="Signed by J. Doe")
    to_deliveries = attach("ATT-1", "stock.picking")  # every delivery of the shipment
    by_name = attach(
        "ATT-1",
        "stock.picking",
        reference=picking["name"],
        name="photo.png",
        content_base64=base64.b64encode(b"\x89PNG\r\n\x1a\nimg").decode(),
    )
    await ok(sink, [to_order, to_deliveries, by_name, attach("ATT-1", "sale.order")])
    await ok(sink, [replayed(c) for c in (to_order, to_deliveries, by_name)])
    await ok(sink, [attach("ATT-1", "sale.order")])  # the same file by yet another command
    on_order = await read(
        sink,
        "ir.attachment",
        [["res_model", "=", "sale.order"], ["res_id", "=", oid]],
        ["name", "mimetype", "datas", "description", "file_size"],
    )
    assert [(a["name"], a["mimetype"], a["description"]) for a in on_order] == [
        ("POD.pdf", "application/pdf", "Signed by J. Doe")
    ]
    assert base64.b64decode(on_order[0]["datas"]) == PDF
    on_picking = await read(
        sink,
        "ir.attachment",
        [["res_model", "=", "stock.picking"], ["res_id", "=", picking["id"]]],
        ["name", "mimetype"],
    )
    assert sorted((a["name"], a["mimetype"]) for a in on_picking) == [
        ("POD.pdf", "application/pdf"),
        ("photo.png", "image/png"),
    ]


async def test_a_file_for_the_deliveries_of_an_order_of_services_goes_on_the_order(
    sink: OdooSink,
) -> None:
    """sale_stock makes no delivery for services: the proof waits for none (which would hold
    back the shipment's later commands) and lands on the confirmed order itself."""
    services = order("ATT-S", lines=[{"product": "FCL40", "quantity": 1, "price_unit": "900"}])
    await ok(sink, [services])
    oid = await order_id(sink, "ATT-S")
    assert await read(sink, "stock.picking", [["sale_id", "=", oid]], ["name"]) == []
    await ok(sink, [attach("ATT-S", "stock.picking")])
    on_order = await read(
        sink, "ir.attachment", [["res_model", "=", "sale.order"], ["res_id", "=", oid]], ["name"]
    )
    assert [a["name"] for a in on_order] == ["POD.pdf"]


async def test_a_document_for_a_record_odoo_does_not_have_waits(sink: OdooSink) -> None:
    (result,) = await sink.write([attach("ATT-2", "account.move", reference="INV-NOT-YET")])
    assert not result.ok and result.retryable


async def test_attaching_without_write_access_is_odoos_refusal(
    served: tuple[RunningSim, str],
) -> None:
    """The demo user may read invoices but not write them: Odoo refuses the attachment."""
    sim, protocol = served
    os.environ["DEMO_ODOO_KEY"] = "demo-api-key"
    async with httpx.AsyncClient() as http:
        admin = OdooSink(endpoint(sim, protocol), http)
        await ok(
            admin,
            [
                command(
                    "intermodal.odoo.invoice.create",
                    "ATT-3",
                    {
                        "reference": "ATT-3",
                        "currency": "USD",
                        "customer": {"role": "customer", "name": "Att Co", "reference": "ATT-CO"},
                        "charges": [
                            {
                                "code": "FRT",
                                "kind": "freight",
                                "status": "final",
                                "amount": {"amount": "10", "currency": "USD"},
                            }
                        ],
                    },
                )
            ],
        )
        demo = OdooSink(endpoint(sim, protocol, api_key="env:DEMO_ODOO_KEY", login="demo"), http)
        (result,) = await demo.write([attach("ATT-3", "account.move", reference="ATT-3")])
    assert not result.ok and not result.retryable
    assert "odoo.exceptions.AccessError" in str(result.error)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"model": "res.users"}, "model: Input should be"),
        ({"name": "../etc/passwd"}, "name: String should match pattern"),
        ({"name": ""}, "name: String should have at least 1"),
        ({"mimetype": "pdf"}, "mimetype: String should match pattern"),
        ({"content_base64": "not base64!"}, "content_base64: not valid base64"),
        ({"content_base64": "===="}, "content_base64: not valid base64"),
        ({"content_base64": "  "}, "content_base64: the file is empty"),
        ({"model": "account.move"}, "reference: required for account.move"),
        ({"model": "res.partner"}, "reference: required for res.partner"),
        ({"reference": "has space"}, "reference: String should match pattern"),
        ({"res_id": 7}, "res_id: Extra inputs"),
    ],
)
def test_bad_attachment_commands_are_mapping_errors(data: dict[str, Any], problem: str) -> None:
    body = {"model": "sale.order", "name": "POD.pdf", "content_base64": "JVBERg==", **data}
    with pytest.raises(OdooMappingError, match=problem):
        ops_for(command(ATTACH, "ATT-4", body).payload, None)


def test_an_attachment_over_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ir_attachment, "MAX_BYTES", 8)
    body = {
        "model": "sale.order",
        "name": "big.bin",
        "content_base64": base64.b64encode(b"123456789").decode(),
    }
    with pytest.raises(OdooMappingError, match="9 bytes, more than 8"):
        ops_for(command(ATTACH, "ATT-5", body).payload, None)


def test_line_broken_base64_is_read_and_targets_follow_the_model() -> None:
    encoded = base64.encodebytes(PDF * 5).decode()  # MIME style: a line break every 76
    (op,) = ops_for(
        command(
            ATTACH, "ATT-6", {"model": "stock.picking", "name": "p.pdf", "content_base64": encoded}
        ).payload,
        None,
    )
    assert isinstance(op, Attach) and op.content == PDF * 5
    assert op.target == PickingsOf(Ref("sale.order", "client_order_ref", "ATT-6", alt_field="name"))


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["model", "reference", "name", "mimetype", "content_base64", "x"]),
        st.one_of(
            st.sampled_from(["sale.order", "stock.picking", "account.move", "JVBERg=="]),
            st.text(max_size=20),
            st.integers(-(2**63), 2**63 - 1),
            st.none(),
        ),
    )
)
def test_any_attachment_data_is_an_op_or_a_mapping_error(data: dict[str, Any]) -> None:
    payload = orjson.dumps(
        {
            "specversion": "1.0",
            "id": "cmd_a",
            "source": "intermodal",
            "type": ATTACH,
            "subject": "ATT-7",
            "data": data,
        }
    )
    try:
        ops = ops_for(payload, None)
    except OdooMappingError:
        return
    assert len(ops) == 1 and isinstance(ops[0], Attach) and ops[0].content


def test_attachment_data_is_the_commands_data_checked() -> None:
    data = ir_attachment.attachment_data(
        "stock.picking", "POD.pdf", PDF, mimetype="application/pdf"
    )
    (op,) = ops_for(command(ATTACH, "ATT-8", data).payload, None)
    assert isinstance(op, Attach) and op.content == PDF and op.mimetype == "application/pdf"
    for args, problem in (
        (("account.move", "x.pdf", PDF), "reference: required for account.move"),
        (("sale.order", "a/b.pdf", PDF), "name: String should match pattern"),
        (("sale.order", "x.pdf", b""), "content_base64: String should have at least 1"),
    ):
        with pytest.raises(OdooMappingError, match=problem):
            ir_attachment.attachment_data(*args)
