"""S3-compatible object storage (AWS S3, MinIO, ...), through boto3. ARTIFACT_URL=s3://bucket/prefix; the
endpoint, region and credentials come from boto3's usual variables (AWS_ENDPOINT_URL, AWS_REGION,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).

S3 makes an object visible only once its upload (single or multipart) completed, so a reader never sees
half an object. Transient failures (connection refused, timeouts, 5xx) are retried for
STORE_RETRY_SECONDS, then raise StoreUnavailable.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .base import CHUNK_BYTES, ArtifactStore, ObjectMissing, ObjectStream, StoreError, check_key, \
    retry_while_unavailable

TRANSIENT_CODES = {"500", "502", "503", "504", "InternalError", "ServiceUnavailable", "SlowDown",
                   "RequestTimeout"}
MISSING_CODES = {"404", "NoSuchKey", "NotFound"}
DELETE_BATCH = 1000  # DeleteObjects takes at most this many keys
TRANSFER = TransferConfig(multipart_threshold=64 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024,
                          max_concurrency=4)


def parse_s3_url(url: str) -> tuple[str, str]:
    """s3://bucket/some/prefix -> ("bucket", "some/prefix/") (prefix "" when none)."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"ARTIFACT_URL={url!r} is not of the form s3://bucket/prefix")
    prefix = parsed.path.strip("/")
    return parsed.netloc, f"{prefix}/" if prefix else ""


class S3Store(ArtifactStore):
    def __init__(self, url: str, retry_seconds: float):
        self.bucket, self.prefix = parse_s3_url(url)
        self.location = url
        self.retry_seconds = retry_seconds
        # Path-style addressing works with AWS, MinIO and every other S3 server; retries are ours (below),
        # so an outage is reported after STORE_RETRY_SECONDS rather than botocore's own schedule.
        self.client = boto3.session.Session().client("s3", config=Config(
            s3={"addressing_style": "path"}, retries={"total_max_attempts": 1},
            connect_timeout=5, read_timeout=60))

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _call(self, what: str, action):
        try:
            return retry_while_unavailable(action, what, self.retry_seconds, _transient, self.location)
        except StoreError:
            raise
        except Exception as exc:
            refusal = _client_error(exc)
            if refusal is not None and _code(refusal) in MISSING_CODES:
                raise ObjectMissing(f"no object while {what} in {self.location}") from exc
            if refusal is not None or isinstance(exc, (BotoCoreError, Boto3Error)):
                raise StoreError(f"the artifact store {self.location} refused {what}: {exc}") from exc
            raise

    def put_file(self, key: str, source: Path) -> None:
        self._call(f"storing {key}", lambda: self.client.upload_file(
            str(source), self.bucket, self._key(key), Config=TRANSFER))

    def get_file(self, key: str, target: Path) -> None:
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        os.close(handle)
        try:
            self._call(f"fetching {key}", lambda: self.client.download_file(
                self.bucket, self._key(key), partial, Config=TRANSFER))
            os.replace(partial, target)
        finally:
            Path(partial).unlink(missing_ok=True)

    def open(self, key: str) -> ObjectStream:
        response = self._call(f"reading {key}", lambda: self.client.get_object(Bucket=self.bucket, Key=self._key(key)))
        body = response["Body"]
        return ObjectStream(int(response["ContentLength"]), body.iter_chunks(CHUNK_BYTES), body.close)

    def keys(self, prefix: str) -> list[str]:
        def listing() -> list[str]:
            found = []
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                          Prefix=self.prefix + prefix)
            for page in pages:
                found += [item["Key"][len(self.prefix):] for item in page.get("Contents", [])]
            return sorted(found)

        return self._call(f"listing {prefix or '/'}", listing)

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": self._key(key)} for key in keys[start:start + DELETE_BATCH]]
            self._call(f"deleting {len(batch)} objects", lambda batch=batch: self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}))

    def ensure_bucket(self) -> str:
        """Create the bucket when it does not exist; returns what was done, in words."""

        def create() -> str:
            try:
                self.client.head_bucket(Bucket=self.bucket)
                return f"bucket {self.bucket} exists"
            except ClientError as exc:
                if _code(exc) not in MISSING_CODES:
                    raise
            region = self.client.meta.region_name
            where = {} if region in (None, "us-east-1") else {
                "CreateBucketConfiguration": {"LocationConstraint": region}}
            self.client.create_bucket(Bucket=self.bucket, **where)
            return f"bucket {self.bucket} created"

        return self._call(f"creating bucket {self.bucket}", create)

    def exists(self, key: str) -> bool:
        try:
            self._call(f"looking up {key}", lambda: self.client.head_object(Bucket=self.bucket, Key=self._key(key)))
        except ObjectMissing:
            return False
        return True


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _underlying(exc: BaseException) -> BaseException | None:
    """What boto3's transfer manager wrapped: S3UploadFailedError raises from a ClientError,
    RetriesExceededError keeps the last connection error."""
    inner = getattr(exc, "last_exception", None) or exc.__cause__ or exc.__context__
    return inner if inner is not exc else None


def _client_error(exc: BaseException | None) -> ClientError | None:
    while exc is not None and not isinstance(exc, ClientError):
        exc = _underlying(exc)
    return exc


def _transient(exc: BaseException | None) -> bool:
    """Connection refused, timeouts, a dropped connection, a 5xx: worth trying again."""
    if exc is None:
        return False
    if isinstance(exc, ClientError):
        return _code(exc) in TRANSIENT_CODES
    if isinstance(exc, (BotoCoreError, ConnectionError, TimeoutError)):
        return True
    return _transient(_underlying(exc))
