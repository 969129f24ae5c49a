"""Lessons: one convolution or pooling layer worked through by the engine, every number shown."""
from __future__ import annotations

from flask import Blueprint, jsonify

from services.api.resources.networks import checked_definition
from services.api.route_table import api_route
from services.api.schemas.lessons import LessonQuery, LessonView
from services.api.validation import parse_query
from shared.cnn.lesson import LessonSettings, work_lesson

bp = Blueprint("lessons", __name__, url_prefix="/api/v1/lessons")

@api_route(bp, "/convolution", summary="One conv or pooling layer on a small input, worked through",
           query=LessonQuery, response=LessonView, problems=(400, 422),
           description="Small whole-number input and weights; the output is the engine's forward pass. "
                       "Settings the engine cannot build are refused with the same errors as a network "
                       "definition.")
def convolution_lesson():
    settings = LessonSettings(**parse_query(LessonQuery).model_dump())
    checked_definition(settings.definition())  # 422 with the engine's own errors
    return jsonify(LessonView.model_validate(work_lesson(settings)).model_dump(mode="json"))
