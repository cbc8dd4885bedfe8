"""Reading back what an export stored."""

from __future__ import annotations

from gullak.exports.storage import storage_for
from gullak.settings import Settings


def stored(settings: Settings, path: str | None) -> bytes:
    assert path is not None, "the export has no file"
    return b"".join(storage_for(settings).read(path))
