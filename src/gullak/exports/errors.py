"""Exports errors, each with a stable code."""

from __future__ import annotations

from gullak.kit.errors import Conflict, InvalidInput, NotFound


class ExportNotFound(NotFound):
    code = "export_not_found"
    title = "No such export"


class UnknownDataset(InvalidInput):
    code = "unknown_dataset"
    title = "No such dataset"


class UnknownFormat(InvalidInput):
    code = "unknown_export_format"
    title = "Exports are written as csv or parquet"


class InvalidPeriod(InvalidInput):
    code = "invalid_export_period"
    title = "An export's period runs from its first day to a later day, that day excluded"


class ExportNotReady(Conflict):
    code = "export_not_ready"
    title = "The export has not finished: its file is not there yet"


class ExportFailed(Conflict):
    code = "export_failed"
    title = "The export failed: it has no file"


class ExportNotDownloadable(Conflict):
    code = "export_not_downloadable"
    title = "The export was written to a file outside the exports storage"


class FileMissing(Conflict):
    code = "export_file_missing"
    title = "The export's file is no longer in the exports storage"
