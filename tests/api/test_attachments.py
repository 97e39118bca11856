"""Attachments: upload, send, see, download, and gone with their message (on both databases).

Bad input (each refused with a clear 4xx and nothing stored) is in
test_attachments_bad_input.py; concurrent sends of one upload on a real server in
tests/server/test_attachment_send_race.py.
"""

import io
import os
import queue
import threading
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from PIL import Image
from support.snapshot import db_state
from support.uploads import (
    CAMERA,
    COMMENT,
    SAMPLES,
    TEXT,
    image_bytes,
    jpeg_with_metadata,
    pdf_bytes,
    png_with_metadata,
    upload,
    upload_with_disposition,
    uploaded,
    webp_with_metadata,
)

from app import green
from app.api.attachments import _filename_parameters
from app.auth.tokens import issue_access_token
from app.extensions import db
from app.models import Attachment, User
from app.services import attachments as attachment_service
from app.services.points import grant_points
from app.storage import DirectoryStorage

GPS_IFD = 0x8825
EXTENSIONS = {
    "png": "png",
    "jpeg": "jpg",
    "gif": "gif",
    "webp": "webp",
    "pdf": "pdf",
    "text": "txt",
    "zip": "zip",
}


def stored_files(app: Any) -> set[str]:
    """The names in the upload directory (temporaries included)."""
    root = Path(app.config["UPLOAD_DIR"])
    return set(os.listdir(root)) if root.exists() else set()


def stored_bytes(app: Any, key: str) -> bytes:
    return (Path(app.config["UPLOAD_DIR"]) / key).read_bytes()


def attachment_row(attachment_id: str) -> sa.Row:
    """The attachment's row as stored now (columns, not an ORM object)."""
    db.session.rollback()
    row = db.session.execute(
        sa.select(*Attachment.__table__.c).where(Attachment.id == uuid.UUID(attachment_id))
    ).one()
    db.session.rollback()
    return row


def fresh_token(who: Any) -> Any:
    """The account with a new token, issued without logging in (no after_login hook)."""
    user = db.session.get(User, uuid.UUID(who.id))
    token, _ = issue_access_token(user)
    db.session.rollback()
    return replace(who, token=token)


def download(client: Any, who: Any, attachment_id: str, suffix: str = "", **headers: str) -> Any:
    response = client.get(f"/api/attachments/{attachment_id}{suffix}", headers={**who.headers, **headers})
    response.close()
    return response


# -- upload ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SAMPLES))
def test_each_allowed_type_is_accepted_with_the_type_its_bytes_say(app, client, alice, name):
    make, content_type = SAMPLES[name]
    data = make()
    # A misleading name and declared type: only the bytes count.
    response = upload(client, alice, data, filename="holiday.exe", content_type="application/x-msdownload")
    assert response.status_code == 201, response.get_json()
    attachment = response.get_json()["attachment"]
    assert set(attachment) == {"id", "filename", "contentType", "size", "width", "height", "hasThumbnail"}
    assert attachment["contentType"] == content_type
    assert attachment["filename"] == f"holiday.exe.{EXTENSIONS[name]}"  # named for what it is
    is_image = content_type.startswith("image/")
    assert attachment["hasThumbnail"] is is_image
    assert (attachment["width"], attachment["height"]) == ((64, 48) if is_image else (None, None))
    stored = stored_bytes(app, attachment["id"])
    assert attachment["size"] == len(stored)
    if not is_image:
        assert stored == data  # stored as sent
    assert not [name for name in stored_files(app) if name.startswith(".")]  # no temporary left


@pytest.mark.parametrize(
    ("make", "secrets"),
    [
        (jpeg_with_metadata, [CAMERA.encode(), COMMENT, b"SECRET-XMP-PACKET", b"Exif", b"GPS"]),
        (png_with_metadata, [CAMERA.encode(), b"SECRET-PNG-TEXT", b"eXIf", b"tEXt"]),
        (webp_with_metadata, [CAMERA.encode(), b"SECRET-XMP-PACKET", b"EXIF", b"XMP "]),
    ],
    ids=["jpeg", "png", "webp"],
)
def test_image_metadata_is_removed_before_storing(app, client, alice, make, secrets):
    original = make()
    assert all(secret in original for secret in secrets[:2])  # the test file does carry them
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS_IFD), "the test file has GPS coordinates"
    attachment = uploaded(client, alice, original, "photo")
    stored = stored_bytes(app, attachment["id"])
    image = Image.open(io.BytesIO(stored))
    assert image.getexif().get_ifd(GPS_IFD) == {}
    for secret in secrets:
        assert secret not in stored, secret
    assert dict(image.getexif()) == {}
    assert not {"exif", "xmp", "comment", "Comment"} & set(image.info)


def test_exif_orientation_is_applied_before_the_metadata_goes(app, client, alice):
    attachment = uploaded(client, alice, jpeg_with_metadata(size=(80, 40), orientation=6), "turned.jpg")
    assert (attachment["width"], attachment["height"]) == (40, 80)  # rotated upright
    assert Image.open(io.BytesIO(stored_bytes(app, attachment["id"]))).size == (40, 80)


def test_the_thumbnail_is_at_most_320_px_and_keeps_the_shape(app, client, alice):
    attachment = uploaded(client, alice, image_bytes("PNG", size=(1200, 800)), "wide.png")
    response = client.get(f"/api/attachments/{attachment['id']}/thumbnail", headers=alice.headers)
    assert response.status_code == 200
    assert response.mimetype == "image/webp"
    thumbnail = Image.open(io.BytesIO(response.get_data()))
    response.close()
    assert thumbnail.size == (320, 213)
    small = uploaded(client, alice, image_bytes("PNG", size=(100, 300)), "tall.png")
    response = client.get(f"/api/attachments/{small['id']}/thumbnail", headers=alice.headers)
    assert max(Image.open(io.BytesIO(response.get_data())).size) <= 320
    response.close()


def test_a_file_without_a_thumbnail_answers_404_for_it(client, alice):
    attachment = uploaded(client, alice, TEXT, "notes.txt")
    response = download(client, alice, attachment["id"], "/thumbnail")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "attachment_not_found"


def test_uploads_are_rate_limited_per_user(app, client, alice, bob):
    app.config["UPLOAD_RATE_LIMIT"] = "2 per minute"
    for _ in range(2):
        assert upload(client, alice, TEXT).status_code == 201
    refused = upload(client, alice, TEXT)
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    assert upload(client, bob, TEXT).status_code == 201  # per user


class GatedStorage:
    """The app's storage, whose puts report to `events` and wait for `opened` to be set."""

    def __init__(self, storage: DirectoryStorage, events: "queue.Queue[str]") -> None:
        self.storage = storage
        self.events = events
        self.opened = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.storage, name)

    def put(self, key: str, source: Any) -> int:
        self.events.put(f"put {key}")
        assert self.opened.wait(30), "the test never let the put finish"
        return self.storage.put(key, source)


class WatchedSemaphore:
    """green.bounded_semaphore's semaphore, telling `events` when an acquirer has to wait."""

    def __init__(self, limit: int, events: "queue.Queue[str]") -> None:
        self.semaphore = threading.BoundedSemaphore(limit)
        self.events = events

    def __enter__(self) -> None:
        if not self.semaphore.acquire(blocking=False):
            self.events.put("waiting")
            self.semaphore.acquire()

    def __exit__(self, *exc: object) -> None:
        self.semaphore.release()


def test_uploads_beyond_the_bound_wait_holding_no_database_connection(app, client, alice, monkeypatch):
    events: queue.Queue[str] = queue.Queue()
    monkeypatch.setattr(attachment_service, "MAX_CONCURRENT_UPLOADS", 1)
    monkeypatch.setattr(attachment_service, "_slots", {})
    monkeypatch.setattr(green, "bounded_semaphore", lambda limit: WatchedSemaphore(limit, events))
    storage = GatedStorage(app.extensions["attachment_storage"], events)
    monkeypatch.setitem(app.extensions, "attachment_storage", storage)
    db.session.remove()
    answers: dict[str, Any] = {}

    def send(name: str) -> None:
        answers[name] = upload(app.test_client(), alice, TEXT, f"{name}.txt")

    first = threading.Thread(target=send, args=("first",))
    second = threading.Thread(target=send, args=("second",))
    try:
        first.start()
        assert events.get(timeout=30).startswith("put ")  # the first upload is storing its file
        second.start()
        assert events.get(timeout=30) == "waiting"  # not "put ...": the second waits for the first
        assert db.engine.pool.checkedout() == 0  # and holds no connection meanwhile
    finally:
        storage.opened.set()
        first.join(30)
        second.join(30)
    assert events.get(timeout=30).startswith("put ")  # the second stored its file after
    assert [answers[name].status_code for name in ("first", "second")] == [201, 201]


def test_storage_put_keeps_nothing_when_the_source_fails(tmp_path):
    storage = DirectoryStorage(str(tmp_path / "files"))

    class Failing(io.BytesIO):
        def read(self, size: int = -1) -> bytes:
            if self.tell() >= 1024:
                raise OSError("the client went away")
            return super().read(512)

    with pytest.raises(OSError, match="went away"):
        storage.put("some-key", Failing(b"x" * 10_000))
    assert os.listdir(tmp_path / "files") == []
    assert storage.put("some-key", io.BytesIO(b"whole")) == 5
    assert os.listdir(tmp_path / "files") == ["some-key"]
    with pytest.raises(ValueError, match="not a storage key"):
        storage.put("../escape", io.BytesIO(b"x"))


# -- sending -----------------------------------------------------------------------------


def test_a_send_with_attachments_shows_them_everywhere_the_message_goes(
    api, client, alice, bob, chat, connect
):
    bob_socket = connect(bob)
    photo = uploaded(client, alice, image_bytes("PNG"), "photo.png")
    document = uploaded(client, alice, pdf_bytes(), "report.pdf")
    earlier = api.send(alice, chat, "before").json["message"]

    response = api.send(alice, chat, "", attachmentIds=[document["id"], photo["id"]])

    assert response.status_code == 201, response.json
    message = response.json["message"]
    assert message["content"] == ""
    assert [a["id"] for a in message["attachments"]] == [document["id"], photo["id"]]  # the order sent
    assert message["attachments"] == [document, photo]
    events = [e for e in bob_socket.get_received() if e["name"] == "message:new"]
    assert events[-1]["args"][0]["attachments"] == [document, photo]
    page = api.messages(bob, chat).json["messages"]
    assert page[-1]["attachments"] == [document, photo]
    assert page[0]["attachments"] == []
    caught_up = api.messages(bob, chat, after=earlier["id"]).json["messages"]
    assert caught_up[0]["attachments"] == [document, photo]
    around = api.messages(bob, chat, around=message["id"]).json["messages"]
    assert around[-1]["attachments"] == [document, photo]
    listed = api.conversations(bob).json["conversations"][0]["lastMessage"]
    assert listed["attachments"] == [document, photo]


def test_search_results_carry_the_attachments(api, client, alice, bob, chat):
    photo = uploaded(client, alice, image_bytes("PNG"), "beach.png")
    api.send(alice, chat, "holiday pictures", attachmentIds=[photo["id"]])
    results = api.search(bob, "holiday").json["results"]
    assert [r["message"]["attachments"] for r in results] == [[photo]]


def test_a_message_with_attachments_costs_what_any_message_costs(api, client, alice, chat):
    for number in range(20):
        api.send(alice, chat, f"free {number}")
    grant_points("alice", 10)
    attachment = uploaded(client, alice, TEXT)
    response = api.send(alice, chat, "paid, with a file", attachmentIds=[attachment["id"]], maxCost=10)
    assert response.status_code == 201, response.json
    assert response.json["charged"] == {"free": False, "points": 10}
    assert response.json["quota"]["pointsBalance"] == 0


def test_a_blank_message_needs_attachments(api, client, alice, chat):
    refused = api.send(alice, chat, " \u200b ")
    assert refused.status_code == 400
    assert refused.json["error"]["fields"][0]["field"] == "content"
    attachment = uploaded(client, alice, TEXT)
    assert api.send(alice, chat, " ", attachmentIds=[attachment["id"]]).status_code == 201


def test_a_page_loads_its_attachments_in_one_query(app, api, client, alice, bob, chat):
    for number in range(6):
        attachment = uploaded(client, alice, TEXT, f"{number}.txt")
        api.send(alice, chat, f"file {number}", attachmentIds=[attachment["id"]])
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        page = api.messages(bob, chat).json["messages"]
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert all(len(message["attachments"]) == 1 for message in page)
    reading_attachments = [s for s in statements if s.startswith("SELECT") and " attachments." in s]
    assert len(reading_attachments) == 1, statements


@pytest.mark.parametrize("refusal", ["insufficient_points", "cost_exceeds_max"])
def test_a_refused_send_leaves_its_uploads_for_the_retry(api, client, alice, bob, chat, connect, refusal):
    for number in range(20):
        api.send(alice, chat, f"free {number}")
    attachment = uploaded(client, alice, image_bytes("PNG"), "retry.png")
    before = db_state()
    extra = {"maxCost": 0} if refusal == "cost_exceeds_max" else {}
    refused = api.send(alice, chat, "with a photo", attachmentIds=[attachment["id"]], **extra)
    assert refused.status_code == (409 if extra else 402)
    assert refused.json["error"]["code"] == refusal
    assert db_state() == before
    assert attachment_row(attachment["id"]).message_id is None
    grant_points("alice", 10)
    retried = api.send(alice, chat, "with a photo", attachmentIds=[attachment["id"]])
    assert retried.status_code == 201, retried.json
    assert retried.json["message"]["attachments"] == [attachment]


def test_a_replay_answers_the_first_message_with_its_attachments(api, client, alice, bob, chat, connect):
    attachment = uploaded(client, alice, TEXT)
    first = api.send(alice, chat, "notes", attachmentIds=[attachment["id"]], clientMessageId="m-1")
    assert first.status_code == 201
    bob_socket = connect(bob)
    replay = api.send(alice, chat, "notes", attachmentIds=[attachment["id"]], clientMessageId="m-1")
    assert replay.status_code == 200, replay.json
    assert replay.json["message"] == first.json["message"]
    assert replay.json["charged"] == {"free": False, "points": 0}
    assert bob_socket.get_received() == []
    other = uploaded(client, alice, TEXT)
    reused = api.send(alice, chat, "notes", attachmentIds=[other["id"]], clientMessageId="m-1")
    assert reused.status_code == 409
    assert reused.json["error"]["code"] == "client_message_id_reused"
    without = api.send(alice, chat, "notes", clientMessageId="m-1")
    assert without.status_code == 409
    assert attachment_row(other["id"]).message_id is None


# -- downloading -------------------------------------------------------------------------


def test_download_headers_keep_a_file_from_running_in_the_browser(app, client, alice, bob, chat, api):
    document = uploaded(client, alice, pdf_bytes(), "Rapport d\u2019\u00e9t\u00e9 \u202efdp.exe.pdf")
    photo = uploaded(client, alice, image_bytes("JPEG"), "photo.jpg")
    api.send(alice, chat, "files", attachmentIds=[document["id"], photo["id"]])

    response = client.get(f"/api/attachments/{document['id']}", headers=bob.headers)
    assert response.status_code == 200
    assert response.get_data() == stored_bytes(app, document["id"])
    response.close()
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response.headers["Cache-Control"].split(", ")[0] == "private"
    assert "no-store" not in response.headers["Cache-Control"]
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''Rapport%20d%E2%80%99%C3%A9t%C3%A9%20fdp.exe.pdf" in disposition  # no U+202E
    assert "filename=" in disposition
    inline = download(client, bob, photo["id"])
    assert inline.headers["Content-Disposition"] == "inline; filename=photo.jpg"
    assert inline.headers["Content-Type"] == "image/jpeg"


def test_conditional_and_range_requests(client, alice):
    attachment = uploaded(client, alice, TEXT, "notes.txt")
    first = download(client, alice, attachment["id"])
    assert first.status_code == 200
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert download(client, alice, attachment["id"], **{"If-None-Match": etag}).status_code == 304
    assert download(client, alice, attachment["id"], **{"If-Modified-Since": modified}).status_code == 304
    part = client.get(
        f"/api/attachments/{attachment['id']}", headers={**alice.headers, "Range": "bytes=6-10"}
    )
    assert part.status_code == 206
    assert part.get_data() == TEXT[6:11]
    assert part.headers["Content-Range"] == f"bytes 6-10/{len(TEXT)}"
    part.close()
    assert download(client, alice, attachment["id"], Range=f"bytes={len(TEXT) + 5}-").status_code == 416


@pytest.mark.parametrize(
    "asked",
    ["bytes=abc", "bytes=5-2", "items=0-3", "bytes=0-1,4-5", "bytes=0-1, 3-", f"bytes={len(TEXT) + 5}-"],
    ids=["not-numbers", "backwards", "other-unit", "two-ranges", "two-ranges-spaced", "past-the-end"],
)
def test_a_range_that_cannot_be_served_answers_416_with_the_size(client, alice, asked):
    attachment = uploaded(client, alice, TEXT, "notes.txt")
    response = download(client, alice, attachment["id"], Range=asked)
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(TEXT)}"
    assert response.get_json()["error"]["code"] == "range_not_satisfiable"
    assert response.mimetype == "application/json"  # an error, not the file


def test_if_range_gives_the_part_only_while_the_file_is_unchanged(client, alice):
    attachment = uploaded(client, alice, TEXT, "notes.txt")
    first = download(client, alice, attachment["id"])
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    for validator in (etag, modified):
        part = client.get(
            f"/api/attachments/{attachment['id']}",
            headers={**alice.headers, "Range": "bytes=0-4", "If-Range": validator},
        )
        assert part.status_code == 206, validator
        assert part.get_data() == TEXT[:5]
        part.close()
    for stale in ('"another-version"', "Mon, 01 Jan 2001 00:00:00 GMT"):
        whole = client.get(
            f"/api/attachments/{attachment['id']}",
            headers={**alice.headers, "Range": "bytes=0-4", "If-Range": stale},
        )
        assert whole.status_code == 200, stale
        assert whole.get_data() == TEXT
        whole.close()


def test_quotes_in_a_name_are_replaced_in_the_plain_filename_and_kept_in_filename_star(client, alice):
    response = upload_with_disposition(client, alice, TEXT, "filename*=UTF-8''say%20%22hi%22.txt")
    assert response.status_code == 201, response.get_json()
    attachment = response.get_json()["attachment"]
    assert attachment["filename"] == 'say "hi".txt'
    disposition = download(client, alice, attachment["id"]).headers["Content-Disposition"]
    assert disposition == "attachment; filename=\"say _hi_.txt\"; filename*=UTF-8''say%20%22hi%22.txt"


@pytest.mark.parametrize(
    ("name", "parameters"),
    [
        ('a "b".txt', {"filename": "a _b_.txt", "filename*": "UTF-8''a%20%22b%22.txt"}),
        ("a\\b.txt", {"filename": "a_b.txt", "filename*": "UTF-8''a%5Cb.txt"}),
        (
            'd\u00e9j\u00e0 "vu".txt',
            {"filename": "deja _vu_.txt", "filename*": "UTF-8''d%C3%A9j%C3%A0%20%22vu%22.txt"},
        ),
        ("plain name.txt", {"filename": "plain name.txt"}),
    ],
)
def test_the_plain_filename_never_needs_a_backslash_escape(name, parameters):
    """A stored name never has a backslash (clean_filename takes it for a path separator);
    the header is safe even for a row that has one."""
    assert _filename_parameters(name) == parameters


def test_only_participants_and_the_uploader_before_sending_may_download(api, client, alice, bob, carol, chat):
    mine = uploaded(client, alice, image_bytes("PNG"), "mine.png")
    missing = download(client, bob, str(uuid.uuid4()))
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "attachment_not_found"
    assert download(client, alice, mine["id"]).status_code == 200  # the uploader, before sending
    assert download(client, alice, mine["id"], "/thumbnail").status_code == 200
    for suffix in ("", "/thumbnail"):  # another user's upload before it is sent: no such attachment
        response = download(client, bob, mine["id"], suffix)
        assert (response.status_code, response.get_json()) == (404, missing.get_json())
    api.send(alice, chat, "for bob", attachmentIds=[mine["id"]])
    assert download(client, bob, mine["id"]).status_code == 200
    assert download(client, bob, mine["id"], "/thumbnail").status_code == 200
    for suffix in ("", "/thumbnail"):  # carol is not in the conversation
        response = download(client, carol, mine["id"], suffix)
        assert (response.status_code, response.get_json()) == (404, missing.get_json())


def test_downloading_marks_nothing_delivered_or_read(api, client, alice, bob, chat, connect):
    attachment = uploaded(client, alice, TEXT)
    api.send(alice, chat, "unread", attachmentIds=[attachment["id"]])
    alice_socket = connect(alice)
    before = db_state()
    assert download(client, bob, attachment["id"]).status_code == 200
    assert download(client, bob, attachment["id"], Range="bytes=0-3").status_code == 206
    assert db_state() == before
    assert alice_socket.get_received() == []


# -- gone with the message ---------------------------------------------------------------


def test_an_expired_message_takes_its_attachments_with_it(clock, app, api, client, alice, bob, chat):
    photo = uploaded(client, alice, image_bytes("PNG"), "ephemeral.png")
    kept = uploaded(client, alice, TEXT, "kept.txt")
    api.send(alice, chat, "gone in an hour", attachmentIds=[photo["id"]], expirationHours=1)
    api.send(alice, chat, "stays", attachmentIds=[kept["id"]])
    assert {photo["id"], f"{photo['id']}.thumb", kept["id"]} <= stored_files(app)

    clock.shift(timedelta(hours=1))
    for who in (alice, bob):  # from the moment expiresAt passes, before anyone logs in
        for suffix in ("", "/thumbnail"):
            assert download(client, who, photo["id"], suffix).status_code == 404
    assert [m["attachments"] for m in api.messages(bob, chat).json["messages"]] == [[kept]]
    assert attachment_row(photo["id"]).deleted_at is None  # not marked yet
    assert photo["id"] in stored_files(app)

    login = api.login("bob")
    assert login.json["expiredMessages"] == 1
    row = attachment_row(photo["id"])
    assert row.deleted_at is not None
    assert stored_files(app) == {kept["id"]}  # the photo and its thumbnail are gone from disk
    assert attachment_row(kept["id"]).deleted_at is None
    assert download(client, bob, kept["id"]).status_code == 200


def test_the_login_hook_deletes_many_expired_attachments_in_one_pass(
    clock, app, api, client, alice, bob, chat
):
    ids = []
    for number in range(12):
        ids += [uploaded(client, alice, TEXT, f"{number}.txt")["id"]]
        if len(ids) % 3 == 0:
            api.send(alice, chat, f"batch {number}", attachmentIds=ids[-3:], expirationHours=2)
    clock.shift(timedelta(hours=2))
    assert api.login("alice").json["expiredMessages"] == 4
    assert stored_files(app) == set()
    assert all(attachment_row(i).deleted_at is not None for i in ids)


class RefusingOneDelete:
    """The app's storage, except that deleting `refused` fails as a wrong permission would."""

    def __init__(self, storage: DirectoryStorage, refused: str) -> None:
        self.storage = storage
        self.refused = refused

    def __getattr__(self, name: str) -> Any:
        return getattr(self.storage, name)

    def delete(self, key: str) -> None:
        if key == self.refused:
            raise PermissionError(13, "Permission denied", self.storage.path(key))
        self.storage.delete(key)


def test_a_file_that_cannot_be_deleted_is_logged_and_the_others_still_go(
    clock, app, api, client, alice, bob, chat, caplog
):
    ids = [uploaded(client, alice, TEXT, f"{number}.txt")["id"] for number in range(3)]
    api.send(alice, chat, "three files", attachmentIds=ids, expirationHours=1)
    stuck = ids[1]
    app.extensions["attachment_storage"] = RefusingOneDelete(app.extensions["attachment_storage"], stuck)
    clock.shift(timedelta(hours=1))

    login = api.login("bob")

    assert login.status_code == 200, login.json
    assert login.json["expiredMessages"] == 1
    assert stored_files(app) == {stuck}  # the one before it and the one after it are gone
    assert all(attachment_row(i).deleted_at is not None for i in ids)
    warnings = [r for r in caplog.records if r.name == "app.storage" and r.levelname == "WARNING"]
    assert [r.getMessage() for r in warnings] == [f"could not delete stored file {stuck}: Permission denied"]


@pytest.mark.parametrize("at", ["login", "upload"])
def test_an_upload_never_sent_is_deleted_once_a_day_old(clock, app, api, client, alice, bob, at):
    old = uploaded(client, alice, image_bytes("PNG"), "forgotten.png")
    bobs = uploaded(client, bob, TEXT, "bobs.txt")
    clock.shift(timedelta(hours=23))
    young = uploaded(client, alice, TEXT, "recent.txt")
    assert attachment_row(old["id"]).deleted_at is None  # 23 hours: kept
    clock.shift(timedelta(hours=1, seconds=1))

    fresh = fresh_token(alice)  # the first token has expired; this one skips the login hook
    if at == "login":
        assert api.login("alice").status_code == 200
    else:
        uploaded(client, fresh, TEXT, "another.txt")

    assert attachment_row(old["id"]).deleted_at is not None
    assert not {old["id"], f"{old['id']}.thumb"} & stored_files(app)
    assert download(client, fresh, old["id"]).status_code == 404
    assert attachment_row(young["id"]).deleted_at is None
    assert attachment_row(bobs["id"]).deleted_at is None  # only the uploader's own
    assert bobs["id"] in stored_files(app)


def test_a_deleted_upload_cannot_be_sent(clock, api, client, alice, chat):
    old = uploaded(client, alice, TEXT)
    clock.shift(timedelta(days=1, seconds=1))
    api.login("alice")
    refused = api.send(fresh_token(alice), chat, "too late", attachmentIds=[old["id"]])
    assert refused.status_code == 400
    assert refused.json["error"]["fields"] == [
        {"field": "attachmentIds", "message": "must each be an upload of yours that was not sent yet"}
    ]


def test_openapi_describes_the_upload_and_the_downloads(client):
    document = client.get("/api/openapi.json").get_json()
    upload_operation = document["paths"]["/api/attachments"]["post"]
    schema = upload_operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["properties"] == {"file": {"type": "string", "format": "binary"}}
    assert schema["required"] == ["file"]
    assert {"201", "400", "401", "413", "415", "429"} <= set(upload_operation["responses"])
    for path in ("/api/attachments/{attachment_id}", "/api/attachments/{attachment_id}/thumbnail"):
        download_operation = document["paths"][path]["get"]
        assert "404" in download_operation["responses"]
        (media_type,) = download_operation["responses"]["200"]["content"]
        assert media_type in ("*/*", "image/webp")
    send = document["components"]["schemas"]["SendMessageRequest"]["properties"]
    assert send["attachmentIds"]["maxItems"] == 10


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_an_animated_image_stays_animated_without_its_metadata(app, client, alice, fmt):
    frames = [Image.new("RGB", (60, 40), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(
        out, fmt, save_all=True, append_images=frames[1:], duration=[100, 200, 300], loop=0, comment=b"SECRET"
    )
    attachment = uploaded(client, alice, out.getvalue(), f"moving.{fmt.lower()}")
    assert (attachment["width"], attachment["height"], attachment["hasThumbnail"]) == (60, 40, True)
    stored = Image.open(io.BytesIO(stored_bytes(app, attachment["id"])))
    assert stored.format == fmt
    assert stored.n_frames == 3
    assert "comment" not in stored.info
