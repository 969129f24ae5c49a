from tests.api.conftest import app, client, dataset_id, network_id, queue, sessions, settings  # noqa: F401
from tests.support.fixtures import env, redis_url  # noqa: F401
