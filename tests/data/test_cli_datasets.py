"""`convforge datasets` against a stand-in API that records what it was sent."""
from __future__ import annotations

import gzip
import threading

import pytest
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

from services.cli.main import main
from tests.support.services import free_port

DATASET = {"id": 7, "name": "fashion", "source_format": "idx", "num_samples": 4, "num_test_samples": 2,
           "input_shape": [1, 2, 2], "num_classes": 2, "class_names": ["top", "shoe"], "sha256": "ab" * 32,
           "size_bytes": 100, "created_at": "2026-01-02T03:04:05Z", "url": "/api/v1/datasets/7"}


@pytest.fixture
def api(monkeypatch):
    app = Flask("stand-in")
    received = {}

    @app.post("/api/v1/datasets")
    def create():
        received["files"] = {field: (part.filename, part.read()) for field, part in request.files.items()}
        received["form"] = request.form.to_dict()
        if received["form"].get("name") == "refuse":
            return jsonify(type="x", title="Unusable dataset", status=422, detail="4 images but 3 labels",
                           errors=[{"loc": ["labels"], "msg": "4 images but 3 labels"}]), 422, \
                {"Content-Type": "application/problem+json"}
        return jsonify(DATASET), 201

    @app.get("/api/v1/datasets")
    def listing():
        if request.args.get("cursor"):
            return jsonify(items=[DATASET | {"id": 3, "name": "older"}], next_cursor=None)
        return jsonify(items=[DATASET], next_cursor="7")

    port = free_port()
    server = make_server("127.0.0.1", port, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("CONVFORGE_API_URL", f"http://127.0.0.1:{port}")
    yield received
    server.shutdown()
    thread.join()


def test_an_idx_folder_is_sent_as_four_parts(api, tmp_path, capsys):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    names = {"images": "train-images-idx3-ubyte.gz", "labels": "train-labels-idx1-ubyte.gz",
             "test_images": "t10k-images-idx3-ubyte.gz", "test_labels": "t10k-labels-idx1-ubyte.gz"}
    for field, name in names.items():
        (folder / name).write_bytes(gzip.compress(field.encode()))
    assert main(["datasets", "add", str(folder), "--classes", "top,shoe"]) == 0
    assert {field: filename for field, (filename, _) in api["files"].items()} == names
    assert gzip.decompress(api["files"]["test_labels"][1]) == b"test_labels"
    assert api["form"] == {"classes": "top,shoe", "name": "fashion-mnist"}
    out = capsys.readouterr().out
    assert "dataset 7 'fashion'" in out and "4 training images + 2 test" in out and "1x2x2" in out


def test_a_file_is_sent_as_the_file_part_with_its_options(api, tmp_path):
    table, test_table = tmp_path / "train.csv", tmp_path / "test.csv"
    table.write_text("label,a\n0,1\n")
    test_table.write_text("label,a\n1,2\n")
    assert main(["datasets", "add", str(table), "--input-shape", "1,1,1", "--name", "tiny", "--test",
                 str(test_table)]) == 0
    assert api["files"] == {"file": ("train.csv", b"label,a\n0,1\n"), "test_file": ("test.csv", b"label,a\n1,2\n")}
    assert api["form"] == {"input_shape": "1,1,1", "name": "tiny"}


def test_a_rejection_prints_the_problem_detail_without_a_traceback(api, tmp_path, capsys):
    path = tmp_path / "d.npz"
    path.write_bytes(b"PK")
    assert main(["datasets", "add", str(path), "--name", "refuse"]) == 1
    err = capsys.readouterr().err
    assert "Unusable dataset (HTTP 422): 4 images but 3 labels" in err
    assert "Traceback" not in err


def test_a_missing_path_or_incomplete_folder_fails_before_uploading(api, tmp_path, capsys):
    assert main(["datasets", "add", str(tmp_path / "absent.npz")]) == 2
    assert main(["datasets", "add", str(tmp_path)]) == 2
    assert "train-images" in capsys.readouterr().err and "files" not in api


def test_list_follows_every_page(api, capsys):
    assert main(["datasets", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "FORMAT", "TRAIN", "TEST", "INPUT", "CLASSES", "CREATED"]
    assert [line.split()[:2] for line in lines[1:]] == [["7", "fashion"], ["3", "older"]]


def test_an_unreachable_api_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setenv("CONVFORGE_API_URL", f"http://127.0.0.1:{free_port()}")
    assert main(["datasets", "list"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the API" in err and "Traceback" not in err
