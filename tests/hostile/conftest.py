"""The API fixtures (tests/api/conftest.py: a migrated temp database, an artifact store, a recording
job queue), shared so the hostile-input suite authenticates wherever the API tests do."""
from tests.api.conftest import app, client, dataset_id, network_id, queue, sessions, settings  # noqa: F401
from tests.support.fixtures import env, redis_url  # noqa: F401
