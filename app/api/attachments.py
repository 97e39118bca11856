"""Attachments: upload one (multipart, streamed to storage), download it or its thumbnail."""

import os
import unicodedata
import uuid
from typing import Any, BinaryIO
from urllib.parse import quote

from flask import Blueprint, Response, current_app, request
from flask_jwt_extended import current_user, jwt_required
from werkzeug.exceptions import ClientDisconnected, RequestedRangeNotSatisfiable, RequestEntityTooLarge
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData, Preamble
from werkzeug.wsgi import wrap_file

from app import green
from app.api.messages import user_rate_key
from app.api.spec import UnsupportedMediaType, endpoint
from app.errors import AppError, AttachmentNotFound, AttachmentTooLarge, ValidationFailed
from app.extensions import limiter
from app.models import Attachment
from app.schemas import AttachmentEnvelope
from app.services import attachments
from app.services.attachment_files import THUMBNAIL_TYPE
from app.settings import attachment_settings
from app.storage import app_storage

bp = Blueprint("attachments", __name__, url_prefix="/api/attachments")

FILE_PART = "file"
# What a multipart body may carry besides the file's bytes: the boundaries and the part's
# headers (the file name among them). The body limit is MAX_ATTACHMENT_BYTES plus this.
MULTIPART_OVERHEAD = 16 * 1024
READ_CHUNK = 64 * 1024
# Headers of a part, or an epilogue, held in memory at most.
MAX_BUFFERED = READ_CHUNK + MULTIPART_OVERHEAD
# Served files: never sniffed, never run (a sandbox with nothing allowed), kept only by
# the browser and revalidated before reuse, so an expired attachment is not shown from a cache.
FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, no-cache",
}
_NOT_QUOTABLE = str.maketrans({'"': "_", "\\": "_"})


class RangeNotSatisfiable(AppError):
    """416 with `Content-Range: bytes */size` (RFC 9110), which the generic handler of
    Werkzeug's exception would drop: a Range that is malformed, names several ranges, or
    starts past the end."""

    code = "range_not_satisfiable"
    status = 416
    message = "The requested range is not satisfiable: ask for one range of bytes within the file."

    def __init__(self, size: int) -> None:
        super().__init__(headers={"Content-Range": f"bytes */{size}"})


def upload_rate_limit() -> str:
    """The per-user upload limit from the settings."""
    return current_app.config["UPLOAD_RATE_LIMIT"]


def _multipart_problem(message: str) -> ValidationFailed:
    return ValidationFailed(message, fields=[{"field": FILE_PART, "message": message}])


class MultipartFile:
    """The one file part of a multipart/form-data body, read as a stream as it arrives.

    `open()` reads up to the part's headers; `read()` gives its bytes, and at their end
    checks that nothing but the closing boundary follows. A body with another part, no
    file part, or broken framing is refused (ValidationFailed); one over the request's
    limit with AttachmentTooLarge. Only one network chunk is held at a time.
    """

    def __init__(self, stream: BinaryIO, boundary: bytes, part: str) -> None:
        self._stream = stream
        self._decoder = MultipartDecoder(boundary, max_form_memory_size=MAX_BUFFERED)
        self._part = part
        self._pending = b""
        self._done = False
        self.filename: str | None = None

    def open(self) -> "MultipartFile":
        """Read up to the headers of the file part."""
        while True:
            event = self._next_event()
            if isinstance(event, Preamble):
                continue
            if isinstance(event, File) and event.name == self._part:
                self.filename = event.filename
                return self
            if isinstance(event, Field | File):
                raise _multipart_problem(f"send exactly one part, the file, named {self._part!r}")
            raise _multipart_problem(f"a file part named {self._part!r} is required")

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes of the file (all that arrived, for -1); b"" at its end."""
        while not self._pending and not self._done:
            event = self._next_event()
            if not isinstance(event, Data):
                raise _multipart_problem("the body is not valid multipart/form-data")
            self._pending = event.data
            if not event.more_data:
                self._expect_end()
        if 0 <= size < len(self._pending):
            chunk, self._pending = self._pending[:size], self._pending[size:]
        else:
            chunk, self._pending = self._pending, b""
        return chunk

    def _expect_end(self) -> None:
        """After the file: only the closing boundary (and an epilogue) may follow."""
        self._done = True
        while not isinstance(event := self._next_event(), Epilogue):
            if isinstance(event, Field | File):
                raise _multipart_problem(f"send exactly one part, the file, named {self._part!r}")

    def _next_event(self) -> Any:
        """The decoder's next event, reading the body as it needs more."""
        try:
            while isinstance(event := self._decoder.next_event(), NeedData):
                self._decoder.receive_data(self._stream.read(READ_CHUNK) or None)
                green.pause()  # each chunk, so other requests run while a big upload streams
            return event
        except RequestEntityTooLarge:
            raise _too_large() from None
        except ClientDisconnected:
            raise _multipart_problem("the body ended early") from None
        except ValueError as error:  # broken framing, headers that are not UTF-8
            raise _multipart_problem(f"the body is not valid multipart/form-data ({error})") from None


def _too_large() -> AttachmentTooLarge:
    limit = current_app.config["MAX_ATTACHMENT_BYTES"]
    return AttachmentTooLarge(f"The file is larger than {limit:,} bytes ({limit / 2**20:g} MiB), the limit.")


@bp.post("")
@jwt_required()
@limiter.limit(upload_rate_limit, key_func=user_rate_key)
@endpoint(
    "Upload a file to send with a message (multipart/form-data, one part: file)",
    response=AttachmentEnvelope,
    status=201,
    errors=(400, 413, 415, 429),
    upload=FILE_PART,
)
def upload() -> Any:
    """Stream the file to storage; its type comes from its bytes (images are re-encoded
    without metadata). It stays the uploader's until a send attaches it."""
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType("Send the file as multipart/form-data with one part named file.")
    boundary = request.mimetype_params.get("boundary", "").encode("latin-1", "replace")
    if not boundary:
        raise _multipart_problem("the multipart/form-data content type has no boundary")
    settings = attachment_settings()
    body_limit = settings.max_bytes + MULTIPART_OVERHEAD
    if request.content_length is not None and request.content_length > body_limit:
        raise _too_large()  # before a byte of the body is read
    request.max_content_length = body_limit  # this request only; JSON endpoints keep 64 KiB
    part = MultipartFile(request.stream, boundary, FILE_PART).open()
    at_least = max(0, (request.content_length or 0) - MULTIPART_OVERHEAD)  # the file, without framing
    attachment = attachments.upload_attachment(
        current_user.id, attachments.Upload(part.filename, part, at_least), settings, app_storage()
    )
    return {"attachment": attachment}, 201


@bp.get("/<uuid:attachment_id>")
@jwt_required()
@endpoint("Download an attachment (Range and conditional requests)", errors=(404, 416), produces="*/*")
def download(attachment_id: uuid.UUID) -> Any:
    """The file, to the participants of its message's conversation (and its uploader before
    it is sent); images inline, everything else as a download. Marks nothing read."""
    attachment = attachments.find_readable(current_user.id, attachment_id)
    disposition = "inline" if attachment.is_image else "attachment"
    return _serve(
        attachment,
        attachment.storage_key,
        attachment.content_type,
        disposition,
        attachment.filename,
        etag=str(attachment.id),
    )


@bp.get("/<uuid:attachment_id>/thumbnail")
@jwt_required()
@endpoint("An image attachment's thumbnail (at most 320 px, WebP)", errors=(404,), produces="image/webp")
def thumbnail(attachment_id: uuid.UUID) -> Any:
    """The thumbnail of an image attachment, to whoever may read the attachment."""
    attachment = attachments.find_readable(current_user.id, attachment_id)
    if attachment.thumbnail_key is None:
        raise AttachmentNotFound("This attachment has no thumbnail.")
    name = attachments.thumbnail_name(attachment)
    return _serve(
        attachment,
        attachment.thumbnail_key,
        THUMBNAIL_TYPE,
        "inline",
        name,
        etag=f"{attachment.id}-thumbnail",
    )


def _serve(
    attachment: Attachment, key: str, content_type: str, disposition: str, name: str, *, etag: str
) -> Response:
    """Stored bytes with the file headers, answering conditional (ETag, Last-Modified:
    304) and Range (206) requests. Bytes gone from storage answer 404 like a missing one."""
    try:
        file = app_storage().open(key)
    except FileNotFoundError:
        raise AttachmentNotFound() from None
    size = file.seek(0, os.SEEK_END)
    file.seek(0)
    response = current_app.response_class(
        wrap_file(request.environ, file), content_type=content_type, direct_passthrough=True
    )
    response.content_length = size
    response.last_modified = attachment.created_at
    response.set_etag(etag)
    response.headers.set("Content-Disposition", disposition, **_filename_parameters(name))
    response.headers.update(FILE_HEADERS)
    try:
        return response.make_conditional(request.environ, accept_ranges=True, complete_length=size)
    except RequestedRangeNotSatisfiable:
        file.close()
        raise RangeNotSatisfiable(size) from None


def _filename_parameters(name: str) -> dict[str, str]:
    """filename (ASCII, `"` and `\\` replaced rather than escaped, which not every client
    undoes) and, for any other name, filename* (RFC 6266 / RFC 5987, UTF-8)."""
    simple = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    simple = simple.translate(_NOT_QUOTABLE)
    if simple == name:
        return {"filename": name}
    return {"filename": simple or "attachment", "filename*": f"UTF-8''{quote(name, safe='!#$&+-.^_`|~')}"}
