"""What an EDI report points at, and the reports themselves.

Every problem found in an X12 or EDIFACT document is told the same way, because the person
reading it is the same: an operator holding a partner's file and the partner's
implementation guide. So a report names the partner (when known), the document, the
segment number counted from 1 over the whole file, the segment's position within its
transaction set or message (ST or UNH is 1, as SE01 and UNT01 count), and the element
position written the way implementation guides write it (`SE01`, `UNB01-2` for the second
component of the first element).

The same fields serve two uses: `EdiError` is raised (reject mode, or a problem that
leaves nothing to parse), `EdiWarning` is collected (warn mode) and the document is still
returned. `Segment` lives here too because its accessors are where element-level reports
are born: `segment.decimal(4)` fails with the segment's own number and `B304` in hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from intermodal.errors import InvalidInput
from intermodal.observe.memory import gc_paused

Mode = Literal["reject", "warn"]
"""Per-partner choice: `reject` raises the first envelope problem, `warn` collects them."""


@dataclass(frozen=True, slots=True)
class Location:
    """Where a problem is: every field optional, because some problems have no segment."""

    partner: str | None = None
    document: str | None = None
    segment_number: int | None = None  # 1-based over the whole file
    segment_position: int | None = None  # 1-based within the transaction set or message
    segment_tag: str | None = None
    element: str | None = None  # e.g. "SE01", "UNB01-2"
    transaction: str | None = None  # control number of the set or message it belongs to
    group: str | None = None  # control number of the functional group
    interchange: str | None = None  # control number of the interchange

    def describe(self) -> str:
        parts: list[str] = []
        if self.partner:
            parts.append(f"partner {self.partner}")
        if self.document:
            parts.append(f"document {self.document}")
        if self.segment_number is not None:
            seg = f"segment {self.segment_number}"
            if self.segment_tag:
                seg += f" ({self.segment_tag}"
                if self.segment_position:
                    seg += f", position {self.segment_position} in its set"
                seg += ")"
            parts.append(seg)
        if self.element:
            parts.append(f"element {self.element}")
        return ", ".join(parts)


def _report_dict(code: str, message: str, where: Location) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "partner": where.partner,
        "document": where.document,
        "segment_number": where.segment_number,
        "segment_position": where.segment_position,
        "segment": where.segment_tag,
        "element": where.element,
        "interchange": where.interchange,
        "group": where.group,
        "transaction": where.transaction,
    }


class EdiError(InvalidInput):
    """A document that cannot be accepted as it is; `str()` is the whole story.

    `code` is a short stable name (`segment_count`, `control_number`, `syntax`, ...) that
    acknowledgements (997 AK5/AK9, CONTRL) and metrics key on; `message` is for people.
    """

    def __init__(self, code: str, message: str, where: Location | None = None) -> None:
        self.code = code
        self.message = message
        self.where = where or Location()
        super().__init__(self.__str__())

    @property
    def partner(self) -> str | None:
        return self.where.partner

    @property
    def document(self) -> str | None:
        return self.where.document

    @property
    def segment_number(self) -> int | None:
        return self.where.segment_number

    @property
    def segment_position(self) -> int | None:
        return self.where.segment_position

    @property
    def element(self) -> str | None:
        return self.where.element

    def __str__(self) -> str:
        place = self.where.describe()
        return f"{place}: {self.message}" if place else self.message

    def to_dict(self) -> dict[str, Any]:
        return _report_dict(self.code, self.message, self.where)

    def as_warning(self) -> EdiWarning:
        return EdiWarning(self.code, self.message, self.where)

    def with_context(self, partner: str | None, document: str | None) -> EdiError:
        """The same error, labelled with the partner and document the caller knows."""
        where = Location(
            partner if partner is not None else self.where.partner,
            document if document is not None else self.where.document,
            *_tail(self.where),
        )
        return type(self)(self.code, self.message, where)


class EdiSyntaxError(EdiError):
    """The bytes cannot be read as the standard: nothing sensible to return, in any mode."""


class EnvelopeError(EdiError):
    """Counts, control numbers or structure of ISA/GS/ST or UNB/UNG/UNH do not agree."""


class GenerationError(EdiError):
    """A document cannot be written: a value holds a delimiter X12 cannot escape, etc."""


@dataclass(frozen=True, slots=True)
class EdiWarning:
    """A problem collected in warn mode; the document was still returned."""

    code: str
    message: str
    where: Location = field(default_factory=Location)

    def __str__(self) -> str:
        place = self.where.describe()
        return f"{place}: {self.message}" if place else self.message

    def to_dict(self) -> dict[str, Any]:
        return _report_dict(self.code, self.message, self.where)


def _tail(where: Location) -> tuple[Any, ...]:
    return (
        where.segment_number,
        where.segment_position,
        where.segment_tag,
        where.element,
        where.transaction,
        where.group,
        where.interchange,
    )


def element_ref(tag: str, position: int, component: int | None = None) -> str:
    """`SE01`, `N104`, `UNB01-2`: the reference designators used in implementation guides."""
    ref = f"{tag}{position:02d}"
    return ref if component is None else f"{ref}-{component}"


@dataclass(slots=True, eq=False)
class Segment:
    """One segment: a tag and its elements, each element a tuple of components.

    `elements[0]` is element 01. Trailing empty elements and components are not kept
    (neither standard writes trailing delimiters), so a parsed segment and the one that
    generated it compare equal. `number` and `position` are where the parser found it and
    take no part in equality: a segment built in code has 0 for both.
    """

    tag: str
    elements: tuple[tuple[str, ...], ...] = ()
    number: int = 0
    position: int = 0

    @classmethod
    def of(cls, tag: str, *elements: str | Sequence[str]) -> Segment:
        """`Segment.of("B10", "REF1", "SHIP1", "SCAC")`; a composite is a list of strings."""
        built = [_trim((e,) if isinstance(e, str) else tuple(e)) for e in elements]
        while built and not any(built[-1]):
            built.pop()
        return cls(tag, tuple(built))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Segment):
            return NotImplemented
        return self.tag == other.tag and self.elements == other.elements

    def __hash__(self) -> int:
        return hash((self.tag, self.elements))

    def __repr__(self) -> str:
        shown = ", ".join(repr(e[0] if len(e) == 1 else list(e)) for e in self.elements)
        return f"Segment.of({self.tag!r}{', ' if shown else ''}{shown})"

    def __len__(self) -> int:
        return len(self.elements)

    def value(self, position: int, component: int = 1) -> str:
        """Element `position` (1-based), component `component`; '' when absent."""
        if position < 1 or position > len(self.elements):
            return ""
        element = self.elements[position - 1]
        if component < 1 or component > len(element):
            return ""
        return element[component - 1]

    def values(self) -> list[str]:
        """The first component of every element: enough for segments without composites."""
        return [e[0] if e else "" for e in self.elements]

    def ref(self, position: int, component: int | None = None) -> str:
        return element_ref(self.tag, position, component)

    def where(self, position: int | None = None, component: int | None = None) -> Location:
        return Location(
            segment_number=self.number or None,
            segment_position=self.position or None,
            segment_tag=self.tag,
            element=None if position is None else self.ref(position, component),
        )

    def error(self, message: str, position: int | None = None, code: str = "element") -> EdiError:
        return EdiError(code, message, self.where(position))

    def implied_decimal(self, position: int, places: int, component: int = 1) -> Decimal | None:
        """An X12 `Nn` value (implied decimal places): `N2` "12345" is 123.45; None if empty."""
        raw = self.value(position, component)
        if raw == "":
            return None
        try:
            return read_implied_decimal(raw, places)
        except ValueError as exc:
            raise EdiError(
                "element", str(exc), self.where(position, component if component > 1 else None)
            ) from None

    def decimal(self, position: int, component: int = 1) -> Decimal | None:
        """An explicit decimal (X12 `R`, EDIFACT `n`): point or comma as the mark."""
        raw = self.value(position, component)
        if raw == "":
            return None
        try:
            return read_decimal(raw)
        except ValueError as exc:
            raise EdiError(
                "element", str(exc), self.where(position, component if component > 1 else None)
            ) from None


def _trim(components: tuple[str, ...]) -> tuple[str, ...]:
    end = len(components)
    while end > 1 and components[end - 1] == "":
        end -= 1
    return components if end == len(components) else components[:end]


def read_implied_decimal(raw: str, places: int) -> Decimal:
    """X12 `Nn`: digits with an optional leading minus and `places` implied decimals."""
    text = raw.strip()
    digits = text[1:] if text[:1] == "-" else text
    if not digits or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"'{raw}' is not a number with {places} implied decimal places")
    return Decimal(text).scaleb(-places)


def read_decimal(raw: str) -> Decimal:
    """An explicit decimal, with `.` or `,` as the mark (ISO 9735 allows either).

    No thousands separators exist in either standard, so a comma is always the mark.
    """
    text = raw.strip().replace(",", ".")
    body = text[1:] if text[:1] in "+-" else text
    if not body or body.count(".") > 1 or not body.replace(".", "").isascii():
        raise ValueError(f"'{raw}' is not a decimal number")
    if not body.replace(".", "").isdigit() or body == ".":
        raise ValueError(f"'{raw}' is not a decimal number")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(f"'{raw}' is not a decimal number") from None


__all__ = [
    "EdiError",
    "EdiSyntaxError",
    "EdiWarning",
    "EnvelopeError",
    "GenerationError",
    "Location",
    "Mode",
    "Segment",
    "element_ref",
    "gc_paused",
    "read_decimal",
    "read_implied_decimal",
]
