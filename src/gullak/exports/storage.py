"""Where export files are kept, behind a small interface: a local folder by default
(GULLAK_EXPORT_DIR, or the data folder's exports/). A file becomes visible only once it is
written whole, so a reader never sees half an export."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol

from gullak.settings import Settings

CHUNK = 256 * 1024


class Storage(Protocol):
    name: str

    def open_write(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A file to write `key` into; kept when the block ends, dropped on an error."""
        ...

    def exists(self, key: str) -> bool: ...

    def read(self, key: str) -> Iterator[bytes]:
        """The file's bytes, a chunk at a time."""
        ...

    def describe(self, key: str) -> str:
        """Where the file is, for people (the run log's path)."""
        ...


class LocalStorage:
    """Files under one folder; keys are relative paths inside it and cannot leave it."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError("an export key must stay inside the exports folder")
        return path

    @contextmanager
    def open_write(self, key: str) -> Iterator[BinaryIO]:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        try:
            with open(partial, "wb") as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def read(self, key: str) -> Iterator[bytes]:
        with open(self._path(key), "rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    def describe(self, key: str) -> str:
        return str(self._path(key))


def storage_for(settings: Settings) -> Storage:
    return LocalStorage(settings.export_dir or settings.data_dir / "exports")
