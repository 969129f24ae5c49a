from tests.support.fixtures import postgres_database_url, postgres_server_url  # noqa: F401
