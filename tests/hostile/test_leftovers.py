"""Nothing an interrupted upload leaves behind stays: staging folders, dataset folders without a row (a
crash between the final rename and the row's commit), folders half removed by a crashed sweep and raw
upload folders are swept once untouched for the grace period; live and recent ones are kept."""
from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np

from services.api.housekeeping import sweep_artifacts
from shared.data import IngestLimits, Upload, ingest
from shared.data.sweep import sweep_dataset_folders
from tests.hostile import crafted

HOUR = 3600


def age(path: Path, seconds: float) -> None:
    """Set the mtime of `path` and everything under it `seconds` in the past."""
    stamp = time.time() - seconds
    for root, folders, files in os.walk(path):
        for name in folders + files:
            os.utime(Path(root) / name, (stamp, stamp))
    os.utime(path, (stamp, stamp))


def folder_with_file(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "x_train.npy").write_bytes(b"\0" * 100)
    return path


def test_old_staging_orphans_and_half_removed_folders_go_and_the_rest_stays(tmp_path):
    root = tmp_path / "datasets"
    old = [folder_with_file(root / ".abc.staging-1x2y"), folder_with_file(root / ".def.removing"),
           folder_with_file(root / "orphan")]
    kept = [folder_with_file(root / "known"), folder_with_file(root / "fresh-orphan"),
            folder_with_file(root / ".fresh.staging-9z")]
    for path in old + [root / "known"]:
        age(path, 2 * HOUR)

    report = sweep_dataset_folders(root, {"known"}, grace_seconds=HOUR)

    assert sorted(os.listdir(root)) == sorted(path.name for path in kept)
    assert sorted(report.staging) == [".abc.staging-1x2y", ".def.removing"] and report.orphans == ["orphan"]


def test_a_folder_whose_content_changed_recently_is_kept(tmp_path):
    root = tmp_path / "datasets"
    staging = folder_with_file(root / ".live.staging-1")
    age(staging, 2 * HOUR)
    (staging / "y_train.npy").write_bytes(b"\0")  # a live ingest just wrote this

    assert sweep_dataset_folders(root, set(), grace_seconds=HOUR).removed == 0
    assert staging.exists()


def test_a_crash_after_the_staging_rename_leaves_nothing_after_the_sweep(app, client, settings):
    images, labels = crafted.tiny_images(), np.array([0, 1, 0, 1])
    response = client.post("/api/v1/datasets", content_type="multipart/form-data",
                           data={"file": (io.BytesIO(crafted.npz_bytes(images, labels)), "kept.npz")})
    assert response.status_code == 201
    kept_id = response.json["id"]
    # The state a process killed between the final rename and the row's commit leaves.
    upload = tmp_path_upload(settings.artifact_dir, crafted.npz_bytes(images, labels))
    ingest([Upload("file", "x.npz", upload)], {}, settings.artifact_dir / "datasets" / "crashed",
           IngestLimits.from_settings(settings))
    datasets = settings.artifact_dir / "datasets"
    assert len(os.listdir(datasets)) == 2
    for path in datasets.iterdir():
        age(path, settings.artifact_sweep_grace_seconds + 60)

    report = sweep_artifacts(app)

    assert report.orphans == ["crashed"]
    assert len(os.listdir(datasets)) == 1
    assert client.get(f"/api/v1/datasets/{kept_id}").status_code == 200
    sample = client.get(f"/api/v1/datasets/{kept_id}").json["classes"][0]["sample_urls"][0]
    assert client.get(sample).status_code == 200


def test_upload_folders_of_requests_that_never_ended_are_swept(app, settings):
    uploads = settings.artifact_dir / "tmp"
    stale = folder_with_file(uploads / "upload-killed")
    live = folder_with_file(uploads / "upload-live")
    age(stale, settings.artifact_sweep_grace_seconds + 60)

    assert sweep_artifacts(app).uploads == ["upload-killed"]
    assert not stale.exists() and live.exists()


def tmp_path_upload(artifact_dir: Path, data: bytes) -> Path:
    path = artifact_dir / "inputs" / "x.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
