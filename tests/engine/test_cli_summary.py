import json
from pathlib import Path

from services.cli.main import main

LENET = str(Path(__file__).resolve().parents[2] / "examples" / "lenet5.json")


def test_table(capsys):
    assert main(["summary", LENET]) == 0
    out = capsys.readouterr().out
    assert "conv2d_1 (Conv2D)" in out and "Total params: 61,706" in out


def test_explain(capsys):
    assert main(["summary", LENET, "--explain"]) == 0
    assert ("conv2d_1: H2 = W2 = (28 - 5 + 2*2)/1 + 1 = 28; "
            "params = (F*F*D_in + 1) * K = (5*5*1 + 1) * 6 = 156") in capsys.readouterr().out


def test_json(capsys):
    assert main(["summary", "--json", LENET]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["total_params"] == 61_706 and summary["layers"][0]["output_shape"] == [6, 28, 28]


def test_bad_files_exit_non_zero_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"input_shape": [1, 4, 4], "layers": [
        {"type": "conv2d", "filters": 2, "kernel_size": 5}]}))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    for path, expected in ((bad, "layers[0] conv2d_1: kernel_size: kernel 5 is larger than the padded input 4x4"),
                           (broken, "is not valid JSON"), (tmp_path / "missing.json", "cannot read")):
        assert main(["summary", str(path)]) != 0
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err
