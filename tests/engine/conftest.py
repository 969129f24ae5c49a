import json
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def lenet5() -> dict:
    return json.loads((EXAMPLES / "lenet5.json").read_text())


@pytest.fixture
def vgg16() -> dict:
    return json.loads((EXAMPLES / "vgg16.json").read_text())
