"""Mapping: a partner's own messages -> canonical events (step 3 of the spine, "Normalize").

A partner is configuration; its mapping is data. Each partner may name a mapping file
(YAML, next to its configuration) that says:

- which `reader` turns the raw bytes into a JSON document: `json` for carriers that post
  JSON, `x12_214` / `edifact_iftsta` (Python adapters over the `edi` codecs, for what
  expressions cannot do: segments, loops, date + time + zone codes), or a
  `package.module:function` of the partner's own;
- which inbound message kinds it knows (`messages`, each with a JSONata `when`), which
  items of a message are events (`each`) and a JSONata expression per canonical field;
- the status-code table (partner code -> canonical milestone and exception reason) and the
  reason-code table, as plain data an operator can edit.

`Mapping.parse(raw)` is the adapter shape of STYLE.md (`parse_<message>(raw) ->
list[CanonicalEvent]`). A message it cannot map raises `NormalizeError` with the reason
and the failing path (a JSON path such as `$.updates[2].code`, or an X12/EDIFACT segment
and element such as `segment 9 (AT7), element AT701`): the applier then quarantines it
(inbox status `rejected`), and `intermodal quarantine replay` re-runs it once the mapping
is fixed. `Mapping.normalize(raw)`, what the hub runs, maps the readable items of a
message and returns the others as `skipped`: those alone are quarantined. `MappingNormalizer` is what the hub plugs into the applier; partners without a
mapping keep sending canonical CloudEvents.
"""

from intermodal.mapping.normalizer import MappingNormalizer
from intermodal.mapping.spec import Mapping, MappingError, load_mapping

__all__ = ["Mapping", "MappingError", "MappingNormalizer", "load_mapping"]
