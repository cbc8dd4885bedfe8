"""Where attachments' bytes live, behind one small interface. `LocalStorage` keeps them as
files in a folder (the default: GULLAK_SUPPORT_STORAGE_DIR, else <data_dir>/support). Keys are
made by the service from ids, never from a client's file name, so nothing a client sends
becomes a path.

Bytes are written before the row that names them commits: a rolled-back upload leaves an
unnamed file behind (harmless, and cheaper than a second round of bookkeeping), never a row
without its bytes.
"""

from __future__ import annotations

import os
import re
import tempfile
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from gullak.settings import Settings

_KEY = re.compile(r"^[0-9a-f-]{36}/[0-9a-f-]{36}$")


class Storage(Protocol):
    name: str

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes | None: ...

    def delete(self, key: str) -> None: ...


class LocalStorage:
    """Files in a folder, written whole (to a temporary file, then renamed) so a reader never
    sees half an attachment."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):  # keys are ours; anything else is a bug, not a path to follow
            raise ValueError(f"not a storage key: {key!r}")
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


_override: Storage | None = None


def storage(settings: Settings) -> Storage:
    if _override is not None:
        return _override
    root = settings.support_storage_dir or settings.data_dir / "support"
    return LocalStorage(root)


@contextmanager
def override(found: Storage) -> Iterator[Storage]:
    """Use `found` for attachments for a while (tests)."""
    global _override
    before, _override = _override, found
    try:
        yield found
    finally:
        _override = before
