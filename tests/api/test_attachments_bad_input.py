"""Attachments that must be refused: each a clear 4xx, and nothing stored (no row, no file).

Choices made here:
- a file that starts with %PDF- is a PDF by its bytes; one that has no PDF trailer
  (startxref, %%EOF) or has markup in its first bytes, like a script behind a PDF
  header, is refused as invalid_attachment (400). A well-formed PDF is served as a
  download with `sandbox` and nosniff, so even a PDF that carries a script runs nothing.
- a file name is cleaned rather than refused: the path, control, format and
  bidirectional characters go, the length is cut keeping the extension.
"""

import io
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support.snapshot import db_state
from support.uploads import (
    TEXT,
    image_bytes,
    pdf_bytes,
    png_header_only,
    upload,
    upload_with_disposition,
    uploaded,
    zip_bytes,
)

from app.extensions import db
from app.models import Attachment

HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="5"/></svg>'
XML_SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
SCRIPT_WITH_PDF_HEADER = b"%PDF-1.7\n<script>fetch('/api/auth/me')</script>\n"


def stored_files(app: Any) -> list[str]:
    root = Path(app.config["UPLOAD_DIR"])
    return sorted(os.listdir(root)) if root.exists() else []


def attachment_count() -> int:
    db.session.rollback()
    count = db.session.scalar(sa.select(sa.func.count()).select_from(Attachment))
    db.session.rollback()
    return int(count or 0)


def assert_refused(app: Any, response: Any, status: int, code: str) -> dict[str, Any]:
    """The answer is the error, and neither a row nor a file (nor a temporary) was kept."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    assert attachment_count() == 0
    assert stored_files(app) == []
    return body["error"]


@pytest.mark.parametrize(
    "data",
    [HTML, b"\n\n   " + HTML, SVG, XML_SVG, b"\xef\xbb\xbf<html><p>hi</p></html>", b"<b>bold</b> text"],
    ids=["html", "html-after-space", "svg", "xml-svg", "html-after-bom", "html-fragment"],
)
def test_markup_named_png_and_declared_png_is_refused(app, client, alice, data):
    response = upload(client, alice, data, filename="cute-cat.png", content_type="image/png")
    error = assert_refused(app, response, 415, "unsupported_attachment_type")
    assert "HTML, XML or SVG" in error["message"]


def test_markup_a_little_way_into_a_text_file_is_refused(app, client, alice):
    response = upload(client, alice, b"Dear reader,\n<svg onload=alert(1)>", "notes.txt", "text/plain")
    assert_refused(app, response, 415, "unsupported_attachment_type")


@pytest.mark.parametrize(
    "data",
    [SCRIPT_WITH_PDF_HEADER, b"%PDF-1.4\n" + b"x" * 5000, b"%PDF-1.4\n<html>\nstartxref\n0\n%%EOF\n"],
    ids=["script", "no-trailer", "markup-with-trailer"],
)
def test_a_script_with_a_pdf_header_is_refused(app, client, alice, data):
    response = upload(client, alice, data, filename="invoice.pdf", content_type="application/pdf")
    assert_refused(app, response, 400, "invalid_attachment")


def test_a_zip_header_without_an_archive_is_refused(app, client, alice):
    response = upload(client, alice, b"PK\x03\x04" + b"<script>alert(1)</script>" * 10, "a.zip")
    assert_refused(app, response, 400, "invalid_attachment")


@pytest.mark.parametrize(
    "data",
    [
        b"\x7fELF\x02\x01\x01" + b"\0" * 200,  # an executable
        b"MZ\x90\x00" + b"\0" * 200,  # a Windows executable
        b"caf\xe9 au lait, not UTF-8\n",
        b"text with a NUL\0 in it",
        os.urandom(3000),
    ],
    ids=["elf", "exe", "latin-1-text", "nul-text", "random"],
)
def test_files_of_other_types_are_refused(app, client, alice, data):
    response = upload(client, alice, data, filename="notes.txt", content_type="text/plain")
    assert_refused(app, response, 415, "unsupported_attachment_type")


def test_invalid_utf8_after_the_first_bytes_is_refused(app, client, alice):
    data = b"a" * 100_000 + b"\xff\xfe" + b"b" * 100
    assert_refused(app, upload(client, alice, data, "long.txt"), 415, "unsupported_attachment_type")


def test_a_type_left_out_of_attachment_types_is_refused(app, client, alice):
    app.config["ATTACHMENT_TYPES"] = "png,jpeg,text"
    response = upload(client, alice, image_bytes("GIF"), "anim.gif", "image/gif")
    error = assert_refused(app, response, 415, "unsupported_attachment_type")
    assert "PNG, JPEG, plain text" in error["message"]


def test_a_zero_byte_file_is_refused(app, client, alice):
    error = assert_refused(app, upload(client, alice, b"", "empty.txt"), 400, "invalid_attachment")
    assert "empty" in error["message"]


def test_a_missing_file_part_is_refused(app, client, alice):
    no_parts = client.post(
        "/api/attachments", data={}, headers=alice.headers, content_type="multipart/form-data; boundary=x"
    )
    assert_refused(app, no_parts, 400, "validation_error")
    field_only = client.post(
        "/api/attachments", data={"name": "value"}, headers=alice.headers, content_type="multipart/form-data"
    )
    assert assert_refused(app, field_only, 400, "validation_error")["fields"][0]["field"] == "file"
    wrong_name = client.post(
        "/api/attachments",
        data={"upload": (io.BytesIO(TEXT), "a.txt")},
        headers=alice.headers,
        content_type="multipart/form-data",
    )
    assert_refused(app, wrong_name, 400, "validation_error")


@pytest.mark.parametrize("where", ["after", "before"])
def test_many_parts_are_refused(app, client, alice, where):
    extra = {f"part{number}": "x" for number in range(50)}
    if where == "after":
        extra["second"] = (io.BytesIO(TEXT), "second.txt")
        response = upload(client, alice, TEXT, "first.txt", **extra)
    else:
        parts = {**extra, "file": (io.BytesIO(TEXT), "first.txt")}
        response = client.post(
            "/api/attachments", data=parts, headers=alice.headers, content_type="multipart/form-data"
        )
    error = assert_refused(app, response, 400, "validation_error")
    assert "exactly one part" in error["message"]


def test_a_body_that_is_not_multipart_is_refused(app, client, alice):
    response = client.post("/api/attachments", json={"file": "aGVsbG8="}, headers=alice.headers)
    assert_refused(app, response, 415, "unsupported_media_type")


def test_a_multipart_body_cut_short_is_refused(app, client, alice):
    body = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nhello, wor'
    response = client.post(
        "/api/attachments",
        data=body,
        headers=alice.headers,
        content_type="multipart/form-data; boundary=xyz",
    )
    assert_refused(app, response, 400, "validation_error")


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("../../etc/passwd.png", "passwd.png"),
        # In a quoted header value a backslash escapes the next character: no separator is left.
        ("..\\..\\windows\\system.ini.png", "windowssystem.ini.png"),
        ("..", "attachment.png"),
        ("", "attachment.png"),
        ("report\x00.exe.png", "report.exe.png"),
        ("photo\u202egnp.exe", "photognp.exe.png"),
        ("\u200b\u2066hidden\u2069\u200d.png", "hidden.png"),
        ("tab\tand\x1bescape.png", "tabandescape.png"),
        ("  .hidden.png  ", "hidden.png"),
        ("a" * 1000 + ".png", "a" * 196 + ".png"),
        ("é" * 1000, "é" * 196 + ".png"),
    ],
    ids=[
        "dotdot",
        "backslashes",
        "only-dots",
        "empty",
        "nul",
        "rlo",
        "zero-width",
        "controls",
        "dot",
        "long",
        "long-no-ext",
    ],
)
def test_file_names_are_cleaned(app, client, alice, sent, kept):
    response = upload(client, alice, image_bytes("PNG"), filename=sent, content_type="image/png")
    assert response.status_code == 201, response.get_json()
    attachment = response.get_json()["attachment"]
    assert attachment["filename"] == kept
    assert stored_files(app) == sorted([attachment["id"], f"{attachment['id']}.thumb"])  # named by id
    download = client.get(f"/api/attachments/{attachment['id']}", headers=alice.headers)
    download.close()
    assert "\u202e" not in download.headers["Content-Disposition"]
    assert "\n" not in download.headers["Content-Disposition"]


@pytest.mark.parametrize(
    ("data", "sent", "kept"),
    [
        ("Write-Host pwned\r\n", "run.bat", "run.bat.txt"),
        ('Set shell = CreateObject("WScript.Shell")\n', "x.hta", "x.hta.txt"),
        ("echo hi\n", "notes", "notes.txt"),
        ("# Title\n", "README.MD", "README.MD"),
        ("plain\n", "Mr. Smith", "Mr. Smith.txt"),
        ("jpeg", "photo.JPG", "photo.JPG"),
        ("jpeg", "photo.jpeg", "photo.jpeg"),
        ("jpeg", "scan.png", "scan.png.jpg"),
        ("png", "holiday.svg", "holiday.svg.png"),
        ("pdf", "invoice.html", "invoice.html.pdf"),
        ("zip", "report.docx", "report.docx"),
        ("zip", "tool.jar", "tool.jar.zip"),
        ("zip", "a" * 300 + ".exe", "a" * 196 + ".zip"),
    ],
    ids=[
        "bat",
        "hta",
        "no-extension",
        "md-kept",
        "dot-in-name",
        "JPG-kept",
        "jpeg-kept",
        "png-that-is-jpeg",
        "svg-that-is-png",
        "html-that-is-pdf",
        "docx-kept",
        "jar",
        "long",
    ],
)
def test_a_file_name_ends_in_an_extension_of_the_type_its_bytes_say(app, client, alice, data, sent, kept):
    """What opens a downloaded file is its extension: it must be the sniffed type's."""
    made = {
        "jpeg": lambda: image_bytes("JPEG"),
        "png": lambda: image_bytes("PNG"),
        "pdf": pdf_bytes,
        "zip": zip_bytes,
    }
    body = made[data]() if data in made else data.encode()
    attachment = uploaded(client, alice, body, sent)
    assert attachment["filename"] == kept
    download = client.get(f"/api/attachments/{attachment['id']}", headers=alice.headers)
    download.close()
    assert download.headers["Content-Disposition"].rstrip('"').endswith(kept)


def test_line_breaks_in_a_percent_encoded_file_name_are_removed(app, client, alice):
    """Browsers percent-encode (RFC 5987 `filename*`), so a CR or LF arrives decoded, inside the name."""
    response = upload_with_disposition(
        client, alice, TEXT, "filename*=UTF-8''line%0D%0AContent-Type%3A%20html%0A.txt"
    )
    assert response.status_code == 201, response.get_json()
    attachment = response.get_json()["attachment"]
    assert attachment["filename"] == "lineContent-Type: html.txt"
    download = client.get(f"/api/attachments/{attachment['id']}", headers=alice.headers)
    download.close()
    disposition = download.headers["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition
    assert disposition == 'attachment; filename="lineContent-Type: html.txt"'


def test_a_raw_line_break_in_a_file_name_breaks_the_part_and_is_refused(app, client, alice):
    # Browsers send it percent-encoded; raw, it ends the header early.
    response = upload(client, alice, TEXT, filename="line\r\nContent-Type: text/html\r\n.txt")
    assert_refused(app, response, 400, "validation_error")


def test_an_image_of_20000_by_20000_pixels_is_refused_without_decoding_it(app, client, alice):
    data = png_header_only(20_000, 20_000)
    assert len(data) < 200  # only its header says how big it is
    error = assert_refused(app, upload(client, alice, data, "bomb.png"), 400, "invalid_attachment")
    assert "too many pixels" in error["message"]


def test_an_image_just_over_50_megapixels_is_refused(app, client, alice):
    data = png_header_only(10_000, 5_001)  # between the limit and twice it: Pillow only warns
    error = assert_refused(app, upload(client, alice, data, "big.png"), 400, "invalid_attachment")
    assert "too many pixels" in error["message"]


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_a_truncated_jpeg_is_refused(app, client, alice, cut):
    from PIL import Image

    out = io.BytesIO()
    Image.effect_noise((400, 300), 64).convert("RGB").save(out, "JPEG", quality=95)
    data = out.getvalue()
    response = upload(client, alice, data[: int(len(data) * cut)], "cut.jpg", "image/jpeg")
    error = assert_refused(app, response, 400, "invalid_attachment")
    assert "damaged or truncated" in error["message"]


def test_a_corrupt_png_is_refused(app, client, alice):
    data = image_bytes("PNG", size=(300, 300))
    corrupt = data[:60] + bytes(b ^ 0x5A for b in data[60:-20]) + data[-20:]
    assert_refused(app, upload(client, alice, corrupt, "corrupt.png"), 400, "invalid_attachment")


def test_a_content_length_over_the_limit_is_refused_before_the_body_is_read(app, client, alice):
    class Unreadable(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            raise AssertionError("the body was read")

    limit = app.config["MAX_ATTACHMENT_BYTES"]
    response = client.post(
        "/api/attachments",
        data=b"",
        headers=alice.headers,
        content_type="multipart/form-data; boundary=xyz",
        environ_overrides={"wsgi.input": Unreadable(), "CONTENT_LENGTH": str(limit + 1024 * 1024)},
    )
    error = assert_refused(app, response, 413, "attachment_too_large")
    assert "26,214,400 bytes" in error["message"]


def test_a_file_over_the_limit_is_refused_while_it_streams(app, client, alice):
    app.config["MAX_ATTACHMENT_BYTES"] = 200_000
    response = upload(client, alice, b"a" * 200_001, "big.txt")
    assert_refused(app, response, 413, "attachment_too_large")
    assert upload(client, alice, b"a" * 200_000, "fits.txt").status_code == 201


def test_a_chunked_body_over_the_limit_is_refused_while_it_streams(app, client, alice):
    app.config["MAX_ATTACHMENT_BYTES"] = 100_000
    head = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n'
    body = head + b"a" * 300_000 + b"\r\n--xyz--\r\n"
    response = client.post(
        "/api/attachments",
        input_stream=io.BytesIO(body),
        headers=alice.headers,
        content_type="multipart/form-data; boundary=xyz",
        environ_overrides={"wsgi.input_terminated": True},  # no Content-Length: as a chunked body
    )
    assert_refused(app, response, 413, "attachment_too_large")


def test_uploads_over_the_daily_allowance_are_refused(app, client, alice, bob):
    app.config["UPLOAD_DAILY_BYTES"] = 100_000
    first = uploaded(client, alice, b"a" * 60_000, "first.txt")
    before = stored_files(app)
    response = upload(client, alice, b"b" * 60_000, "second.txt")
    assert response.status_code == 429, response.get_json()
    assert response.get_json()["error"]["code"] == "rate_limited"
    assert "allowance" in response.get_json()["error"]["message"]
    assert 86_000 < int(response.headers["Retry-After"]) <= 86_400
    assert stored_files(app) == before == [first["id"]]
    assert attachment_count() == 1
    assert upload(client, alice, b"c" * 40_000, "fits.txt").status_code == 201
    assert upload(client, bob, b"d" * 60_000, "bobs.txt").status_code == 201  # per user


# -- attachmentIds of a send ---------------------------------------------------------------


def attachment_state() -> list[tuple]:
    db.session.rollback()
    rows = db.session.execute(
        sa.select(Attachment.id, Attachment.message_id, Attachment.deleted_at).order_by(Attachment.id)
    ).all()
    db.session.rollback()
    return [tuple(row) for row in rows]


def assert_send_refused(api: Any, who: Any, chat: str, ids: list[str], message: str) -> dict[str, Any]:
    before, attachments_before = db_state(), attachment_state()
    response = api.send(who, chat, "with files", attachmentIds=ids)
    assert response.status_code == 400, response.json
    error = response.json["error"]
    assert error["code"] == "validation_error"
    assert error["fields"][0]["field"] == "attachmentIds"
    assert message in error["fields"][0]["message"]
    assert db_state() == before
    assert attachment_state() == attachments_before
    return error


NOT_USABLE = "must each be an upload of yours that was not sent yet"


def test_another_users_upload_or_a_missing_one_cannot_be_sent_and_look_alike(api, client, alice, bob, chat):
    bobs = uploaded(client, bob, TEXT)
    mine = uploaded(client, alice, TEXT)
    theirs = assert_send_refused(api, alice, chat, [mine["id"], bobs["id"]], NOT_USABLE)
    missing = assert_send_refused(api, alice, chat, [mine["id"], str(uuid.uuid4())], NOT_USABLE)
    assert theirs == missing


def test_an_upload_already_sent_cannot_be_sent_again(api, client, alice, chat):
    attachment = uploaded(client, alice, TEXT)
    assert api.send(alice, chat, "first", attachmentIds=[attachment["id"]]).status_code == 201
    assert_send_refused(api, alice, chat, [attachment["id"]], NOT_USABLE)


def test_the_same_upload_twice_in_one_send_is_refused(api, client, alice, chat):
    attachment = uploaded(client, alice, TEXT)
    assert_send_refused(api, alice, chat, [attachment["id"], attachment["id"]], "same attachment twice")


def test_more_than_10_attachments_are_refused(api, client, alice, chat):
    ids = [uploaded(client, alice, TEXT, f"{n}.txt")["id"] for n in range(11)]
    assert_send_refused(api, alice, chat, ids, "at most 10")
    assert api.send(alice, chat, "ten", attachmentIds=ids[:10]).status_code == 201


def test_attachment_ids_must_be_ids(api, alice, chat):
    response = api.send(alice, chat, "x", attachmentIds=["not-an-id"])
    assert response.status_code == 400
    assert response.json["error"]["fields"][0]["field"].startswith("attachmentIds")
