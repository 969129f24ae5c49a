"""The API fixtures (tests/api/conftest.py: a migrated temp database, an artifact store, a recording
job queue), shared so the hostile-input suite authenticates wherever the API tests do."""
from tests.api.conftest import (  # noqa: F401
    anonymous_client, app, client, client_for, dataset_id, default_user, make_user, network_id, queue, sessions,
    settings)
from tests.support.fixtures import env, redis_url  # noqa: F401
