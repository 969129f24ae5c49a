from tests.support.fixtures import s3  # noqa: F401
