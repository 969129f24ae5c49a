"""Both artifact stores behave the same through the one interface: the local folder and S3 (a real moto
server)."""
from __future__ import annotations

import threading
import time

import pytest

from shared.config import load_settings
from shared.storage import ObjectMissing, StoreError, StoreUnavailable, open_store
from shared.storage.local import LocalStore
from shared.storage.s3 import S3Store, parse_s3_url
from tests.support.s3 import s3_server, use_s3
from tests.support.services import free_port


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path, monkeypatch):
    monkeypatch.setenv("ARTIFACT_DIR", str(tmp_path / "artifacts"))
    monkeypatch.delenv("ARTIFACT_URL", raising=False)
    if request.param == "s3":
        use_s3(monkeypatch, request.getfixturevalue("s3"))
    opened = open_store(load_settings())
    assert isinstance(opened, LocalStore if request.param == "local" else S3Store)
    return opened


def test_put_get_open_list_delete(store, tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"x" * 3_000_000)
    store.put_file("models/a.npz", source)
    store.put_file("models/b.npz", source)
    store.put_file("checkpoints/job-1/a1-s10.npz", source)
    assert store.keys("models/") == ["models/a.npz", "models/b.npz"]
    assert store.keys("checkpoints/job-1/") == ["checkpoints/job-1/a1-s10.npz"]
    assert store.keys("nothing/") == []
    assert store.exists("models/a.npz") and not store.exists("models/c.npz")

    store.get_file("models/a.npz", tmp_path / "copy" / "a.npz")
    assert (tmp_path / "copy" / "a.npz").read_bytes() == source.read_bytes()
    stream = store.open("models/b.npz")
    assert stream.size == 3_000_000 and b"".join(stream) == source.read_bytes()

    store.delete(["models/a.npz", "models/never-there.npz"])
    assert store.keys("models/") == ["models/b.npz"]
    store.delete_prefix("checkpoints/job-1/")
    assert store.keys("checkpoints/") == []
    with pytest.raises(ObjectMissing):
        store.open("models/a.npz")
    with pytest.raises(ObjectMissing):
        store.get_file("models/a.npz", tmp_path / "missing.npz")
    assert not (tmp_path / "missing.npz").exists()


def test_publish_folder_moves_every_file_under_the_prefix(store, tmp_path):
    folder = tmp_path / "staged"
    (folder / "samples").mkdir(parents=True)
    (folder / "x_train.npy").write_bytes(b"images")
    (folder / "samples" / "0_0.png").write_bytes(b"png")
    keys = store.publish_folder("datasets/abc", folder)
    assert keys == ["datasets/abc/samples/0_0.png", "datasets/abc/x_train.npy"]
    assert not folder.exists()
    assert b"".join(store.open("datasets/abc/samples/0_0.png")) == b"png"


def test_a_reader_never_sees_half_an_object(store, tmp_path):
    """While a large object is replaced again and again, every read is one whole version."""
    versions = [bytes([index]) * 8_000_000 for index in range(3)]
    sources = []
    for index, content in enumerate(versions):
        sources.append(tmp_path / f"v{index}.bin")
        sources[-1].write_bytes(content)
    store.put_file("models/m.npz", sources[0])
    done = threading.Event()

    def writer():
        for round_ in range(4):
            store.put_file("models/m.npz", sources[round_ % 3])
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    reads = 0
    while not done.is_set() or reads < 3:
        content = b"".join(store.open("models/m.npz"))
        assert content in versions, f"read {len(content)} bytes that are no whole version"
        reads += 1
    thread.join()
    # No partial file is ever listed as an object.
    assert store.keys("models/") == ["models/m.npz"]


def test_keys_must_be_plain_relative_paths(store, tmp_path):
    for key in ("../escape", "/abs", "a//b", ""):
        with pytest.raises(ValueError):
            store.open(key)


def test_s3_url_gives_bucket_and_prefix():
    assert parse_s3_url("s3://bucket/a/b/") == ("bucket", "a/b/")
    assert parse_s3_url("s3://bucket") == ("bucket", "")
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        parse_s3_url("http://bucket/a")


def test_unreachable_s3_is_retried_then_reported(monkeypatch, tmp_path):
    """Nothing listens on the endpoint: calls are retried for STORE_RETRY_SECONDS, then StoreUnavailable
    says what was being done."""
    with s3_server() as server:
        use_s3(monkeypatch, server, STORE_RETRY_SECONDS="2")
        store = open_store(load_settings())
        source = tmp_path / "m.bin"
        source.write_bytes(b"m")
        store.put_file("models/m.npz", source)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=r"could not be reached while storing models/n.npz \(tried for 2s\)"):
        store.put_file("models/n.npz", source)
    assert 1.0 < time.monotonic() - started < 15


def test_a_refusal_is_reported_at_once_not_retried(s3, monkeypatch, tmp_path):
    use_s3(monkeypatch, s3, STORE_RETRY_SECONDS="30")
    store = S3Store("s3://no-such-bucket-anywhere/x", retry_seconds=30)
    source = tmp_path / "m.bin"
    source.write_bytes(b"m")
    started = time.monotonic()
    with pytest.raises(StoreError, match="refused storing models/m.npz") as refused:
        store.put_file("models/m.npz", source)
    assert not isinstance(refused.value, StoreUnavailable) and "NoSuchBucket" in str(refused.value)
    assert time.monotonic() - started < 10


def test_closed_port_means_unavailable_not_missing(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    store = S3Store("s3://nobody/x", retry_seconds=1)
    with pytest.raises(StoreUnavailable, match="reading models/m.npz"):
        store.open("models/m.npz")


def test_bucket_command_creates_the_bucket_once(s3, tmp_path):
    import os
    import subprocess
    import sys
    import uuid

    bucket = f"made-{uuid.uuid4().hex[:10]}"
    env = {**os.environ, **s3.env, "ARTIFACT_URL": f"s3://{bucket}/artifacts", "CONVFORGE_VAR_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "shared.storage.bucket"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert (first.returncode, first.stdout.strip()) == (0, f"bucket {bucket} created"), first.stderr
    assert (second.returncode, second.stdout.strip()) == (0, f"bucket {bucket} exists"), second.stderr
    assert bucket in [item["Name"] for item in s3.client().list_buckets()["Buckets"]]
