"""A small client for the REST API, for the `convforge` commands. Failures become `ApiError` with a
message a person can act on (the API's problem document, or why the API could not be reached)."""
from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import requests

from services.cli.credentials import local_token
from shared.config import load_settings

API_PREFIX = "/api/v1"


class ApiError(Exception):
    pass


class ApiClient:
    def __init__(self, base_url: str, timeout: float = 60.0, token: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        token = token or local_token(load_settings())
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def url(self, path: str) -> str:
        return f"{self.base_url}{API_PREFIX}{path}"

    def get(self, path: str, **params) -> dict:
        return self._json(self._send("GET", path, params={k: v for k, v in params.items() if v is not None}))

    def get_text(self, path: str, **params) -> str:
        return self._send("GET", path, params=params).text

    def post(self, path: str, body: dict) -> dict:
        return self._json(self._send("POST", path, json=body))

    def delete(self, path: str) -> None:
        self._send("DELETE", path)

    def upload(self, path: str, file_path: Path, **fields: str) -> dict:
        return self.upload_parts(path, {"file": file_path}, **fields)

    def upload_parts(self, path: str, parts: dict[str, Path], **fields: str) -> dict:
        """A multipart POST with one file per part name (e.g. IDX images and labels)."""
        with ExitStack() as handles:
            files = {name: (file_path.name, handles.enter_context(open(file_path, "rb")))
                     for name, file_path in parts.items()}
            return self._json(self._send("POST", path, files=files, data=fields, timeout=max(self.timeout, 600)))

    def post_files(self, path: str, field: str, file_paths: list[Path], **params) -> dict:
        """A multipart POST with several files under one part name."""
        with ExitStack() as handles:
            files = [(field, (file_path.name, handles.enter_context(open(file_path, "rb"))))
                     for file_path in file_paths]
            return self._json(self._send("POST", path, files=files, params=params))

    def download(self, path: str, target: Path, **params) -> int:
        """Stream a GET answer into `target` (written beside it, then renamed); returns its size."""
        response = self._send("GET", path, params=params, stream=True, timeout=max(self.timeout, 600))
        partial = target.with_name(f".{target.name}.part")
        size = 0
        with open(partial, "wb") as handle:
            for block in response.iter_content(1 << 20):
                handle.write(block)
                size += len(block)
        partial.replace(target)
        return size

    def _send(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = self.session.request(method, self.url(path), **kwargs)
        except requests.ConnectionError:
            raise ApiError(f"cannot reach the API at {self.base_url} (is `convforge up` running? "
                           f"CONVFORGE_API_URL sets the address)") from None
        except requests.Timeout:
            raise ApiError(f"the API at {self.base_url} did not answer {method} {path} in time") from None
        if response.status_code >= 400:
            raise ApiError(_problem_text(method, path, response))
        return response

    @staticmethod
    def _json(response: requests.Response) -> dict:
        try:
            return response.json()
        except ValueError:
            raise ApiError(f"the API answered {response.url} with something that is not JSON") from None


def _problem_text(method: str, path: str, response: requests.Response) -> str:
    try:
        problem = response.json()
    except ValueError:
        return f"{method} {path} failed with HTTP {response.status_code}"
    lines = [f"{problem.get('title', 'Error')} (HTTP {response.status_code}): {problem.get('detail', '')}".rstrip()]
    for error in problem.get("errors") or []:
        if error.get("msg") and error["msg"] not in lines[0]:
            lines.append(f"  - {error['msg']}")
    return "\n".join(lines)
