"""Reading a received document: what kind of file it is, and its text, within a budget.

What a file is comes from its bytes (`sniff`), never from its Content-Type alone: a PDF
(`%PDF-`), a PNG, a JPEG or a TIFF is taken; an archive, an executable, HTML or anything
else is refused with a message that names what it is. `check_document` runs at the door
(the request path and the watched folder) and looks only at what costs nothing: the
size, the type, an image's declared dimensions (a few KiB can declare a gigapixel picture:
a decompression bomb), a PDF's end marker and any JavaScript in its plain text. The
reading itself (`read_document`) happens later, in the reader (documents_reader.py).

**Text of a PDF: pypdf.** Pure Python (nothing to compile, a wheel for every platform),
actively maintained, and its `layout` extraction keeps a line's columns apart with spaces,
which is what the field extraction reads (label, then value). pdfminer.six (under
pdfplumber) gives character positions too but is several times slower for that. pypdf
caps what one stream may inflate to, and the reading runs under a memory limit anyway.

**Scans: RapidOCR (rapidocr-onnxruntime).** PaddleOCR's PP-OCRv4 detection and recognition
models converted to ONNX, shipped inside the wheel and run by onnxruntime on the CPU:
`pip install` is the whole installation, on Python 3.11 and 3.12 alike, and it never
reaches a network. Tesseract reads English as well but is an apt package with language
data beside it, which a fresh machine would have to install first. Measured here: about
0.6 s for a letter-size page at 150 dpi on two cores. Its recognizer, trained mostly on
Chinese, often drops the spaces between English words (`Signedby:MariaGonzalez`); the
extraction reads labels without relying on spaces and puts them back in names.
OCR is the `ocr` extra (pyproject.toml): without it, a scan is marked unreadable with the
command that installs it, and text PDFs are read as before.

**Budget.** A hostile file can make any parser loop or grow: the reading runs in a child
process (`ReadingProcess`, started with spawn like the applier's) whose address space is
capped (`documents.memory_mb`) and which is killed when one document takes longer than
`documents.read_seconds`. The hub never waits on a file it cannot read.
"""

from __future__ import annotations

import contextlib
import io
import logging
import multiprocessing
import re
import time
import warnings
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from intermodal.errors import IntermodalError, InvalidInput
from intermodal.processes import ignore_sigint, name_process, start_deaf_to_sigint

if TYPE_CHECKING:
    from intermodal.config import Settings

log = logging.getLogger(__name__)

READER_NAME = b"hub-doc-reader"
"""The document reading process's name (/proc/<pid>/comm, `ps -o comm`)."""

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
TIFF = "image/tiff"
CONTENT_TYPES = (PDF, PNG, JPEG, TIFF)
"""The types taken, by what their bytes say they are."""

EXTENSIONS = {PDF: ".pdf", PNG: ".png", JPEG: ".jpg", TIFF: ".tif"}

_REFUSED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (send each document as its own file)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\x1f\x8b", "a gzip archive (send the document itself, uncompressed)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"MZ", "a Windows executable"),
    (b"\x7fELF", "an ELF executable"),
    (b"GIF8", "a GIF image (send a PDF, PNG, JPEG or TIFF)"),
    (b"RIFF", "a RIFF file (WebP, WAV or AVI; send a PDF, PNG, JPEG or TIFF)"),
    (b"\xd0\xcf\x11\xe0", "an old Microsoft Office file (send a PDF)"),
)


class DocumentRefused(InvalidInput):
    """A file refused at the door: what is wrong with it, as the sender can act on it.

    `status` is the HTTP answer (413 too large, 415 not a type we read, 422 a broken or
    hostile file) and `code` its stable name."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.http_status = status
        self.code = code


class UnreadableDocument(IntermodalError):
    """A stored document the reader could not read: `status` is `unreadable` (broken,
    encrypted, too slow, no OCR engine) or `refused` (hostile: JavaScript, a bomb)."""

    code = "unreadable"

    def __init__(self, message: str, status: str = "unreadable") -> None:
        super().__init__(message)
        self.status = status


class ReadingStopped(IntermodalError):
    """The reading process was closed while it read (the hub stopping): the document was
    not read, and is no worse for it."""

    code = "stopped"


@dataclass(frozen=True, slots=True)
class TextLine:
    """One line of a document as read: its text, how sure the reader is (1.0 for a PDF's
    own text), and its page (1-based)."""

    text: str
    confidence: float
    page: int


@dataclass(slots=True)
class Reading:
    """What was read from a document, and how."""

    method: str
    """`pdf_text` (the PDF's text layer), `ocr` (an image) or `pdf_ocr` (a scanned PDF)."""
    lines: list[TextLine]
    pages: int
    pages_read: int
    problems: list[str] = field(default_factory=list)
    """Parts not read (pages past the limit, a page image too large), for the record."""
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class ReadLimits:
    max_bytes: int
    max_pixels: int
    max_pages: int
    read_seconds: float
    memory_mb: int


def read_limits(settings: Settings) -> ReadLimits:
    """The `documents` section's limits, for the door and the reading process."""
    config = settings.documents
    return ReadLimits(
        config.max_bytes, config.max_pixels, config.max_pages, config.read_seconds, config.memory_mb
    )


# -- at the door ----------------------------------------------------------------------------
def sniff(body: bytes) -> str:
    """The type the bytes are, one of CONTENT_TYPES; DocumentRefused (415) otherwise."""
    if not body:
        raise DocumentRefused(422, "empty_document", "the document is empty")
    head = body[:1024]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return TIFF
    if b"%PDF-" in head:  # ISO 32000-1 7.5.2: readers find the header in the first 1024 bytes
        return PDF
    for magic, what in _REFUSED_MAGIC:
        if head.startswith(magic):
            raise DocumentRefused(415, "unsupported_document", f"the file is {what}")
    stripped = head.lstrip().lower()
    if stripped.startswith((b"<!doctype html", b"<html", b"<?xml", b"<svg")):
        raise DocumentRefused(
            415, "unsupported_document", "the file is markup (HTML, XML or SVG), not a document"
        )
    raise DocumentRefused(
        415,
        "unsupported_document",
        "the file is not a PDF, PNG, JPEG or TIFF (judged by its bytes, not its name or type)",
    )


def declared_type(content_type: str | None) -> str | None:
    """The media type a request declared, when it names one of ours or one that says
    nothing (`application/octet-stream`, none): None then."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in ("", "application/octet-stream", "binary/octet-stream"):
        return None
    return {"image/jpg": JPEG, "image/pjpeg": JPEG, "image/tif": TIFF}.get(media, media)


_JAVASCRIPT = re.compile(rb"/(?:JavaScript|JS)(?=[\s/<>\[\]()%]|$)")
_EOF = b"%%EOF"


def check_document(body: bytes, declared: str | None, limits: ReadLimits) -> str:
    """What the door checks, cheaply: size, type by bytes (agreeing with the declared one,
    if any), image dimensions, a PDF's end and JavaScript in its plain text. Returns the
    type; raises DocumentRefused with the answer to give."""
    if len(body) > limits.max_bytes:
        raise DocumentRefused(
            413,
            "payload_too_large",
            f"the document is {len(body)} bytes; at most {limits.max_bytes} are taken",
        )
    found = sniff(body)
    wanted = declared_type(declared)
    if wanted is not None and wanted != found:
        if wanted not in CONTENT_TYPES:
            raise DocumentRefused(
                415,
                "unsupported_media_type",
                f"content-type {wanted} is not a document type we read"
                f" ({', '.join(CONTENT_TYPES)})",
            )
        raise DocumentRefused(
            415,
            "content_type_mismatch",
            f"content-type says {wanted} but the bytes are {found}",
        )
    if found == PDF:
        _check_pdf(body)
    else:
        image_size(body, limits.max_pixels)
    return found


def _check_pdf(body: bytes) -> None:
    if _EOF not in body[-4096:]:
        raise DocumentRefused(
            422, "malformed_document", "the PDF has no %%EOF marker at its end: it is truncated"
        )
    if _JAVASCRIPT.search(body) is not None:
        raise DocumentRefused(
            422,
            "active_content",
            "the PDF carries JavaScript (/JS or /JavaScript); send it without scripts",
        )


def image_size(body: bytes, max_pixels: int) -> tuple[int, int]:
    """An image's width and height from its header, checked against `max_pixels` and for
    a body Pillow can walk (truncated or corrupt files fail here)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a corrupt EXIF block and the like: not fatal
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(body)) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise DocumentRefused(
                        413,
                        "image_too_large",
                        f"the image is {width}x{height} pixels; at most {max_pixels} are read",
                    )
                image.verify()
    except DocumentRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DocumentRefused(
            413, "image_too_large", f"the image has more than {max_pixels} pixels"
        ) from None
    except Exception as exc:  # Pillow raises many kinds for broken files
        raise DocumentRefused(
            422, "malformed_document", f"the image cannot be decoded: {_short(exc)}"
        ) from None
    return width, height


def _short(exc: BaseException) -> str:
    """An exception's message for a sender or an operator: no object addresses."""
    text = re.sub(r"\s*<[^<>]* at 0x[0-9a-f]+>", "", str(exc)).strip() or type(exc).__name__
    return text[:200]


# -- reading --------------------------------------------------------------------------------
def read_document(body: bytes, content_type: str, limits: ReadLimits) -> Reading:
    """The text of a document: a PDF's text layer (or its page images through OCR when it
    has none), an image's through OCR. Raises UnreadableDocument."""
    started = time.perf_counter()
    if content_type == PDF:
        reading = _read_pdf(body, limits)
    elif content_type in (PNG, JPEG, TIFF):
        reading = _read_image(body, limits)
    else:
        raise UnreadableDocument(f"no reader for {content_type}")
    reading.seconds = time.perf_counter() - started
    return reading


def _read_pdf(body: bytes, limits: ReadLimits) -> Reading:
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError, PyPdfError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pypdf warns on every tolerated flaw
            reader = PdfReader(io.BytesIO(body), strict=False)
            if reader.is_encrypted and reader.decrypt("") == 0:
                raise UnreadableDocument("the PDF is encrypted with a password")
            if _pdf_has_javascript(reader):
                raise UnreadableDocument(
                    "the PDF carries JavaScript (found inside its objects)", "refused"
                )
            pages = reader.pages
            count = len(pages)
            problems = []
            if count > limits.max_pages:
                problems.append(f"pages {limits.max_pages + 1} to {count} were not read")
            lines: list[TextLine] = []
            images: list[tuple[int, bytes]] = []
            for number in range(min(count, limits.max_pages)):
                page = pages[number]
                text = page.extract_text(extraction_mode="layout") or ""
                page_lines = [t for t in (s.rstrip() for s in text.splitlines()) if t.strip()]
                if page_lines:
                    lines.extend(TextLine(t, 1.0, number + 1) for t in page_lines)
                    continue
                for image in page.images:  # a scanned page: its picture, for OCR
                    images.append((number + 1, image.data))
    except UnreadableDocument:
        raise
    except LimitReachedError:
        raise UnreadableDocument(
            "a stream of the PDF inflates past the reader's limit (a decompression bomb)",
            "refused",
        ) from None
    except (PyPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise UnreadableDocument(f"the PDF cannot be parsed: {_short(exc)}") from None
    except RecursionError:
        raise UnreadableDocument("the PDF's objects nest without end", "refused") from None
    read = min(count, limits.max_pages)
    if lines or not images:
        if not lines:
            problems.append("the PDF has no text and no page images")
        return Reading("pdf_text", lines, count, read, problems)
    for page_number, data in images:
        try:
            image_size(data, limits.max_pixels)
        except DocumentRefused as exc:
            problems.append(f"page {page_number}: {exc}")
            continue
        lines.extend(_ocr(data, page_number))
    return Reading("pdf_ocr", lines, count, read, problems)


def _pdf_has_javascript(reader: Any) -> bool:
    """Scripts a PDF can run: document-level JavaScript, an open action, additional actions
    on the document or its pages. Looked up in the parsed objects, so a script hidden in a
    compressed object stream (which the door's byte scan cannot see) is found too."""
    root = reader.trailer.get("/Root")
    if root is None:
        return False
    root = root.get_object()
    names = root.get("/Names")
    if names is not None and "/JavaScript" in names.get_object():
        return True
    if "/AA" in root:
        return True
    action = root.get("/OpenAction")
    if action is not None:
        action = action.get_object()
        if isinstance(action, dict) and (action.get("/S") == "/JavaScript" or "/JS" in action):
            return True
    return any("/AA" in page for page in reader.pages[:50])


def _read_image(body: bytes, limits: ReadLimits) -> Reading:
    from PIL import Image

    image_size(body, limits.max_pixels)
    lines: list[TextLine] = []
    problems: list[str] = []
    try:
        with Image.open(io.BytesIO(body)) as image:
            frames = getattr(image, "n_frames", 1)
            for index in range(min(frames, limits.max_pages)):
                image.seek(index)
                lines.extend(_ocr_image(image.copy(), index + 1))
    except UnreadableDocument:
        raise
    except Exception as exc:
        raise UnreadableDocument(f"the image cannot be decoded: {_short(exc)}") from None
    if frames > limits.max_pages:
        problems.append(f"pages {limits.max_pages + 1} to {frames} were not read")
    read = min(frames, limits.max_pages)
    return Reading("ocr", lines, frames, read, problems)


def _ocr(data: bytes, page: int) -> list[TextLine]:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            return _ocr_image(image.copy(), page)
    except UnreadableDocument:
        raise
    except Exception as exc:
        raise UnreadableDocument(f"page {page}'s image cannot be decoded: {_short(exc)}") from None


_ENGINE: Any = None
OCR_EXTRA = "pip install 'intermodal[ocr]'"


def ocr_engine() -> Any:
    """The OCR engine, loaded once per reading process (its models take half a second)."""
    global _ENGINE
    if _ENGINE is None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError:
            raise UnreadableDocument(
                f"this is a scan and the OCR engine is not installed ({OCR_EXTRA})"
            ) from None
        _ENGINE = RapidOCR()
    return _ENGINE


def prepare_for_ocr(image: Any) -> Any:
    """A scan made easier to read: upright (its EXIF orientation), grey, and scaled so
    that its longer side is about 1240 px (a letter page at 110 dpi).

    Carriers' scans and photos come at 200 to 300 dpi, often speckled and JPEG-blocky.
    Scaled down, the speckle and the blocks average out before the detector sees them,
    and detection runs on half the pixels: on the generated scans this read more fields
    right than the full-size page and took a quarter less time; a median filter or a
    contrast stretch read fewer (they thin or blot strokes). A small photo is enlarged
    to the same size, so its text reaches the line height the recognizer was trained on.
    bench/documents.py measures this against OCR of the image as it came."""
    from PIL import Image, ImageOps

    grey = ImageOps.exif_transpose(image).convert("L")
    width, height = grey.size
    longest = max(width, height)
    if longest > 1400 or longest < 900:
        scale = 1240 / longest
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        grey = grey.resize(size, Image.Resampling.LANCZOS)
    return grey


def _ocr_image(image: Any, page: int, prepare: bool = True) -> list[TextLine]:
    import numpy as np

    engine = ocr_engine()
    prepared = prepare_for_ocr(image) if prepare else image.convert("L")
    pixels = np.asarray(prepared.convert("RGB"))
    result, _elapsed = engine(pixels)
    return ocr_lines(result or [], page)


def ocr_lines(boxes: list[Any], page: int) -> list[TextLine]:
    """OCR boxes (corner points, text, score) gathered into lines, left to right, with two
    spaces between boxes so that a label and its value stay apart as in a PDF's layout."""
    items = []
    for box in boxes:
        points, text, score = box[0], str(box[1]), float(box[2])
        ys = [float(p[1]) for p in points]
        xs = [float(p[0]) for p in points]
        items.append((min(ys), max(ys), min(xs), text, score))
    items.sort(key=lambda i: (i[0] + i[1]) / 2)
    rows: list[list[tuple[float, float, float, str, float]]] = []
    for item in items:
        middle = (item[0] + item[1]) / 2
        if rows:
            last = rows[-1]
            top = sum(i[0] for i in last) / len(last)
            bottom = sum(i[1] for i in last) / len(last)
            if top <= middle <= bottom:
                last.append(item)
                continue
        rows.append([item])
    lines = []
    for row in rows:
        row.sort(key=lambda i: i[2])
        text = "  ".join(i[3] for i in row)
        confidence = min(i[4] for i in row)
        lines.append(TextLine(text, round(confidence, 3), page))
    return lines


# -- the reading process --------------------------------------------------------------------
class ReadingProcess:
    """A child process that reads one document at a time under the time and memory budget.

    Started on first use and kept (the OCR models load once); when a reading overruns
    `read_seconds` the child is killed and the next document starts a fresh one. Not
    thread-safe: the reader calls it from one thread at a time.
    """

    def __init__(self, limits: ReadLimits) -> None:
        self.limits = limits
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._conn: Connection | None = None
        self._closed = False

    def read(self, body: bytes, content_type: str) -> Reading:
        """Raises UnreadableDocument: the file's own problem, or the budget spent;
        ReadingStopped when `close` was called meanwhile."""
        if self._closed:
            raise ReadingStopped("the reading process is closed")
        conn = self._started()
        try:
            conn.send((body, content_type, self.limits))
        except (OSError, EOFError):
            self._stop()
            raise UnreadableDocument("the reading process could not be reached") from None
        if not conn.poll(self.limits.read_seconds):
            if self._closed:
                raise ReadingStopped("the reading process was closed while it read")
            self._stop()
            raise UnreadableDocument(
                f"reading took longer than {self.limits.read_seconds:g} s"
                " (documents.read_seconds); stopped"
            )
        try:
            outcome = conn.recv()
        except (OSError, EOFError):
            if self._closed:
                raise ReadingStopped("the reading process was closed while it read") from None
            self._stop()
            raise UnreadableDocument(
                "the reading process died on this document (out of memory or crashed)",
                "refused",
            ) from None
        kind, value = outcome
        if kind == "ok":
            assert isinstance(value, Reading)
            return value
        message, status = value
        raise UnreadableDocument(message, status)

    def _started(self) -> Connection:
        if self._process is not None and self._process.is_alive() and self._conn is not None:
            return self._conn
        self._stop()
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(child, self.limits.memory_mb), name="document-reader", daemon=True
        )
        start_deaf_to_sigint(process)  # a Ctrl-C stops the hub, which stops the reader
        child.close()
        self._process, self._conn = process, parent
        return parent

    def close(self) -> None:
        """Stop the child; a `read` in progress raises ReadingStopped."""
        self._closed = True
        self._stop()

    def _stop(self) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            conn.close()
        if process is not None:
            if process.is_alive():
                process.kill()
            process.join(timeout=5)


def _serve(conn: Connection, memory_mb: int) -> None:
    """The child: cap the address space, then read what comes until the pipe closes."""
    import resource

    name_process(READER_NAME)
    ignore_sigint()

    cap = memory_mb * 1024 * 1024
    with contextlib.suppress(ValueError, OSError):  # a lower hard limit already: keep it
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    while True:
        try:
            body, content_type, limits = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reading = read_document(body, content_type, limits)
            conn.send(("ok", reading))
        except UnreadableDocument as exc:
            conn.send(("error", (str(exc), exc.status)))
        except MemoryError:
            conn.send(
                ("error", ("reading it needed more memory than documents.memory_mb", "refused"))
            )
        except Exception as exc:  # a parser's bug on a strange file: that file fails alone
            conn.send(
                ("error", (f"the reader failed: {type(exc).__name__}: {_short(exc)}", "unreadable"))
            )
