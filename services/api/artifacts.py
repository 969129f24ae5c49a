"""Objects of the artifact store sent as responses, streamed a chunk at a time (never loaded whole):
files of a local store through send_file (ranges, conditional requests), remote objects as a stream."""
from __future__ import annotations

from flask import Response, send_file

from services.api.extensions import store
from services.api.problems import Problem
from shared.storage import ObjectMissing


def send_artifact(key: str, mimetype: str, missing: Problem, download_name: str | None = None,
                  etag: str | None = None, max_age: int | None = None) -> Response:
    """Raises `missing` (a 404 problem) when the object is gone."""
    local = store().local_path(key)
    if local is not None:
        if not local.is_file():
            raise missing
        return send_file(local, mimetype=mimetype, as_attachment=download_name is not None,
                         download_name=download_name, etag=etag if etag is not None else True, max_age=max_age)
    try:
        stream = store().open(key)
    except ObjectMissing:
        raise missing from None
    response = Response(iter(stream), mimetype=mimetype, direct_passthrough=True)
    response.call_on_close(stream.close)
    response.content_length = stream.size
    if download_name is not None:
        response.headers["Content-Disposition"] = f'attachment; filename="{download_name}"'
    if etag is not None:
        response.set_etag(etag)
    if max_age is not None:
        response.cache_control.max_age = max_age
    return response
