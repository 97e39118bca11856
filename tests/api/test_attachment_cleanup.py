"""`clean_storage` (`flask attachments clean`): the files a crash left behind go, live ones stay.

The windows it closes: a process dying after the commit that marks rows deleted and
before their files are unlinked; after a put and before the row's commit; in the middle
of a put (a `.put-*` temporary). Ages are set on the files themselves (os.utime): the
rule compares a file's modification time with now.
"""

import io
import os
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from support.uploads import TEXT, image_bytes, upload, uploaded

from app import clock
from app.extensions import db
from app.models import Attachment
from app.services.attachments import STALE_AFTER, Cleaned, clean_storage
from app.storage import DirectoryStorage

OLD = STALE_AFTER.total_seconds() + 60  # seconds: a little over the age at which files go
YOUNG = STALE_AFTER.total_seconds() - 60


def root(app: Any) -> Path:
    return Path(app.config["UPLOAD_DIR"])


def files(app: Any) -> set[str]:
    return set(os.listdir(root(app))) if root(app).exists() else set()


def age(app: Any, name: str, seconds: float) -> None:
    """Make a file look last written `seconds` ago."""
    moment = time.time() - seconds
    os.utime(root(app) / name, (moment, moment))


def age_all(app: Any, seconds: float) -> None:
    for name in files(app):
        age(app, name, seconds)


def storage(app: Any) -> DirectoryStorage:
    return app.extensions["attachment_storage"]


def mark_deleted(attachment_id: str) -> None:
    """What the commit before a crash left: the row marked, its files still there."""
    db.session.execute(
        sa.update(Attachment).where(Attachment.id == uuid.UUID(attachment_id)).values(deleted_at=clock.now())
    )
    db.session.commit()


def clean(app: Any) -> Cleaned:
    db.session.remove()  # as in a command: no transaction left open by the test's reads
    return clean_storage(storage(app))


def test_the_files_of_rows_marked_deleted_go_at_any_age(app, client, alice):
    photo = uploaded(client, alice, image_bytes("PNG"), "photo.png")
    notes = uploaded(client, alice, TEXT, "notes.txt")
    mark_deleted(photo["id"])

    assert clean(app) == Cleaned(of_deleted_rows=2, kept=1)  # the photo and its thumbnail

    assert files(app) == {notes["id"]}


def test_files_with_no_row_go_once_an_hour_old(app, client, alice):
    kept = uploaded(client, alice, TEXT, "kept.txt")
    old, young = str(uuid.uuid4()), str(uuid.uuid4())
    for key in (old, f"{old}.thumb", young):
        storage(app).put(key, io.BytesIO(b"stored, then the process died before the row committed"))
    age_all(app, OLD)
    age(app, young, YOUNG)

    assert clean(app) == Cleaned(without_row=2, kept=2)

    assert files(app) == {kept["id"], young}


def test_leftover_temporaries_go_once_an_hour_old(app, client, alice):
    kept = uploaded(client, alice, TEXT, "kept.txt")
    (root(app) / ".put-crashed").write_bytes(b"half a file")
    (root(app) / ".put-writing").write_bytes(b"a put under way")
    age(app, ".put-crashed", OLD)
    age(app, ".put-writing", YOUNG)

    assert clean(app) == Cleaned(temporaries=1, kept=1)

    assert files(app) == {kept["id"], ".put-writing"}


def test_live_files_stay_at_any_age(clock, app, api, client, alice, bob, chat):
    sent = uploaded(client, alice, TEXT, "sent.txt")
    api.send(alice, chat, "sent", attachmentIds=[sent["id"]])
    unsent = uploaded(client, alice, image_bytes("PNG"), "unsent.png")
    clock.shift(timedelta(hours=23))
    expiring = uploaded(client, alice, TEXT, "expiring.txt")
    api.send(alice, chat, "expiring", attachmentIds=[expiring["id"]], expirationHours=1)
    clock.shift(timedelta(minutes=59))  # the message has a minute left, the upload a minute to a day
    before = files(app)
    age_all(app, 30 * 24 * 3600)  # the files' own ages do not decide for a live row

    assert clean(app) == Cleaned(kept=4)

    assert files(app) == before
    assert {unsent["id"], f"{unsent['id']}.thumb", sent["id"], expiring["id"]} == before


def test_the_files_of_people_who_never_log_in_again_go_with_their_messages(
    clock, app, api, client, alice, bob, chat
):
    """What a login would delete for its user goes for everyone: the attachments of
    expired messages and uploads a day old never sent. The messages stay unmarked, so
    the next login still counts them as expired while away."""
    kept = uploaded(client, alice, TEXT, "kept.txt")
    api.send(alice, chat, "kept", attachmentIds=[kept["id"]])
    photo = uploaded(client, alice, image_bytes("PNG"), "photo.png")
    api.send(alice, chat, "gone in an hour", attachmentIds=[photo["id"]], expirationHours=1)
    uploaded(client, bob, TEXT, "forgotten.txt")
    clock.shift(timedelta(days=1, minutes=1))

    assert clean(app) == Cleaned(expired=1, unsent=1, kept=1)

    assert files(app) == {kept["id"]}
    rows = dict(db.session.execute(sa.select(Attachment.filename, Attachment.deleted_at)).all())
    assert rows["photo.png"] is not None and rows["forgotten.txt"] is not None
    assert rows["kept.txt"] is None
    assert api.login("alice").json["expiredMessages"] == 1
    assert clean(app) == Cleaned(kept=1)


def test_files_not_named_like_an_attachments_are_left_alone(app, client, alice):
    uploaded(client, alice, TEXT, "kept.txt")
    for name in ("README", "backup.tar", str(uuid.uuid4()).upper(), f"{uuid.uuid4()}.other"):
        (root(app) / name).write_bytes(b"not ours")
    age_all(app, OLD)
    before = files(app)

    assert clean(app) == Cleaned(kept=1)

    assert files(app) == before


def test_an_upload_between_its_put_and_its_rows_commit_keeps_its_file(app, client, alice, monkeypatch):
    """The cleanup running in that window (here: from inside the put) sees a file with no row yet."""
    real = storage(app)
    seen: list[Cleaned] = []

    class CleaningAfterPut:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def put(self, key: str, source: Any) -> int:
            size = real.put(key, source)
            seen.append(clean_storage(real))
            return size

    monkeypatch.setitem(app.extensions, "attachment_storage", CleaningAfterPut())
    response = upload(client, alice, TEXT, "racing.txt")

    assert response.status_code == 201, response.get_json()
    assert seen == [Cleaned(kept=1)]
    assert files(app) == {response.get_json()["attachment"]["id"]}


def test_a_put_under_way_keeps_its_temporary(app, client, alice):
    """The cleanup running while a put writes (here: from inside its source) leaves it alone."""
    real = storage(app)
    seen: list[tuple[Cleaned, set[str]]] = []

    class CleaningMidway(io.BytesIO):
        def read(self, size: int = -1) -> bytes:
            if self.tell() and not seen:
                seen.append((clean_storage(real), files(app)))
            return super().read(4)

    key = str(uuid.uuid4())
    assert real.put(key, CleaningMidway(b"a file in small chunks")) == 22

    ((cleaned, during),) = seen
    assert cleaned == Cleaned()
    assert [name for name in during if name.startswith(".put-")]  # the temporary was there
    assert files(app) == {key}


def test_a_file_that_cannot_be_deleted_is_counted_and_the_rest_go(app, client, alice, monkeypatch):
    first, second = (uploaded(client, alice, TEXT, f"{n}.txt") for n in range(2))
    for attachment in (first, second):
        mark_deleted(attachment["id"])
    real_delete = storage(app).delete

    def delete(key: str) -> None:
        if key == first["id"]:
            raise PermissionError(13, "Permission denied", key)
        real_delete(key)

    monkeypatch.setattr(storage(app), "delete", delete)

    assert clean(app) == Cleaned(of_deleted_rows=1, failed=1)

    assert files(app) == {first["id"]}


def test_an_empty_or_missing_directory_is_nothing_to_do(app):
    assert not root(app).exists()
    assert clean(app) == Cleaned()
