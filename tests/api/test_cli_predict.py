"""`convforge predict`, `export` and `import` against the API served over real HTTP, with the token
the CLI sends (CONVFORGE_TOKEN) of the signed-in test user."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image
from werkzeug.serving import make_server

from services.cli.main import main
from shared.data.pipeline import prepare_batch
from shared.db.models import Model, Network
from tests.api.saved_model import CLASSES, MEAN, STD, lenet  # noqa: F401


@pytest.fixture
def served(app, env, default_user):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env.setenv("CONVFORGE_API_URL", f"http://127.0.0.1:{server.server_port}")
    env.setenv("CONVFORGE_TOKEN", default_user.token)
    yield
    server.shutdown()
    thread.join()


def test_predict_prints_the_top_classes(served, lenet, tmp_path, capsys):
    model_id, net = lenet
    pixels = np.random.default_rng(0).integers(0, 256, (2, 28, 28), dtype=np.uint8)
    paths = []
    for index, image in enumerate(pixels):
        paths.append(tmp_path / f"shoe{index}.png")
        Image.fromarray(image).save(paths[-1])
    assert main(["predict", str(model_id), *map(str, paths), "--top", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = net.forward(prepare_batch(pixels[:, None], MEAN, STD)).argmax(axis=1)
    assert [line.split()[0] for line in lines] == ["shoe0.png", "shoe1.png"]
    for line, label in zip(lines, expected):
        assert line.split()[1] == CLASSES[label] and line.count("%") == 2


def test_predict_explains_a_refused_input(served, lenet, tmp_path, capsys):
    (tmp_path / "notes.png").write_text("not an image")
    assert main(["predict", str(lenet[0]), str(tmp_path / "notes.png")]) == 1
    error = capsys.readouterr().err
    assert "not a PNG or JPEG image" in error and "Traceback" not in error
    assert main(["predict", str(lenet[0]), str(tmp_path / "absent.png")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_export_writes_an_onnx_file(served, lenet, tmp_path, capsys):
    import onnx

    target = tmp_path / "lenet.onnx"
    assert main(["export", str(lenet[0]), "-o", str(target)]) == 0
    model = onnx.load(str(target))
    onnx.checker.check_model(model)
    assert model.graph.input[0].name == "pixels" and "wrote" in capsys.readouterr().out
    assert main(["export", "99", "-o", str(tmp_path / "x.onnx")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_import_brings_an_onnx_file_in(served, lenet, tmp_path, capsys, client, sessions, default_user):
    target = tmp_path / "lenet.onnx"
    assert main(["export", str(lenet[0]), "-o", str(target)]) == 0
    dataset_id = client.get(f"/api/v1/models/{lenet[0]}").json["dataset"]["id"]
    assert main(["import", str(target), "--dataset", str(dataset_id), "--name", "again"]) == 0
    assert "network 'again'" in capsys.readouterr().out
    with sessions() as session:
        imported = session.query(Model).order_by(Model.id.desc()).first()
        assert imported.owner_id == default_user.id
        assert session.get(Network, imported.network_id).owner_id == default_user.id
    assert main(["import", str(tmp_path / "absent.onnx"), "--dataset", str(dataset_id)]) == 1
    assert "no such file" in capsys.readouterr().err


def test_another_users_model_is_not_found(served, lenet, tmp_path, capsys, env, make_user):
    env.setenv("CONVFORGE_TOKEN", make_user("bob").token)
    assert main(["export", str(lenet[0]), "-o", str(tmp_path / "x.onnx")]) == 1
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "x.onnx").exists()
