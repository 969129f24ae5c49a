"""Schema migrations in code: the Alembic configuration built programmatically, so that
`convforge migrate` works from any working directory."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from shared.config import load_settings

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    if not (MIGRATIONS_DIR / "env.py").is_file():
        # The migrations live beside the packages in the source tree, which an editable install keeps.
        raise FileNotFoundError(f"no Alembic migrations at {MIGRATIONS_DIR}; install convforge from its "
                                "source tree with `pip install -e .`")
    url = database_url or load_settings().database_url
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser treats % as interpolation; passwords may contain it.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_to_head(database_url: str | None = None) -> None:
    url = database_url or load_settings().database_url
    _create_sqlite_folder(url)
    command.upgrade(alembic_config(url), "head")


def _create_sqlite_folder(database_url: str) -> None:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
