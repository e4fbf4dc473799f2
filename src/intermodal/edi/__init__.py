"""EDI: read and write ANSI X12 004010 and UN/EDIFACT interchanges.

This package is the codec layer of EDI intake, between the raw bytes a partner sends and
the mapping that turns them into canonical events. It knows segments, envelopes, control
numbers and character sets; it knows nothing about shipments (that is `mapping/`).

- `x12`: 204 load tender, 210 freight invoice, 214 status, 990 tender response and 997
  acknowledgement. `parse_x12(data, mode) -> X12Document` (interchanges -> groups ->
  transactions -> `Segment`s of elements of components), `generate_x12(...) -> bytes`,
  `build_interchange(...)` for outbound documents with fresh control numbers, and
  `acknowledge(...)` / `acknowledgement_997(...)` for functional acknowledgements.
- `edifact`: IFTSTA and IFTMIN (D00B/D01B). `parse_edifact`, `generate_edifact`,
  `build_interchange`; interchanges -> groups (or one implicit group) -> messages.
- `errors`: `EdiError` (`EdiSyntaxError`, `EnvelopeError`, `GenerationError`) and
  `EdiWarning`, both naming partner, document, segment number (in the file and within the
  transaction set) and element position such as `SE01`; `Segment` and the number helpers
  (`implied_decimal` for X12 `N2`, `decimal` for a decimal point or comma).
- `control`: `ControlNumbers`, the per-partner interchange and group control numbers kept
  in the hub's store, increased atomically on SQLite and PostgreSQL.
- `cli`: `intermodal edi parse FILE [--json] [--mode reject|warn]`.

Reject or warn is a per-partner choice: in reject mode the first envelope problem (a
wrong SE01, a GE02 that does not repeat GS06, ...) raises; in warn mode it is collected
and the document is returned, with each problem attached to the set it concerns so that a
997 or CONTRL can reject exactly that set. Bytes that are not X12 or EDIFACT at all raise
in both modes, and nothing but an `EdiError` ever does.
"""

from intermodal.edi.errors import (
    EdiError,
    EdiSyntaxError,
    EdiWarning,
    EnvelopeError,
    GenerationError,
    Location,
    Mode,
    Segment,
)

__all__ = [
    "EdiError",
    "EdiSyntaxError",
    "EdiWarning",
    "EnvelopeError",
    "GenerationError",
    "Location",
    "Mode",
    "Segment",
]
