"""The chatter: message_post, followers and their notifications, activities and marking
them done, as addons/mail (19.0) behaves for the calls an integration makes.

Sources, all odoo/odoo: addons/mail/models/mail_thread.py (`message_post`,
`message_subscribe`, `_message_compute_author`, `_notify_thread`),
addons/mail/models/mail_followers.py (`_get_recipient_data`),
addons/mail/models/mail_activity_mixin.py (`activity_schedule`),
addons/mail/models/mail_activity.py (`create`, `action_feedback`, `action_done`,
`_action_done`, `_make_access_error`) and addons/mail/data/mail_templates_chatter.xml
(`message_activity_done`, the body of the message an activity leaves when done).

Simplified, and said so in docs/odoo-sim.md: no e-mail is sent (a follower who handles
notifications by e-mail gets a `mail.notification` of type `email` and nothing more), no
bus notifications, no record rules (document access is the model's access rights).
"""

# ruff: noqa: S608 - SQL text is built only from registry identifiers (tables, columns);
# every value travels as a bound parameter.

from __future__ import annotations

from typing import Any

from intermodal_sim.odoo.errors import AccessError
from intermodal_sim.odoo.orm import BaseModel, api_model, returns_id

_FORBIDDEN_POST_KEYS = frozenset({"model", "res_id", "subtype"})
_NO_AUTHOR_SUBSCRIBE = frozenset({"notification", "user_notification", "auto_comment"})


def escape(value: Any) -> str:
    """markupsafe.escape, which message_post applies to a body that is not Markup: a body
    sent over RPC is a plain string, so its HTML shows as text unless `body_is_html`."""
    text = "" if value is None or value is False else str(value)
    return (
        text.replace("&", "&amp;")
        .replace(">", "&gt;")
        .replace("<", "&lt;")
        .replace("'", "&#39;")
        .replace('"', "&#34;")
    )


def _is_int_list(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    )


def user_partner(rec: BaseModel) -> int | None:
    row = rec.env.db.execute(
        "SELECT partner_id FROM res_users WHERE id = ?", (rec.env.uid,)
    ).fetchone()
    return int(row[0]) if row and row[0] else None


def _internal_partners(rec: BaseModel, partner_ids: list[int]) -> set[int]:
    """Partners of internal users (res.partner.partner_share is False for them)."""
    if not partner_ids:
        return set()
    marks = ", ".join("?" * len(partner_ids))
    rows = rec.env.db.execute(
        f"SELECT partner_id FROM res_users WHERE share = 0 AND active = 1 "
        f"AND partner_id IN ({marks})",
        partner_ids,
    )
    return {int(r[0]) for r in rows}


class MailThread(BaseModel):
    """mail.thread: the chatter every business document carries."""

    @returns_id
    def message_post(
        self,
        *,
        body: Any = "",
        subject: str | None = None,
        message_type: str = "notification",
        email_from: str | None = None,
        author_id: int | None = None,
        parent_id: Any = False,
        subtype_xmlid: str | None = None,
        subtype_id: Any = False,
        partner_ids: Any = None,
        incoming_email_to: Any = False,
        incoming_email_cc: Any = False,
        attachments: Any = None,
        attachment_ids: Any = None,
        body_is_html: bool = False,
        **kwargs: Any,
    ) -> BaseModel:
        """mail_thread.py message_post: one message on one record; a plain-string body is
        escaped unless `body_is_html`; the followers of the subtype and `partner_ids` are
        notified; the author follows the record after a manual post (not a notification)."""
        self.ensure_one()
        invalid = sorted(set(kwargs) & _FORBIDDEN_POST_KEYS)
        if invalid:
            raise ValueError(
                f"Those values are not supported when posting or notifying: {', '.join(invalid)}"
            )
        if not self.ids[0]:
            raise ValueError(
                "Posting a message should be done on a business document. Use message_notify "
                "to send a notification to an user."
            )
        if message_type == "user_notification":
            raise ValueError("Use message_notify to send a notification to an user.")
        if attachment_ids and not _is_int_list(attachment_ids):
            raise ValueError(
                "Posting a message should receive attachments records as a list of IDs "
                f"(received {attachment_ids!r})"
            )
        if partner_ids and not _is_int_list(partner_ids):
            raise ValueError(
                f"Posting a message should receive partners as a list of IDs (received "
                f"{partner_ids!r})"
            )
        self._ensure_exist()
        # Posting needs read access on the document (mail.message create checks it again).
        self.env.check_access(self._spec, "read")
        message_fields = self.env.registry["mail.message"].fields
        values = {k: v for k, v in kwargs.items() if k in message_fields}
        author = author_id or user_partner(self)
        if email_from is None and author:
            row = self.env.db.execute(
                "SELECT name, email FROM res_partner WHERE id = ?", (author,)
            ).fetchone()
            email_from = f'"{row[0]}" <{row[1]}>' if row and row[1] else None
        if subtype_xmlid:
            subtype_id = self.env.ref_id(subtype_xmlid)
            if subtype_id is None:
                raise ValueError(f"External ID not found in the system: {subtype_xmlid}")
        if not subtype_id:
            subtype_id = self.env.ref_id("mail.mt_note")
        values.update(
            {
                "author_id": author or False,
                "email_from": email_from or False,
                "model": self._name,
                "res_id": self.ids[0],
                "record_name": values.get("record_name")
                or self.sudo()._display_names().get(self.ids[0], ""),
                "body": str(body) if body_is_html else escape(body),
                "message_type": message_type,
                "subject": subject or False,
                "subtype_id": subtype_id or False,
                "partner_ids": [(6, 0, list(partner_ids or []))],
                "attachment_ids": [(6, 0, list(attachment_ids or []))],
            }
        )
        message = self.env["mail.message"].sudo().create(values)
        context = self.env.context
        if (
            not context.get("mail_post_autofollow_author_skip")
            and message_type not in _NO_AUTHOR_SUBSCRIBE
            and author
            and author in _internal_partners(self, [author])
        ):
            self._subscribe([author], None)
        self._notify(int(message.id), subtype_id, list(partner_ids or []), author)
        return message

    def _notify(
        self, message_id: int, subtype_id: Any, partner_ids: list[int], author: int | None
    ) -> None:
        """_notify_thread / mail.followers _get_recipient_data: the message's recipients are
        the partners named and the followers of its subtype (only internal users when the
        subtype is internal, as a note's is), never its author unless asked."""
        recipients = set(partner_ids)
        if subtype_id:
            internal = self.env.db.execute(
                "SELECT internal FROM mail_message_subtype WHERE id = ?", (subtype_id,)
            ).fetchone()
            rows = self.env.db.execute(
                "SELECT f.partner_id FROM mail_followers f JOIN "
                "mail_followers_mail_message_subtype_rel r ON r.mail_followers_id = f.id "
                "WHERE f.res_model = ? AND f.res_id = ? AND r.mail_message_subtype_id = ?",
                (self._name, self.ids[0], subtype_id),
            )
            followers = [int(r[0]) for r in rows]
            if internal and internal[0]:
                followers = sorted(_internal_partners(self, followers))
            recipients.update(followers)
        if author and not self.env.context.get("mail_notify_author"):
            recipients.discard(author)
        if not recipients:
            return
        marks = ", ".join("?" * len(recipients))
        inbox = {
            int(r[0])
            for r in self.env.db.execute(
                "SELECT partner_id FROM res_users WHERE notification_type = 'inbox' "
                f"AND partner_id IN ({marks})",
                sorted(recipients),
            )
        }
        self.env["mail.notification"].sudo().create(
            [
                {
                    "mail_message_id": message_id,
                    "res_partner_id": pid,
                    "notification_type": "inbox" if pid in inbox else "email",
                    "notification_status": "sent" if pid in inbox else "ready",
                }
                for pid in sorted(recipients)
            ]
        )

    def message_subscribe(self, partner_ids: Any = None, subtype_ids: Any = None) -> bool:
        """mail_thread.py message_subscribe: the partners follow the records, with the given
        subtypes or the default ones (mail.message.subtype `default`, internal ones for
        internal users only)."""
        if not self.ids:
            return True
        if partner_ids and not _is_int_list(partner_ids):
            raise ValueError(f"Invalid partner_ids {partner_ids!r}")
        if subtype_ids is not None and not _is_int_list(subtype_ids):
            raise ValueError(f"Invalid subtype_ids {subtype_ids!r}")
        self.env.check_access(self._spec, "read")
        self._subscribe(list(partner_ids or []), None if subtype_ids is None else list(subtype_ids))
        return True

    def _subscribe(self, partner_ids: list[int], subtype_ids: list[int] | None) -> None:
        if not partner_ids:
            return
        internal_users = _internal_partners(self, partner_ids)
        defaults = self.env.db.execute(
            'SELECT id, internal FROM mail_message_subtype WHERE "default" = 1 '
            "AND (res_model IS NULL OR res_model = ?)",
            (self._name,),
        ).fetchall()
        followers = self.env["mail.followers"].sudo()
        for rid in self.ids:
            for pid in partner_ids:
                existing = self.env.db.execute(
                    "SELECT id FROM mail_followers WHERE res_model = ? AND res_id = ? "
                    "AND partner_id = ?",
                    (self._name, rid, pid),
                ).fetchone()
                if subtype_ids is not None:
                    wanted = subtype_ids
                else:
                    wanted = [int(s) for s, internal in defaults
                              if not internal or pid in internal_users]  # fmt: skip
                if existing is None:
                    followers.create(
                        {"res_model": self._name, "res_id": rid, "partner_id": pid,
                         "subtype_ids": [(6, 0, wanted)]}
                    )  # fmt: skip
                elif subtype_ids is not None:
                    followers.browse([int(existing[0])]).write({"subtype_ids": [(6, 0, wanted)]})

    def message_unsubscribe(self, partner_ids: Any = None) -> bool:
        if not self.ids or not partner_ids:
            return True
        if not _is_int_list(partner_ids):
            raise ValueError(f"Invalid partner_ids {partner_ids!r}")
        self.env.check_access(self._spec, "read")
        marks = ", ".join("?" * len(self.ids))
        pmarks = ", ".join("?" * len(partner_ids))
        ids = [
            int(r[0])
            for r in self.env.db.execute(
                f"SELECT id FROM mail_followers WHERE res_model = ? AND res_id IN ({marks}) "
                f"AND partner_id IN ({pmarks})",
                [self._name, *self.ids, *partner_ids],
            )
        ]
        self.env["mail.followers"].sudo().browse(ids).unlink()
        return True

    def activity_schedule(
        self,
        act_type_xmlid: str = "",
        date_deadline: Any = None,
        summary: str = "",
        note: str = "",
        **act_values: Any,
    ) -> Any:
        """mail_activity_mixin.py activity_schedule: one automated activity per record, on
        the model `ir.model._get(self._name)` names."""
        if self.env.context.get("mail_activity_automation_skip"):
            return False
        if act_type_xmlid:
            activity_type = self.env.ref_id(act_type_xmlid)
        else:
            activity_type = act_values.get("activity_type_id") or None
        if not activity_type:
            activity_type = self.env.ref_id("mail.mail_activity_data_todo")
        type_summary = None
        if activity_type:
            row = self.env.db.execute(
                "SELECT summary FROM mail_activity_type WHERE id = ?", (activity_type,)
            ).fetchone()
            type_summary = row[0] if row else None
        model_id = self.env.model_id(self._name)
        vals_list = []
        for rid in self.ids:
            vals = {
                "activity_type_id": activity_type or False,
                "summary": summary or type_summary or False,
                "automated": True,
                "note": note or False,
                "date_deadline": date_deadline or self.env.today,
                "res_model_id": model_id,
                "res_id": rid,
            }
            vals.update(act_values)
            vals_list.append(vals)
        return self.env["mail.activity"].create(vals_list)


class MailActivity(BaseModel):
    """mail.activity: a to-do on a record; done, it leaves a message and goes away."""

    def _prepare_create(self, vals: dict[str, Any]) -> dict[str, Any]:
        if vals.get("res_model_id"):
            row = self.env.db.execute(
                "SELECT model FROM ir_model WHERE id = ?", (vals["res_model_id"],)
            ).fetchone()
            if row:
                vals["res_model"] = row[0]
                if vals.get("res_id") and row[0] in self.env:
                    names = self.env[row[0]].sudo().browse([int(vals["res_id"])])._display_names()
                    vals["res_name"] = names.get(int(vals["res_id"]), False)
        if "activity_type_id" not in vals:
            # _default_activity_type: the to-do, unless it is archived.
            todo = self.env.ref_id("mail.mail_activity_data_todo")
            if todo:
                vals["activity_type_id"] = todo
        return vals

    @api_model
    def create(self, vals_list: Any) -> BaseModel:
        """mail_activity.py create: allowed with write access on the documents (the
        mail.thread `_mail_post_access`); the assigned users follow the documents."""
        records = super().create(vals_list)
        rows = self.env.db.execute(
            f"SELECT a.id, a.res_model, a.res_id, u.partner_id FROM mail_activity a "
            f"LEFT JOIN res_users u ON u.id = a.user_id "
            f"WHERE a.id IN ({', '.join('?' * len(records.ids))})",
            records.ids,
        ).fetchall()
        if not self.env.su:
            for model in {r[1] for r in rows}:
                if model not in self.env or not self.env.has_access(model, "write"):
                    raise self._access_error("create", records.ids)
        for _aid, model, res_id, partner in rows:
            if partner and model in self.env and isinstance(self.env[model], MailThread):
                document = self.env[model].sudo().browse([int(res_id)])
                if document.exists():
                    document._subscribe([int(partner)], None)  # type: ignore[attr-defined]
        return records

    def _access_error(self, operation: str, ids: list[int]) -> AccessError:
        """mail_activity.py _make_access_error."""
        return AccessError(
            "The requested operation cannot be completed due to security restrictions. "
            "Please contact your system administrator.\n\n"
            f"(Document type: {self._spec.description}, Operation: {operation})\n\n"
            f"Records: {ids[:6]}, User: {self.env.uid}"
        )

    def action_feedback(self, feedback: Any = False, attachment_ids: Any = None) -> int | bool:
        """mail_activity.py action_feedback: mark done; returns the id of the first message
        posted, or False. An activity that is gone (done already: it was unlinked) raises
        MissingError, as reading it in Odoo does."""
        messages = self._action_done(feedback=feedback, attachment_ids=attachment_ids)
        return messages[0] if messages else False

    def action_done(self) -> int | bool:
        """mail_activity.py action_done: action_feedback without feedback, on the active
        activities only (an archived, kept-done one is left alone)."""
        self._ensure_exist()
        active = [r["id"] for r in self.read(["active"]) if r["active"]]
        return self.browse(active).action_feedback()  # type: ignore[attr-defined, no-any-return]

    def _action_done(self, feedback: Any = False, attachment_ids: Any = None) -> list[int]:
        """_action_done: per activity, the document gets the `message_activity_done` message
        (subtype mail.mt_activities, by the current user's partner); then the activity is
        archived when its type keeps done activities, else deleted."""
        self._ensure_exist()
        self.env.check_access(self._spec, "write")
        if attachment_ids and not _is_int_list(attachment_ids):
            raise ValueError(f"Invalid attachment_ids {attachment_ids!r}")
        if not self.env.su:
            for model in {r["res_model"] for r in self.read(["res_model"])}:
                if model not in self.env or not self.env.has_access(model, "write"):
                    raise self._access_error("write", self.ids)
        rows = self.sudo().read(
            ["res_model", "res_id", "summary", "note", "activity_type_id", "user_id"],
            load=None,
        )
        author = user_partner(self)
        messages: list[int] = []
        keep: list[int] = []
        drop: list[int] = []
        for row in rows:
            type_row = (
                self.env.db.execute(
                    "SELECT name, icon, keep_done FROM mail_activity_type WHERE id = ?",
                    (row["activity_type_id"],),
                ).fetchone()
                if row["activity_type_id"]
                else None
            )
            (keep if type_row and type_row[2] else drop).append(row["id"])
            model = row["res_model"]
            if not model or model not in self.env:
                continue
            document = self.env[model].sudo().browse([int(row["res_id"])])
            if not document.exists() or not isinstance(document, MailThread):
                continue
            body = _done_body(
                self, row, type_row, feedback, assigned_to_other=row["user_id"] != self.env.uid
            )
            message = document.message_post(
                body=body,
                body_is_html=True,
                message_type="notification",
                subtype_xmlid="mail.mt_activities",
                author_id=author,
                attachment_ids=list(attachment_ids or []),
                mail_activity_type_id=row["activity_type_id"] or False,
            )
            messages.append(int(message.id))
        if keep:
            self.sudo().browse(keep).write({"active": False, "date_done": self.env.today})
        if drop:
            self.sudo().browse(drop).unlink()
        return messages


def _done_body(
    rec: BaseModel,
    row: dict[str, Any],
    type_row: Any,
    feedback: Any,
    assigned_to_other: bool,
) -> str:
    """mail_templates_chatter.xml message_activity_done, rendered: the summary, who it was
    assigned to when someone else marks it done, the note, then the feedback line by line."""
    icon = escape(type_row[1]) if type_row and type_row[1] else ""
    title = f'<span class="oi oi-fw oi-filled" data-icon="{icon}"></span>'
    if row["summary"]:
        title += f"<span>{escape(row['summary'])}</span>"
    if assigned_to_other and row["user_id"]:
        user = rec.env.db.execute(
            "SELECT name FROM res_users WHERE id = ?", (row["user_id"],)
        ).fetchone()
        title += f" (originally assigned to <span>{escape(user[0] if user else '')}</span>)"
    body = f'<div><p class="o_mail_activity_title mb-1">{title}</p>'
    if row["note"]:
        body += (
            f'<div class="o_mail_activity_note pb-2"><div class="fst-italic">{row["note"]}'
            "</div></div>"
        )
    if feedback:
        body += "<div>" + "<br>".join(escape(line) for line in str(feedback).split("\n")) + "</div>"
    return body + "</div>"
