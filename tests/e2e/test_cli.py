"""The convforge commands' failures: a message and a non-zero exit, never a traceback."""
from __future__ import annotations

import argparse
import os
import subprocess

from services.cli.jobs import add_arguments, train_params
from shared.jobs import DEFAULT_LEARNING_RATES, DEFAULT_MOMENTUM
from tests.e2e.processes import CONVFORGE, REPO
from tests.support.services import free_port


def convforge(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(CONVFORGE + list(args), capture_output=True, text=True, timeout=120, cwd=REPO,
                          env={**os.environ, **env})


def test_unreachable_api_is_explained():
    result = convforge("jobs", CONVFORGE_API_URL=f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert "cannot reach the API at http://127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_definition_file_is_named(tmp_path):
    result = convforge("train", str(tmp_path / "net.json"), "--dataset", "1")
    assert result.returncode == 1
    assert f"{tmp_path / 'net.json'}: no such file" in result.stderr and "Traceback" not in result.stderr


def test_broken_definition_json_says_where(tmp_path):
    (tmp_path / "net.json").write_text('{"name": "x",\n "layers": [}')
    result = convforge("train", str(tmp_path / "net.json"), "--dataset", "1")
    assert result.returncode == 1
    assert "not valid JSON" in result.stderr and "line 2" in result.stderr


def test_up_refuses_a_busy_port(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = convforge("up", CONVFORGE_VAR_DIR=str(tmp_path / "var"), CONVFORGE_API_BIND=f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr and "Traceback" not in result.stderr


def test_train_sends_only_the_options_given_and_the_api_fills_in_the_rest():
    parser = argparse.ArgumentParser()
    add_arguments("train", parser)

    def params(*options: str) -> dict:
        return train_params(parser.parse_args(["net.json", "--dataset", "1", *options]))

    assert params() == {}
    assert params("--optimizer", "adam", "--epochs", "2") == {
        "epochs": 2, "optimizer": {"type": "adam", "lr": DEFAULT_LEARNING_RATES["adam"]}}
    assert params("--lr", "0.01", "--workers", "2") == {
        "workers": 2, "optimizer": {"type": "sgd", "lr": 0.01, "momentum": DEFAULT_MOMENTUM}}
