"""Multipart uploads streamed to disk: each file part goes straight into a per-request folder under
ARTIFACT_DIR/tmp (never into memory), and the folder is removed when the request ends."""
from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import IO

from flask import Request, current_app

UPLOAD_TMP = "tmp"
_SAFE_SUFFIX = re.compile(r"^(\.[A-Za-z0-9]{1,8}){1,2}$")


class StreamingUploadRequest(Request):
    """A Flask request whose file parts are written to named files in its own temp folder."""

    upload_folder: Path | None = None

    def _get_file_stream(self, total_content_length, content_type, filename=None,
                         content_length=None) -> IO[bytes]:
        if self.upload_folder is None:
            root = Path(current_app.extensions["convforge"].settings.artifact_dir) / UPLOAD_TMP
            root.mkdir(parents=True, exist_ok=True)
            self.upload_folder = Path(tempfile.mkdtemp(prefix="upload-", dir=root))
        # Keep a plain suffix (.npz, .csv, .gz) so formats can be recognised; never the user's path.
        return tempfile.NamedTemporaryFile(dir=self.upload_folder, prefix="part-", suffix=safe_suffix(filename),
                                           delete=False)

    def remove_uploads(self) -> None:
        if self.upload_folder is not None:
            shutil.rmtree(self.upload_folder, ignore_errors=True)
            self.upload_folder = None


def safe_suffix(filename: str | None) -> str:
    suffix = "".join(Path(filename or "").suffixes[-2:])
    return suffix if _SAFE_SUFFIX.match(suffix) else ""
