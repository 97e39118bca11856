"""Files for the attachment tests, made here (images with Pillow), and the upload request."""

import io
import struct
import zipfile
import zlib
from typing import Any

from PIL import Image

GPS_LATITUDE = (48.0, 51.0, 24.0)  # Paris, as an EXIF GPS rational triple
CAMERA = "SecretCam 3000"
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">SECRET-XMP-PACKET</x:xmpmeta>'
COMMENT = b"SECRET-JPEG-COMMENT"


def image_bytes(fmt: str, size: tuple[int, int] = (64, 48), **save: Any) -> bytes:
    """A small image of one colour in `fmt` (PNG, JPEG, GIF, WEBP)."""
    mode = "P" if fmt == "GIF" else "RGB"
    out = io.BytesIO()
    Image.new(mode, size, 3 if mode == "P" else (200, 40, 40)).save(out, fmt, **save)
    return out.getvalue()


def revealing_exif(orientation: int = 1) -> Image.Exif:
    """EXIF with a camera model, GPS coordinates and an orientation."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x0110] = CAMERA  # Model
    exif[0x8825] = {1: "N", 2: GPS_LATITUDE, 3: "E", 4: (2.0, 21.0, 3.0)}  # GPSInfo
    return exif


def jpeg_with_metadata(size: tuple[int, int] = (80, 40), orientation: int = 6) -> bytes:
    """A JPEG carrying EXIF (camera, GPS, orientation 6: rotate 90 degrees), XMP and a comment."""
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(
        out, "JPEG", exif=revealing_exif(orientation), xmp=XMP, comment=COMMENT
    )
    return out.getvalue()


def png_with_metadata(size: tuple[int, int] = (80, 40)) -> bytes:
    """A PNG carrying a text chunk and EXIF (eXIf chunk)."""
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "SECRET-PNG-TEXT")
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, "PNG", pnginfo=info, exif=revealing_exif())
    return out.getvalue()


def webp_with_metadata(size: tuple[int, int] = (80, 40)) -> bytes:
    """A WebP carrying EXIF and XMP."""
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, "WEBP", exif=revealing_exif(), xmp=XMP)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """The first chunks of a PNG claiming width x height (no pixel data: nothing to decode)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def pdf_bytes() -> bytes:
    """A one-page PDF (Pillow writes a real one)."""
    out = io.BytesIO()
    Image.new("RGB", (20, 20), (255, 255, 255)).save(out, "PDF")
    return out.getvalue()


def zip_bytes() -> bytes:
    """A ZIP archive with one text file."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("notes.txt", "inside the archive")
    return out.getvalue()


TEXT = "Plain notes, UTF-8: déjà vu, 日本語, emoji 🙂.\nSecond line.\n".encode()

# One file of each allowed type: (bytes, expected contentType)
SAMPLES = {
    "png": (lambda: image_bytes("PNG"), "image/png"),
    "jpeg": (lambda: image_bytes("JPEG"), "image/jpeg"),
    "gif": (lambda: image_bytes("GIF"), "image/gif"),
    "webp": (lambda: image_bytes("WEBP"), "image/webp"),
    "pdf": (pdf_bytes, "application/pdf"),
    "text": (lambda: TEXT, "text/plain; charset=utf-8"),
    "zip": (zip_bytes, "application/zip"),
}


def upload(
    client: Any,
    who: Any,
    data: bytes,
    filename: str = "file.bin",
    content_type: str = "application/octet-stream",
    **extra_parts: Any,
) -> Any:
    """POST /api/attachments through the test client: one `file` part (and any extra parts)."""
    parts = {"file": (io.BytesIO(data), filename, content_type), **extra_parts}
    return client.post(
        "/api/attachments", data=parts, headers=who.headers, content_type="multipart/form-data"
    )


def uploaded(client: Any, who: Any, data: bytes, filename: str = "file.bin") -> dict[str, Any]:
    """Upload a file that must be accepted; its attachment object."""
    response = upload(client, who, data, filename)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["attachment"]


def upload_with_disposition(client: Any, who: Any, data: bytes, disposition: str) -> Any:
    """POST /api/attachments with the file part's Content-Disposition parameters exactly as
    given (a browser's `filename*=UTF-8''...`, say), in a body built by hand."""
    body = (
        b'--xyz\r\nContent-Disposition: form-data; name="file"; '
        + disposition.encode("latin-1")
        + b"\r\nContent-Type: application/octet-stream\r\n\r\n"
        + data
        + b"\r\n--xyz--\r\n"
    )
    return client.post(
        "/api/attachments", data=body, headers=who.headers, content_type="multipart/form-data; boundary=xyz"
    )
