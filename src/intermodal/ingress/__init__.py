"""Ingress: every way a message gets in. Signed webhooks (`webhook`, the hot path, with
Standard Webhooks verification on the raw bytes in `signatures`, and the HMAC schemes of
vendors that do not speak it in `vendor_signatures`), REST batches (`batch`),
EDI documents over HTTP or a watched folder (`edi`) and Odoo change capture
(`odoo_capture`); each hands verified messages to the inbox."""
