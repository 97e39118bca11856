"""Where attachment bytes live: a small interface (put, open, delete, and for the cleanup
command, listing and removing stale temporaries) and a directory backend.

Keys are chosen by the service (an attachment's id, with a suffix for its thumbnail),
never by a client, and are checked here too: a key is never a path. Another backend
(an object store) fits behind the same methods.
"""

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO, Protocol

from flask import Flask, current_app

from app import green

log = logging.getLogger(__name__)

_KEY = re.compile(r"^[A-Za-z0-9_-]{1,80}(\.[A-Za-z0-9_-]{1,16})?$")
TEMPORARY_PREFIX = ".put-"
COPY_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredKey:
    """A key in storage and when its bytes were last written."""

    key: str
    modified: datetime


class Storage(Protocol):
    """Bytes kept under keys."""

    def put(self, key: str, source: BinaryIO) -> int:
        """Store everything `source.read()` gives under `key`, all or nothing; returns the
        number of bytes. An exception raised by `source` stores nothing."""

    def open(self, key: str) -> BinaryIO:
        """The stored bytes, seekable; FileNotFoundError when there are none."""

    def delete(self, key: str) -> None:
        """Remove the bytes of `key` (nothing happens when there are none)."""

    def keys(self) -> Iterator[StoredKey]:
        """Every stored key (never a temporary of a put under way)."""

    def delete_temporaries(self, older_than: datetime) -> int:
        """Remove what puts left behind (a crash mid-write) last written before
        `older_than`; returns how many. A put under way is younger than that."""


class DirectoryStorage:
    """Files in one directory, named by their key.

    A put writes to a hidden temporary name in the same directory, flushes it to disk
    (fsync, off the event loop), then renames it into place (os.replace, atomic on one
    file system) and syncs the directory: after a crash a key holds all its bytes or
    does not exist. Leftover temporaries (`.put-*`) are never a key; `flask attachments
    clean` removes them once an hour old. Several hosts may share the directory (a
    network file system with atomic rename).
    """

    def __init__(self, root: str, *, durable: bool = True) -> None:
        self.root = os.path.abspath(root)
        self.durable = durable
        self._root_made = False

    def path(self, key: str) -> str:
        """The file of `key` (ValueError for anything that is not a key)."""
        if not _KEY.match(key):
            raise ValueError(f"not a storage key: {key!r}")
        return os.path.join(self.root, key)

    def put(self, key: str, source: BinaryIO) -> int:
        """See Storage.put."""
        target = self.path(key)
        self._make_root()
        descriptor, temporary = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, dir=self.root)
        try:
            size = 0
            with os.fdopen(descriptor, "wb") as out:
                while chunk := source.read(COPY_CHUNK):
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                if self.durable:
                    green.run_blocking(os.fsync, out.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        if self.durable:
            green.run_blocking(_sync_directory, self.root)
        return size

    def open(self, key: str) -> BinaryIO:
        """See Storage.open."""
        return open(self.path(key), "rb")  # the caller closes it

    def delete(self, key: str) -> None:
        """See Storage.delete."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(key))

    def keys(self) -> Iterator[StoredKey]:
        """See Storage.keys (files not named like a key are not ours: skipped)."""
        for name, modified in self._files():
            if _KEY.match(name):
                yield StoredKey(name, modified)

    def delete_temporaries(self, older_than: datetime) -> int:
        """See Storage.delete_temporaries."""
        removed = 0
        for name, modified in self._files():
            if name.startswith(TEMPORARY_PREFIX) and modified < older_than:
                try:
                    os.unlink(os.path.join(self.root, name))
                except FileNotFoundError:
                    continue
                except OSError as error:
                    log.warning("could not delete temporary file %s: %s", name, _reason(error))
                    continue
                removed += 1
        return removed

    def _files(self) -> Iterator[tuple[str, datetime]]:
        """The regular files of the directory with when each was last written (none
        before the first put; one deleted meanwhile is left out)."""
        try:
            with os.scandir(self.root) as entries:
                for entry in entries:
                    try:
                        if entry.is_file(follow_symlinks=False):
                            stat = entry.stat(follow_symlinks=False)
                            yield entry.name, datetime.fromtimestamp(stat.st_mtime, UTC)
                    except FileNotFoundError:
                        continue
        except FileNotFoundError:
            return

    def _make_root(self) -> None:
        if not self._root_made:
            os.makedirs(self.root, mode=0o700, exist_ok=True)
            self._root_made = True


def _sync_directory(path: str) -> None:
    """fsync a directory, so a rename into it survives a crash."""
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _reason(error: OSError) -> str:
    """What went wrong, without the path an OSError's message carries."""
    return error.strerror or type(error).__name__


def delete_all(storage: Storage, keys: Iterable[str]) -> int:
    """Delete many keys off the event loop, in one go (after the transaction that
    marked their rows committed: no database lock is held meanwhile). A key that cannot
    be deleted is logged and skipped, never stopping the rest (`flask attachments clean`
    retries it); returns how many were deleted."""
    keys = list(keys)
    if not keys:
        return 0
    return green.run_blocking(_delete_each, storage, keys)


def _delete_each(storage: Storage, keys: list[str]) -> int:
    deleted = 0
    for key in keys:
        try:
            storage.delete(key)
        except OSError as error:
            log.warning("could not delete stored file %s: %s", key, _reason(error))
        else:
            deleted += 1
    return deleted


def make_storage(app: Flask) -> Storage:
    """The app's attachment storage: UPLOAD_DIR, or uploads/ under the instance folder."""
    root = app.config.get("UPLOAD_DIR") or os.path.join(app.instance_path, "uploads")
    return DirectoryStorage(root)


def app_storage() -> Storage:
    """The current app's attachment storage."""
    return current_app.extensions["attachment_storage"]
