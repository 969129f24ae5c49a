"""The worker's dataset cache against a real S3 server (moto): one download per machine, verified,
shared by concurrent jobs, bounded with least-recently-used eviction, and a damaged copy fetched again."""
from __future__ import annotations

import multiprocessing
import os

import numpy as np
import pytest
from prometheus_client import REGISTRY

from shared.config import load_settings
from shared.data.store import arrays_sha256
from shared.storage import open_store
from tests.support.fixtures import s3  # noqa: F401
from tests.support.s3 import use_s3
from worker.training.dataset_cache import DatasetCache
from worker.lifecycle.errors import JobFailed


def lookups(result: str) -> float:
    return REGISTRY.get_sample_value("convforge_dataset_cache_lookups_total", {"result": result}) or 0.0


@pytest.fixture
def store(s3, monkeypatch, tmp_path):  # noqa: F811
    monkeypatch.setenv("CONVFORGE_VAR_DIR", str(tmp_path / "var"))
    use_s3(monkeypatch, s3)
    return open_store(load_settings())


def publish_dataset(store, tmp_path, name: str, samples: int = 500, seed: int = 0) -> tuple[str, str, int]:
    """Arrays of about samples * 784 bytes under datasets/<name>; returns (path, sha256, size)."""
    rng = np.random.default_rng(seed)
    folder = tmp_path / f"staged-{name}"
    folder.mkdir()
    np.save(folder / "x_train.npy", rng.integers(0, 255, (samples, 1, 28, 28), dtype=np.uint8))
    np.save(folder / "y_train.npy", rng.integers(0, 10, samples).astype(np.int64))
    np.save(folder / "x_test.npy", rng.integers(0, 255, (50, 1, 28, 28), dtype=np.uint8))
    np.save(folder / "y_test.npy", rng.integers(0, 10, 50).astype(np.int64))
    sha256, size = arrays_sha256(folder)
    expected = np.load(folder / "x_train.npy")
    store.publish_folder(f"datasets/{name}", folder)
    np.save(tmp_path / f"expected-{name}.npy", expected)
    return f"datasets/{name}", sha256, size


def test_first_open_downloads_then_hits_memory_mapped(store, tmp_path):
    path, sha256, _size = publish_dataset(store, tmp_path, "a")
    cache = DatasetCache(store, tmp_path / "cache", 10**9)
    misses, hits = lookups("miss"), lookups("hit")
    with cache.open(path, sha256) as arrays:
        assert isinstance(arrays["x_train"], np.memmap)
        assert np.array_equal(arrays["x_train"], np.load(tmp_path / "expected-a.npy"))
        assert set(arrays) == {"x_train", "y_train", "x_test", "y_test"}
    with cache.open(path, sha256) as arrays:
        assert arrays["x_train"].shape == (500, 1, 28, 28)
    assert (lookups("miss") - misses, lookups("hit") - hits) == (1, 1)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir() if p.is_dir()) == [sha256]


def _open_in_process(cache_dir: str, env: dict, path: str, sha256: str, start, results) -> None:
    os.environ.update(env)
    cache = DatasetCache(open_store(load_settings()), cache_dir, 10**9)
    start.wait()
    with cache.open(path, sha256) as arrays:
        results.put((lookups("miss"), lookups("hit"), int(arrays["x_train"].sum())))


def test_two_jobs_at_once_download_once(store, tmp_path):
    path, sha256, _size = publish_dataset(store, tmp_path, "shared", samples=3000)
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(2), context.Queue()
    env = {name: os.environ[name] for name in os.environ if name.startswith(("AWS_", "ARTIFACT_", "CONVFORGE_"))}
    jobs = [context.Process(target=_open_in_process, args=(str(tmp_path / "cache"), env, path, sha256, start, results))
            for _ in range(2)]
    for job in jobs:
        job.start()
    seen = [results.get(timeout=120) for _ in jobs]
    for job in jobs:
        job.join(timeout=30)
        assert job.exitcode == 0
    assert sorted((miss, hit) for miss, hit, _ in seen) == [(0, 1), (1, 0)]
    assert seen[0][2] == seen[1][2] == int(np.load(tmp_path / "expected-shared.npy").sum())
    leftovers = [p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]
    assert leftovers == [], "a temporary download folder was left behind"


def test_least_recently_used_is_evicted_but_never_one_in_use(store, tmp_path):
    datasets = [publish_dataset(store, tmp_path, name, seed=index) for index, name in enumerate("abc")]
    size = datasets[0][2]
    cache = DatasetCache(store, tmp_path / "cache", int(size * 2.5))  # room for two
    cached = lambda: sorted(p.name for p in (tmp_path / "cache").iterdir() if p.is_dir())  # noqa: E731
    (a_path, a_sha, _), (b_path, b_sha, _), (c_path, c_sha, _) = datasets
    with cache.open(a_path, a_sha):
        pass
    with cache.open(b_path, b_sha):
        pass
    with cache.open(a_path, a_sha):  # a is now the most recently used
        pass
    with cache.open(c_path, c_sha):
        pass
    assert cached() == sorted([a_sha, c_sha])  # b, the least recently used, went

    with cache.open(a_path, a_sha) as in_use:
        with cache.open(b_path, b_sha), cache.open(c_path, c_sha):
            pass  # three in the cache while a and b are held open; c is kept as the latest
        assert a_sha in cached()
        assert int(in_use["x_train"].sum()) == int(np.load(tmp_path / "expected-a.npy").sum())
    assert cache.evict() and len(cached()) == 2


def test_a_damaged_cached_file_is_fetched_again(store, tmp_path):
    path, sha256, _size = publish_dataset(store, tmp_path, "damaged")
    cache = DatasetCache(store, tmp_path / "cache", 10**9)
    with cache.open(path, sha256):
        pass
    cached_file = tmp_path / "cache" / sha256 / "x_train.npy"
    with open(cached_file, "r+b") as handle:
        handle.seek(-10, os.SEEK_END)
        handle.write(b"\xff" * 10)
    corrupt, misses = lookups("corrupt"), lookups("miss")
    with cache.open(path, sha256) as arrays:
        assert np.array_equal(arrays["x_train"], np.load(tmp_path / "expected-damaged.npy"))
    assert lookups("corrupt") - corrupt == 1 and lookups("miss") == misses
    assert arrays_sha256(tmp_path / "cache" / sha256)[0] == sha256


def test_a_store_copy_that_does_not_match_its_row_fails_the_job(store, tmp_path):
    path, _sha256, _size = publish_dataset(store, tmp_path, "other")
    cache = DatasetCache(store, tmp_path / "cache", 10**9)
    with pytest.raises(JobFailed, match="has checksum .* not 0000"):
        with cache.open(path, "0" * 64):
            pass
    assert not any((tmp_path / "cache").glob("0000*/"))
