"""What an uploaded file is, decided from its bytes, and the clean copy of an image.

Nothing here trusts the client: the type comes from the first bytes (filetype's
magic-number matchers, then our own rules for plain text), never from a declared type
or a file name; a file name is only ever shown, after it was cleaned. Images are
decoded by Pillow and re-encoded without their metadata.
"""

import codecs
import io
import re
import tempfile
import unicodedata
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

import filetype
from filetype.types import archive, image
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from app.errors import AppError, InvalidAttachment, UnsupportedAttachmentType

# Decompression bombs: Pillow refuses to open more (DecompressionBombError above twice
# this; above it a DecompressionBombWarning, made an error here for the whole process,
# since a filter set around each call would not be thread-safe).
MAX_IMAGE_PIXELS = 50_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
THUMBNAIL_PX = 320
HEAD_BYTES = 4096  # what the type is decided from
MAX_FILENAME = 200  # characters, extension kept
ZIP_TAIL = 65_535 + 22  # the end-of-central-directory record and the longest comment
PDF_TAIL = 1024


@dataclass(frozen=True)
class FileKind:
    """A type we accept: its ATTACHMENT_TYPES name, the Content-Type it is served with,
    the usual extension, the Pillow format of an image (None otherwise), and the other
    extensions a file name of this type may keep (lower case)."""

    name: str
    content_type: str
    extension: str
    pillow_format: str | None = None
    also: tuple[str, ...] = ()

    def fits(self, extension: str) -> bool:
        """Whether a file name ending in `.extension` opens as this type (any case)."""
        return extension.lower() in (self.extension, *self.also)


KINDS = {
    "png": FileKind("png", "image/png", "png", "PNG"),
    "jpeg": FileKind("jpeg", "image/jpeg", "jpg", "JPEG", also=("jpeg", "jpe", "jfif")),
    "gif": FileKind("gif", "image/gif", "gif", "GIF"),
    "webp": FileKind("webp", "image/webp", "webp", "WEBP"),
    "pdf": FileKind("pdf", "application/pdf", "pdf"),
    # Office and e-book documents are ZIP containers; none of these formats runs code on opening.
    "zip": FileKind(
        "zip", "application/zip", "zip", also=("docx", "xlsx", "pptx", "odt", "ods", "odp", "epub")
    ),
    "text": FileKind("text", "text/plain; charset=utf-8", "txt", also=("text", "md", "log")),
}
_MATCHERS = {
    "png": image.Png(),
    "jpeg": image.Jpeg(),
    "gif": image.Gif(),
    "webp": image.Webp(),
    "pdf": archive.Pdf(),
    "zip": archive.Zip(),  # any ZIP container (docx, odt, jar...) is a ZIP
}
_UNSUPPORTED = "Only {allowed} files can be attached; this one is {what}."


def sniff(head: bytes, allowed: frozenset[str]) -> FileKind:
    """The kind of a file from its first bytes (at least HEAD_BYTES of them unless the file
    is shorter); UnsupportedAttachmentType for anything not allowed."""
    for name, matcher in _MATCHERS.items():
        if matcher.match(head):
            if name not in allowed:
                raise UnsupportedAttachmentType(_unsupported(allowed, KINDS[name].content_type))
            return KINDS[name]
    known = filetype.guess(head)
    if known is not None:  # a binary type we do not take (an executable, a video...)
        raise UnsupportedAttachmentType(_unsupported(allowed, known.mime))
    markup = markup_kind(head)
    if markup is not None:
        raise UnsupportedAttachmentType(_unsupported(allowed, markup))
    if "text" in allowed and _starts_as_text(head):
        return KINDS["text"]
    raise UnsupportedAttachmentType(_unsupported(allowed, "of a type that is not recognised"))


def _unsupported(allowed: frozenset[str], what: str) -> str:
    names = ", ".join(name.upper() if name != "text" else "plain text" for name in KINDS if name in allowed)
    return _UNSUPPORTED.format(allowed=names, what=what)


# What browsers sniff as HTML or XML at the start of a document (WHATWG MIME Sniffing,
# "identifying a resource with an unknown MIME type"): after white space, these patterns
# followed by a space or ">" (the tag-terminating byte), <?xml, and SVG.
_HTML_START = re.compile(
    rb"<(?:!doctype\s+html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p|!--)[\s>]"
    rb"|<\?xml|<svg",
    re.IGNORECASE,
)
# Tags older browsers found anywhere in the first bytes (MSIE looked at the first 256).
_HTML_ANYWHERE = re.compile(rb"<(?:html|svg|script|body|iframe|!doctype|\?xml)", re.IGNORECASE)


def markup_kind(head: bytes) -> str | None:
    """ "HTML, XML or SVG" when a browser could take these bytes for markup, else None."""
    start = head.removeprefix(codecs.BOM_UTF8).lstrip(b"\t\n\x0c\r ")
    if _HTML_START.match(start) or _HTML_ANYWHERE.search(head[:1024]):
        return "HTML, XML or SVG"
    return None


def _starts_as_text(head: bytes) -> bool:
    """UTF-8 without NUL (a sequence cut at the end of the head is fine)."""
    if b"\x00" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < HEAD_BYTES)
    except UnicodeDecodeError:
        return False
    return True


class Check:
    """Watches a file's bytes as they stream past; `finish` raises if the whole is not
    what its head said."""

    def feed(self, chunk: bytes) -> None:
        """Look at the next bytes."""

    def finish(self) -> None:
        """The end of the file: raise InvalidAttachment (or UnsupportedAttachmentType) if it is wrong."""


class TextCheck(Check):
    """Plain text: UTF-8 all through, no NUL."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()

    def feed(self, chunk: bytes) -> None:
        """Decode the chunk (the decoder keeps a sequence cut between chunks)."""
        if b"\x00" in chunk:
            raise UnsupportedAttachmentType("A text file must not contain NUL bytes.")
        if chunk.isascii() and not self._decoder.getstate()[0]:
            return  # ASCII is UTF-8, and no sequence is waiting for its end: nothing to decode
        try:
            self._decoder.decode(chunk)
        except UnicodeDecodeError:
            raise UnsupportedAttachmentType("A text file must be UTF-8.") from None

    def finish(self) -> None:
        """No sequence may be left unfinished."""
        try:
            self._decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise UnsupportedAttachmentType("A text file must be UTF-8.") from None


class TailCheck(Check):
    """Keeps the last bytes of the file for a rule about its end."""

    def __init__(self, keep: int, rule: Callable[[bytes], None]) -> None:
        self._keep = keep
        self._tail = bytearray()
        self._rule = rule

    def feed(self, chunk: bytes) -> None:
        """Remember the end of what came so far."""
        self._tail += chunk[-self._keep :]
        if len(self._tail) > 2 * self._keep:
            del self._tail[: -self._keep]

    def finish(self) -> None:
        """Apply the rule to the last bytes."""
        self._rule(bytes(self._tail[-self._keep :]))


def _pdf_ends_well(tail: bytes) -> None:
    if b"%%EOF" not in tail or b"startxref" not in tail:
        raise InvalidAttachment("The file starts like a PDF but is not one (it has no PDF trailer).")


def _zip_ends_well(tail: bytes) -> None:
    if b"PK\x05\x06" not in tail:
        raise InvalidAttachment("The file starts like a ZIP archive but is not one (no central directory).")


def checks_for(kind: FileKind, head: bytes) -> list[Check]:
    """What the rest of a file of this kind must satisfy (its head already sniffed)."""
    if kind.name == "text":
        return [TextCheck()]
    if kind.name == "pdf":
        # A PDF starts with its version; markup in its first bytes is a polyglot, not a document.
        if not re.match(rb"%PDF-\d\.\d", head.removeprefix(codecs.BOM_UTF8)) or markup_kind(head):
            raise InvalidAttachment("The file starts like a PDF but is not one.")
        return [TailCheck(PDF_TAIL, _pdf_ends_well)]
    if kind.name == "zip":
        return [TailCheck(ZIP_TAIL, _zip_ends_well)]
    return []


# -- file names --------------------------------------------------------------------------

# Removed from names: control, format (bidirectional overrides, zero-width), surrogate,
# unassigned and line/paragraph separator characters.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Cn", "Zl", "Zp"})


def clean_filename(raw: str | None, kind: FileKind) -> str:
    """A name safe to show and to offer for download: the last path segment of what the
    client sent, without hidden characters, leading dots or surrounding space, ending in
    an extension of its sniffed type (added when it has another: `run.bat` becomes
    `run.bat.txt`), at most MAX_FILENAME characters; `attachment.<ext>` when nothing is left."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch) not in _HIDDEN_CATEGORIES)
    name = " ".join(name.split()).strip(" .")
    stem, dot, extension = name.rpartition(".")
    if not (dot and stem and kind.fits(extension)):
        stem, extension = name, kind.extension
    stem = stem[: MAX_FILENAME - len(extension) - 1].rstrip(" .") or "attachment"
    return f"{stem}.{extension}"


# -- images ------------------------------------------------------------------------------

# What a re-encoded image keeps of the original's info: how to show it (colour profile,
# transparency, animation), never EXIF, GPS, XMP, comments or text chunks.
_KEPT_INFO = ("icc_profile", "transparency", "duration", "loop", "background")


@dataclass
class CleanImage:
    """An image re-encoded without metadata, its size in pixels and a WebP thumbnail."""

    data: BinaryIO  # at position 0
    width: int
    height: int
    thumbnail: bytes


THUMBNAIL_TYPE = "image/webp"


def clean_image(source: BinaryIO, kind: FileKind) -> CleanImage:
    """Decode the image (refusing bombs and damaged files), apply its EXIF orientation,
    re-encode it in its own format without metadata, and make the thumbnail.

    CPU-bound: callers run it off the event loop, a bounded number at a time.
    """
    assert kind.pillow_format is not None
    try:
        with Image.open(source, formats=[kind.pillow_format]) as original:
            return _reencode(original, kind)
    except AppError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels() from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as error:
        raise InvalidAttachment(
            f"The image could not be read: it is damaged or truncated ({_reason(error)})."
        ) from None
    except Exception as error:  # a decoder's own failure on crafted input (struct.error, ...)
        raise InvalidAttachment(f"The image could not be read ({_reason(error)}).") from None


def _too_many_pixels() -> InvalidAttachment:
    return InvalidAttachment(f"The image has too many pixels (at most {MAX_IMAGE_PIXELS:,} in all).")


def _reason(error: BaseException) -> str:
    text = str(error).strip() or error.__class__.__name__
    return text[:120]


def _reencode(original: Image.Image, kind: FileKind) -> CleanImage:
    width, height = original.size
    frames = getattr(original, "n_frames", 1)
    if width * height * frames > MAX_IMAGE_PIXELS:  # from the header, before any decoding
        raise _too_many_pixels()
    cleaned = [_clean_frame(frame) for frame in ImageSequence.Iterator(original)]
    first = cleaned[0]
    # Past 1 MiB the re-encoded image goes to disk, as the upload did (its pixels are in
    # memory while it is decoded: at most 50 MP, two images at once per process).
    out = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115  (returned)
    options = _save_options(kind, first)
    if len(cleaned) > 1:
        options.update(
            save_all=True,
            append_images=cleaned[1:],
            duration=[frame.info.get("duration", 100) for frame in cleaned],
        )
        if "loop" in original.info:
            options["loop"] = original.info["loop"]
    first.save(out, kind.pillow_format, **options)
    out.seek(0)
    return CleanImage(out, first.width, first.height, _thumbnail(first))


def _clean_frame(frame: Image.Image) -> Image.Image:
    """A copy of the frame turned upright, with only the info needed to show it."""
    upright = ImageOps.exif_transpose(frame)  # a new image (a copy when already upright)
    upright.info = {key: frame.info[key] for key in _KEPT_INFO if key in frame.info}
    return upright


def _save_options(kind: FileKind, image_: Image.Image) -> dict:
    """Encoder settings per format (quality near the original's, no metadata)."""
    if kind.name == "jpeg":
        if image_.mode not in ("L", "RGB", "CMYK"):
            raise InvalidAttachment(f"This JPEG's colour mode ({image_.mode}) is not supported.")
        return {"quality": 90, "icc_profile": image_.info.get("icc_profile")}
    if kind.name == "webp":
        return {"quality": 90, "icc_profile": image_.info.get("icc_profile")}
    if kind.name == "png":
        return {"icc_profile": image_.info.get("icc_profile")} if "icc_profile" in image_.info else {}
    return {}


def _thumbnail(first: Image.Image) -> bytes:
    """At most THUMBNAIL_PX on each side, WebP."""
    thumb = first.copy()
    has_alpha = thumb.mode in ("RGBA", "LA", "PA") or "transparency" in thumb.info
    thumb = thumb.convert("RGBA" if has_alpha else "RGB")
    thumb.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    thumb.save(out, "WEBP", quality=80)
    return out.getvalue()
