"""The dashboard: HTML pages that poll the REST API from the browser.

The pages hold no data of their own; every number they show comes from `/api/v1`, fetched by the
scripts in `static/js/`. Chart.js is served from `static/vendor/`, so nothing is loaded from the internet.
"""
from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, render_template
from jinja2.utils import htmlsafe_json_dumps

from shared.cnn import lesson
from shared.jobs import TrainParams

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"

bp = Blueprint(
    "dashboard",
    __name__,
    template_folder="templates",
    static_folder="static",
    # Not /static: the app's own static route may claim it.
    static_url_path="/dashboard/static",
)


@bp.get("/")
def jobs_page():
    return render_template("dashboard/jobs.html", page="jobs")


@bp.get("/jobs/<int:job_id>")
def job_page(job_id: int):
    return render_template("dashboard/job.html", page="job", job_id=job_id)


@bp.get("/compare")
def compare_page():
    return render_template("dashboard/compare.html", page="compare")


@bp.get("/models")
def models_page():
    return render_template("dashboard/models.html", page="models")


@bp.get("/models/<int:model_id>")
def model_page(model_id: int):
    return render_template("dashboard/model.html", page="model", model_id=model_id)


@bp.get("/new")
def new_job_page():
    examples = example_definitions()
    # Serialised here, not with |tojson, which sorts keys: a definition should read in its own order.
    examples_json = htmlsafe_json_dumps(examples, dumps=json.dumps)
    # The form starts from the job contract's defaults.
    return render_template("dashboard/new.html", page="new", examples=examples, examples_json=examples_json,
                           defaults=TrainParams())


@bp.get("/learn")
def learn_page():
    # The controls start from the lesson's defaults and stop at the API's bounds.
    return render_template("dashboard/learn.html", page="learn", defaults=lesson.LessonSettings(),
                           lesson=lesson)


def example_definitions() -> dict[str, dict]:
    """The network definitions in `examples/`, by file name; unreadable files are left out."""
    examples = {}
    for path in sorted(EXAMPLES_DIR.glob("*.json")):
        try:
            definition = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(definition, dict) and "layers" in definition:
            examples[path.stem] = definition
    return examples
