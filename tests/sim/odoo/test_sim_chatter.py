"""The chatter of the Odoo test server as Odoo 19 behaves, over JSON-2 (and JSON-RPC on 18).

Imitated, all odoo/odoo: addons/mail/models/mail_thread.py `message_post` (escaping,
refused parameters, default subtype, author follows a comment), `message_subscribe`,
`_notify_thread` with mail_followers.py `_get_recipient_data` (who a note or a message
notifies); addons/mail/models/mail_activity_mixin.py `activity_schedule`;
addons/mail/models/mail_activity.py `create` (the assignee follows; write access on the
document), `action_feedback`, `action_done`, `_action_done` (the done message, delete or
archive) and addons/mail/data/mail_templates_chatter.xml `message_activity_done`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from intermodal_sim.odoo.testing import RunningSim, running_sim

DEMO_KEY = "demo-api-key"  # Marc Demo: employee, salesman, stock user; no accounting rights


def ok(json2: Callable[..., httpx.Response], model: str, method: str, **body: Any) -> Any:
    response = json2(model, method, **body)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def order(json2: Callable[..., httpx.Response]) -> int:
    """A fresh quotation for Deco Addict, so each test reads only its own chatter."""
    (partner,) = ok(json2, "res.partner", "search", domain=[["name", "=", "Deco Addict"]])
    return int(ok(json2, "sale.order", "create", vals_list=[{"partner_id": partner}])[0])


def messages(json2: Callable[..., httpx.Response], order: int, **extra: Any) -> list[Any]:
    return list(
        ok(
            json2,
            "mail.message",
            "search_read",
            domain=[["model", "=", "sale.order"], ["res_id", "=", order]],
            fields=[
                "body",
                "subtype_id",
                "author_id",
                "message_type",
                "record_name",
                "mail_activity_type_id",
                "partner_ids",
                "notification_ids",
            ],
            order="id asc",
            **extra,
        )
    )


def partner_of(json2: Callable[..., httpx.Response], login: str) -> int:
    (user,) = ok(
        json2, "res.users", "search_read", domain=[["login", "=", login]], fields=["partner_id"]
    )
    return int(user["partner_id"][0])


def test_a_plain_string_body_is_escaped_and_html_is_kept_when_asked(
    json2: Callable[..., httpx.Response], order: int
) -> None:
    """message_post: `'body': escape(body)` unless `body_is_html`; the subtype defaults to
    mail.mt_note; 19's call_kw returns `.ids` (no @api.returns any more)."""
    first = ok(json2, "sale.order", "message_post", ids=[order], body="<b>5 > 4</b>")
    second = ok(
        json2,
        "sale.order",
        "message_post",
        ids=[order],
        body="<b>bold</b>",
        body_is_html=True,
        message_type="comment",
    )
    assert isinstance(first, list) and len(first) == 1 and isinstance(second, list)
    plain, html = messages(json2, order)
    assert plain["body"] == "&lt;b&gt;5 &gt; 4&lt;/b&gt;"
    assert html["body"] == "<b>bold</b>"
    assert plain["subtype_id"][1] == "Notes" and plain["message_type"] == "notification"
    assert plain["author_id"][1] == "Mitchell Admin"
    assert plain["record_name"].startswith("S")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"body": "x", "res_id": 1}, "Those values are not supported when posting or notifying"),
        (
            {"body": "x", "res_id": 1, "subtype": "x"},
            "not supported when posting or notifying: res_id, subtype",
        ),
        ({"body": "x", "message_type": "user_notification"}, "Use message_notify"),
        ({"body": "x", "partner_ids": ["3"]}, "should receive partners as a list of IDs"),
        ({"body": "x", "attachment_ids": [[4, 1]]}, "attachments records as a list of IDs"),
        ({"body": "x", "subtype_xmlid": "mail.mt_nothing"}, "External ID not found"),
    ],
)
def test_message_post_refuses_what_odoo_refuses(
    json2: Callable[..., httpx.Response],
    http: httpx.Client,
    sim: RunningSim,
    order: int,
    body: dict[str, Any],
    message: str,
) -> None:
    """mail_thread.py message_post: `_raise_for_invalid_parameters(forbidden_names={'model',
    'res_id', 'subtype'})` and its ValueErrors; nothing is posted."""
    response = http.post(
        "/json/2/sale.order/message_post",
        json={"ids": [order], **body},
        headers={"Authorization": f"bearer {sim.api_key}", "X-Odoo-Database": sim.db},
    )
    assert response.status_code == 500, response.text
    assert response.json()["name"] == "builtins.ValueError"
    assert message in response.json()["message"]
    assert messages(json2, order) == []


def test_message_post_is_one_record_at_a_time(
    json2: Callable[..., httpx.Response], order: int
) -> None:
    """message_post starts with `self.ensure_one()`."""
    response = json2("sale.order", "message_post", ids=[order, order + 1], body="x")
    assert response.status_code == 500 and "Expected singleton" in response.json()["message"]


def test_followers_of_the_subtype_are_notified_and_the_author_is_not(
    json2: Callable[..., httpx.Response], order: int
) -> None:
    """_notify_thread / _get_recipient_data: the named partners, and the followers of the
    message's subtype (for an internal subtype, only internal users); never the author.
    message_subscribe without subtypes gives the default ones (mt_comment: default)."""
    demo = partner_of(json2, "demo")
    (customer,) = ok(json2, "res.partner", "search", domain=[["name", "=", "Gemini Furniture"]])
    notes = ok(json2, "ir.model.data", "check_object_reference", module="mail", xml_id="mt_note")
    comment = ok(
        json2, "ir.model.data", "check_object_reference", module="mail", xml_id="mt_comment"
    )
    assert (
        ok(
            json2,
            "sale.order",
            "message_subscribe",
            ids=[order],
            partner_ids=[demo],
            subtype_ids=[notes[1], comment[1]],
        )
        is True
    )
    ok(json2, "sale.order", "message_subscribe", ids=[order], partner_ids=[customer])
    followers = ok(
        json2,
        "mail.followers",
        "search_read",
        domain=[["res_model", "=", "sale.order"], ["res_id", "=", order]],
        fields=["partner_id", "subtype_ids"],
    )
    assert {f["partner_id"][0]: f["subtype_ids"] for f in followers} == {
        demo: sorted([notes[1], comment[1]]),
        customer: [comment[1]],
    }
    ok(
        json2,
        "sale.order",
        "message_post",
        ids=[order],
        body="internal",
        message_type="comment",
        subtype_xmlid="mail.mt_note",
    )
    ok(
        json2,
        "sale.order",
        "message_post",
        ids=[order],
        body="to all",
        message_type="comment",
        subtype_xmlid="mail.mt_comment",
    )
    ok(
        json2,
        "sale.order",
        "message_post",
        ids=[order],
        body="mention",
        partner_ids=[customer],
        subtype_xmlid="mail.mt_note",
    )
    note, message, mention = messages(json2, order)

    def notified(msg: dict[str, Any]) -> list[int]:
        rows = ok(
            json2,
            "mail.notification",
            "search_read",
            domain=[["mail_message_id", "=", msg["id"]]],
            fields=["res_partner_id"],
        )
        return sorted(r["res_partner_id"][0] for r in rows)

    assert notified(note) == [demo]  # the customer does not follow notes (nor could it)
    assert notified(message) == sorted([demo, customer])
    assert notified(mention) == sorted([demo, customer])  # named partners always


def test_a_comment_makes_its_author_follow_unless_told_not_to(
    json2: Callable[..., httpx.Response], order: int
) -> None:
    """message_post subscribes the (internal) author of a manual post, unless the context
    says `mail_post_autofollow_author_skip` or the message is a notification."""
    admin = partner_of(json2, "admin")

    def followers() -> list[int]:
        rows = ok(
            json2,
            "mail.followers",
            "search_read",
            domain=[["res_model", "=", "sale.order"], ["res_id", "=", order]],
            fields=["partner_id"],
        )
        return [r["partner_id"][0] for r in rows]

    ok(
        json2,
        "sale.order",
        "message_post",
        ids=[order],
        body="x",
        message_type="comment",
        context={"mail_post_autofollow_author_skip": True},
    )
    ok(json2, "sale.order", "message_post", ids=[order], body="y")  # a notification
    assert followers() == []
    ok(json2, "sale.order", "message_post", ids=[order], body="z", message_type="comment")
    assert followers() == [admin]


def test_activity_schedule_names_the_model_of_the_record(
    json2: Callable[..., httpx.Response],
) -> None:
    """activity_schedule: res_model_id = ir.model._get(self._name), `automated`, the to-do
    type by default; mail.activity create makes the assignee follow the record."""
    (partner,) = ok(json2, "res.partner", "search", domain=[["name", "=", "Gemini Furniture"]])
    (product,) = ok(json2, "product.product", "search", domain=[["default_code", "=", "CRATE"]])
    (order,) = ok(
        json2,
        "sale.order",
        "create",
        vals_list=[{"partner_id": partner, "order_line": [[0, 0, {"product_id": product}]]}],
    )
    ok(json2, "sale.order", "action_confirm", ids=[order])
    (picking,) = ok(json2, "stock.picking", "search", domain=[["sale_id", "=", order]])
    for model, rid in (("stock.picking", picking), ("res.partner", partner)):
        ids = ok(
            json2,
            model,
            "activity_schedule",
            ids=[rid],
            summary=f"check {model}",
            date_deadline="2026-12-01",
        )
        (activity,) = ok(
            json2,
            "mail.activity",
            "read",
            ids=ids,
            fields=[
                "res_model_id",
                "res_model",
                "res_id",
                "automated",
                "activity_type_id",
                "date_deadline",
            ],
        )
        (ir_model,) = ok(json2, "ir.model", "search", domain=[["model", "=", model]])
        assert activity["res_model_id"][0] == ir_model and activity["res_model"] == model
        assert (activity["res_id"], activity["automated"]) == (rid, True)
        assert activity["activity_type_id"][1] == "To-Do"
        followers = ok(
            json2,
            "mail.followers",
            "search_count",
            domain=[["res_model", "=", model], ["res_id", "=", rid]],
        )
        assert followers == 1


def test_action_feedback_posts_the_done_message_and_deletes_the_activity(
    json2: Callable[..., httpx.Response], order: int
) -> None:
    """action_feedback returns the first message's id; _action_done posts
    message_activity_done (subtype mail.mt_activities, mail_activity_type_id, the feedback
    escaped line by line) and unlinks the activity: a second call finds it gone."""
    (activity,) = ok(
        json2,
        "sale.order",
        "activity_schedule",
        ids=[order],
        summary="Call the consignee",
        note="<p>Door code 1234</p>",
    )
    message = ok(
        json2,
        "mail.activity",
        "action_feedback",
        ids=[activity],
        feedback="Reached <them>\nRedelivery booked",
    )
    assert isinstance(message, int)
    (done,) = messages(json2, order)
    assert done["id"] == message and done["subtype_id"][1] == "Activities"
    assert done["mail_activity_type_id"][1] == "To-Do" and done["message_type"] == "notification"
    assert "<span>Call the consignee</span>" in done["body"]
    assert "<p>Door code 1234</p>" in done["body"]
    assert "Reached &lt;them&gt;<br>Redelivery booked" in done["body"]
    assert ok(json2, "mail.activity", "search", domain=[["id", "=", activity]]) == []
    again = json2("mail.activity", "action_feedback", ids=[activity], feedback="again")
    assert again.status_code == 404
    assert again.json()["name"] == "odoo.exceptions.MissingError"
    assert len(messages(json2, order)) == 1


def test_a_type_that_keeps_done_activities_archives_them(
    json2: Callable[..., httpx.Response], order: int
) -> None:
    """_action_done archives (`action_archive`, `date_done`) the activities of a type with
    `keep_done`; action_done then skips them (`filtered(lambda r: r.active)`)."""
    (call_type,) = ok(json2, "mail.activity.type", "search", domain=[["name", "=", "Call"]])
    ok(json2, "mail.activity.type", "write", ids=[call_type], vals={"keep_done": True})
    try:
        (activity,) = ok(
            json2,
            "sale.order",
            "activity_schedule",
            ids=[order],
            act_type_xmlid="mail.mail_activity_data_call",
            summary="Ring",
        )
        assert isinstance(ok(json2, "mail.activity", "action_done", ids=[activity]), int)
        assert ok(json2, "mail.activity", "search", domain=[["id", "=", activity]]) == []
        (kept,) = ok(
            json2,
            "mail.activity",
            "search_read",
            domain=[["id", "=", activity]],
            fields=["active", "date_done"],
            context={"active_test": False},
        )
        assert kept["active"] is False and kept["date_done"]
        assert ok(json2, "mail.activity", "action_done", ids=[activity]) is False
        assert len(messages(json2, order)) == 1
    finally:
        ok(json2, "mail.activity.type", "write", ids=[call_type], vals={"keep_done": False})


def test_an_activity_needs_write_access_on_its_document(
    json2: Callable[..., httpx.Response],
) -> None:
    """mail_activity.py _check_access('create'): the document's `_mail_post_access`
    (write); the error is _make_access_error's."""
    (invoice_model,) = ok(json2, "ir.model", "search", domain=[["model", "=", "account.move"]])
    (partner,) = ok(json2, "res.partner", "search", domain=[["name", "=", "Deco Addict"]])
    (move,) = ok(
        json2,
        "account.move",
        "create",
        vals_list=[{"move_type": "out_invoice", "partner_id": partner}],
    )
    refused = json2(
        "mail.activity",
        "create",
        key=DEMO_KEY,
        vals_list=[{"res_model_id": invoice_model, "res_id": move, "summary": "x"}],
    )
    assert refused.status_code == 403, refused.text
    assert "(Document type: Activity, Operation: create)" in refused.json()["message"]
    assert (
        ok(
            json2,
            "mail.activity",
            "search_count",
            domain=[["res_id", "=", move], ["res_model", "=", "account.move"]],
        )
        == 0
    )


@pytest.fixture(scope="module")
def sim18() -> Iterator[RunningSim]:
    with running_sim(version=18) as running:
        yield running


def test_on_18_message_post_answers_an_id_over_json_rpc(sim18: RunningSim) -> None:
    """Up to 18 message_post is `@api.returns('mail.message', lambda value: value.id)`."""

    def rpc(model: str, method: str, args: list[Any], kw: dict[str, Any]) -> Any:
        body = {
            "jsonrpc": "2.0",
            "method": "call",
            "id": 1,
            "params": {
                "service": "object",
                "method": "execute_kw",
                "args": [sim18.db, 2, sim18.password, model, method, args, kw],
            },
        }
        answer = httpx.post(f"{sim18.url}/jsonrpc", json=body, timeout=10).json()
        assert "error" not in answer, answer
        return answer.get("result")

    (order,) = rpc("sale.order", "search", [[]], {"limit": 1})
    message = rpc("sale.order", "message_post", [[order]], {"body": "<i>x</i>"})
    assert isinstance(message, int)
    (row,) = rpc("mail.message", "read", [[message]], {"fields": ["body"]})
    assert row["body"] == "&lt;i&gt;x&lt;/i&gt;"
    (activity,) = rpc("sale.order", "activity_schedule", [[order]], {"summary": "s"})
    assert isinstance(rpc("mail.activity", "action_feedback", [[activity]], {}), int)
