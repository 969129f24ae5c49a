"""Generated job parameters: whatever JSON a user puts in a job's `params`, the API answers 202 with
parameters the job contract accepts, or a 4xx problem document that locates the fault; never a 5xx,
and nothing is queued for a refused job."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from shared.jobs import TrainParams

FIELDS = sorted(TrainParams.model_fields)
# JSON scalars a careless or hostile client sends: numbers at the edges, strings that look like
# numbers, flags, nulls.
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(["1", "", "sgd", "adam", "1e309"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["type", "lr", "flip", "x"]), inner, max_size=3)),
    max_leaves=6)
PARAMS = st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), VALUES, max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=PARAMS)
def test_any_params_are_accepted_whole_or_refused_with_a_location(client, network_id, dataset_id, queue, params):
    sent_before = len(queue.sent)
    response = client.post("/api/v1/jobs", data=json.dumps(
        {"kind": "train", "network_id": network_id, "dataset_id": dataset_id, "params": params}),
        content_type="application/json")
    event(f"status {response.status_code}")
    assert response.status_code < 500, response.json
    if response.status_code == 202:
        stored = client.get(response.headers["Location"]).json["params"]
        assert TrainParams.model_validate(stored).model_dump(mode="json") == stored  # complete and valid
        assert len(queue.sent) == sent_before + 1
        client.post(f"{response.headers['Location']}/cancel")  # keeps the queued-jobs quota free
    else:
        assert response.mimetype == "application/problem+json"
        assert response.json["status"] == response.status_code
        if response.status_code == 422:
            assert all(error["loc"] for error in response.json["errors"])
        assert len(queue.sent) == sent_before
