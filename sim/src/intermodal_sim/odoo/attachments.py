"""ir.attachment: files and links attached to records, as odoo/addons/base/models/
ir_attachment.py (19.0) stores and guards them.

The content travels base64-encoded in `datas` and lives in the filestore, named after its
SHA-1 (`store_fname` = `<2 hex>/<sha1>`, content shared by identical files), which the sim
keeps in a table of its own (`sim_filestore`); `checksum`, `file_size` and `mimetype` are
computed from it (`_get_datas_related_values`, `_compute_mimetype`). Access follows the
record an attachment belongs to (`_check_access`, `_inaccessible_comodel_records`): reading
it needs read access on that record, creating, changing or deleting it needs write access;
an attachment of no record is its creator's (and the administrators'). Searches leave out
attachments of binary fields (`res_field`) unless asked (`_search`).
"""

# ruff: noqa: S608 - SQL text is built only from registry identifiers (tables, columns);
# every value travels as a bound parameter.

from __future__ import annotations

import base64
import hashlib
import mimetypes
from collections.abc import Mapping
from typing import Any

from intermodal_sim.odoo.domain import leaves
from intermodal_sim.odoo.errors import AccessError, ValidationError
from intermodal_sim.odoo.orm import SUPERUSER_ID, BaseModel, api_model

SORRY = "Sorry, you are not allowed to access this document."
# odoo/tools/mimetypes.py guess_mimetype: the signatures the sim recognises.
_MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"PK\x03\x04", "application/zip"),
)


def guess_mimetype(raw: bytes) -> str:
    for magic, mimetype in _MAGIC:
        if raw.startswith(magic):
            return mimetype
    if raw and all(b in b"\t\n\r" or 32 <= b < 127 for b in raw[:1024]):
        return "text/plain"
    return "application/octet-stream"


class IrAttachment(BaseModel):
    # -- content ------------------------------------------------------------------------------
    def _content_values(self, vals: dict[str, Any], creating: bool) -> dict[str, Any]:
        """create/write: `datas` (base64) becomes the stored file and what is computed from
        it (create: only a non-empty file; write: whatever is written); a bad encoding
        fails like base64.b64decode does in Odoo. create always computes the mimetype."""
        for computed in ("file_size", "checksum", "store_fname"):
            vals.pop(computed, None)
        has_content = "datas" in vals
        datas = vals.pop("datas", None)
        if not (creating or has_content or "mimetype" in vals):
            return vals
        raw = b""
        if datas:
            if not isinstance(datas, str | bytes):
                raise ValueError(f"Wrong value for ir.attachment.datas: {datas!r}")
            raw = base64.b64decode(datas)  # binascii.Error on a bad encoding
        vals["mimetype"] = self._compute_mimetype(vals, raw)
        if raw or (has_content and not creating):
            checksum = hashlib.sha1(raw).hexdigest()  # noqa: S324 - Odoo's file name
            fname = f"{checksum[:2]}/{checksum}" if raw else False
            if raw:
                self.env.db.execute(
                    "INSERT OR IGNORE INTO sim_filestore (fname, data) VALUES (?, ?)",
                    (fname, raw),
                )
            text = vals["mimetype"].startswith("text/")
            vals.update(
                {
                    "file_size": len(raw),
                    "checksum": checksum,
                    "store_fname": fname,
                    "index_content": raw.decode("ascii", "ignore") if text else False,
                }
            )
        return vals

    @staticmethod
    def _compute_mimetype(vals: Mapping[str, Any], raw: bytes) -> str:
        """_compute_mimetype: the one given, else by the name, else by the url, else by
        the content."""
        mimetype = vals.get("mimetype") or None
        if not mimetype and vals.get("name"):
            mimetype = mimetypes.guess_type(str(vals["name"]))[0]
        if not mimetype and vals.get("url"):
            mimetype = mimetypes.guess_type(str(vals["url"]).split("?")[0])[0]
        if (not mimetype or mimetype == "application/octet-stream") and raw:
            mimetype = guess_mimetype(raw)
        return str(mimetype).lower() if mimetype else "application/octet-stream"

    def _compute_datas(self, ids: list[int]) -> dict[int, Any]:
        out: dict[int, Any] = {}
        bin_size = self.env.context.get("bin_size")
        marks = ", ".join("?" * len(ids))
        rows = self.env.db.execute(
            f"SELECT a.id, a.file_size, f.data FROM ir_attachment a LEFT JOIN sim_filestore f "
            f"ON f.fname = a.store_fname WHERE a.id IN ({marks})",
            ids,
        )
        for rid, size, data in rows:
            if bin_size:
                out[rid] = f"{int(size or 0)} bytes"
            else:
                out[rid] = base64.b64encode(bytes(data or b"")).decode("ascii")
        return {rid: out.get(rid, False) for rid in ids}

    def _compute_res_name(self, ids: list[int]) -> dict[int, Any]:
        out: dict[int, Any] = dict.fromkeys(ids, False)
        for rid, model, res_id in self.env.db.execute(
            f"SELECT id, res_model, res_id FROM ir_attachment WHERE id IN "
            f"({', '.join('?' * len(ids))})",
            ids,
        ):
            if model in self.env and res_id:
                names = self.env[model].sudo().browse([int(res_id)])._display_names()
                out[rid] = names.get(int(res_id), False)
        return out

    # -- access -------------------------------------------------------------------------------
    def _inaccessible(self, pairs: set[tuple[Any, Any]], operation: str) -> bool:
        """_inaccessible_comodel_records: is any of these records out of the user's reach?"""
        if self.env.su:
            return False
        mode = "read" if operation == "read" else "write"
        for model, res_id in pairs:
            if not model or not res_id:
                continue
            if model not in self.env:
                return True
            document = self.env[model].browse([int(res_id)])
            if model == "res.users" and int(res_id) == self.env.uid:
                continue
            if document.exists() and not self.env.has_access(model, mode):
                return True
        return False

    def _forbidden(self, ids: list[int], operation: str) -> list[int]:
        """_check_access: the attachments among `ids` the user may not touch."""
        if self.env.su or not ids:
            return []
        marks = ", ".join("?" * len(ids))
        rows = self.env.db.execute(
            f"SELECT id, res_model, res_id, create_uid, public FROM ir_attachment "
            f"WHERE id IN ({marks})",
            ids,
        ).fetchall()
        system = self._is_system()
        forbidden = []
        for rid, model, res_id, create_uid, public in rows:
            if public and operation == "read":
                continue
            orphan = not res_id and create_uid != self.env.uid
            if (orphan and not system) or self._inaccessible({(model, res_id)}, operation):
                forbidden.append(int(rid))
        return forbidden

    def _is_system(self) -> bool:
        if self.env.uid == SUPERUSER_ID:
            return True
        return self.env.ref_id("base.group_system") in {
            int(r[0])
            for r in self.env.db.execute(
                "SELECT gid FROM res_groups_users_rel WHERE uid = ?", (self.env.uid,)
            )
        }

    def _raise_forbidden(self, ids: list[int], operation: str) -> None:
        forbidden = self._forbidden(ids, operation)
        if forbidden:
            records = ", ".join(str(i) for i in forbidden[:6])
            raise AccessError(
                f"{SORRY} Please contact your system administrator.\n\n"
                f"(Operation: {operation})\n\n"
                f"Records: ir.attachment({records},), User: {self.env.uid}"
            )

    def _search_ids(
        self, domain: Any, offset: Any = 0, limit: Any = None, order: Any = None
    ) -> list[int]:
        """_search: no attachments of binary fields unless the domain names `id` or
        `res_field`; only those the user may read."""
        domain = list(domain or [])
        if not any(leaf[0] in ("id", "res_field") for leaf in leaves(domain)):
            domain = ["&", ("res_field", "=", False), *(domain or [(1, "=", 1)])]
        if self.env.su:
            return super()._search_ids(domain, offset, limit, order)
        ids = super()._search_ids(domain, 0, None, order)
        forbidden = set(self._forbidden(ids, "read"))
        allowed = [i for i in ids if i not in forbidden]
        start = int(offset or 0)
        return allowed[start : start + int(limit)] if limit else allowed[start:]

    # -- ORM ----------------------------------------------------------------------------------
    def read(
        self, fields: list[str] | None = None, load: str | None = "_classic_read"
    ) -> list[dict[str, Any]]:
        self._raise_forbidden(self.exists().ids, "read")
        return super().read(fields, load)

    @api_model
    def create(self, vals_list: Any) -> BaseModel:
        if isinstance(vals_list, Mapping):
            vals_list = [vals_list]
        if not isinstance(vals_list, list | tuple) or not all(
            isinstance(v, Mapping) for v in vals_list
        ):
            raise ValueError(f"Invalid values {vals_list!r} for model {self._name!r}")
        prepared = [self._content_values(dict(v), creating=True) for v in vals_list]
        pairs = {(v.get("res_model"), v.get("res_id")) for v in prepared}
        self.env.check_access(self._spec, "create")
        if self._inaccessible(pairs, "create"):
            raise AccessError(SORRY)
        records = super().create(prepared)
        self._check_serving(records.ids)
        return records

    def write(self, vals: Any) -> bool:
        if not isinstance(vals, Mapping):
            raise ValueError(f"Invalid values {vals!r} for model {self._name!r}")
        self._ensure_exist()
        self.env.check_access(self._spec, "write")
        self._raise_forbidden(self.ids, "write")
        vals = dict(vals)
        if vals.get("res_model") or vals.get("res_id"):
            current = self._column_rows(self.ids, "res_model")
            res_ids = self._column_rows(self.ids, "res_id")
            pairs = {(vals.get("res_model", current[i]), vals.get("res_id", res_ids[i]))
                     for i in self.ids}  # fmt: skip
            if self._inaccessible(pairs, "write"):
                raise AccessError(SORRY)
        vals = self._content_values(vals, creating=False)
        result = super().write(vals)
        if "url" in vals or "type" in vals:
            self._check_serving(self.ids)
        return result

    def unlink(self) -> bool:
        self._ensure_exist()
        self._raise_forbidden(self.ids, "unlink")
        return super().unlink()

    def _check_serving(self, ids: list[int]) -> None:
        """_check_serving_attachments: a binary attachment with a url could be served by the
        http dispatcher, so only the system group may make one."""
        if self._is_system() or not ids:
            return
        marks = ", ".join("?" * len(ids))
        row = self.env.db.execute(
            f"SELECT 1 FROM ir_attachment WHERE id IN ({marks}) AND type = 'binary' "
            "AND url IS NOT NULL AND url != ''",
            ids,
        ).fetchone()
        if row:
            raise ValidationError("Sorry, you are not allowed to write on this document")
