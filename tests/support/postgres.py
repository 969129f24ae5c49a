"""A throwaway PostgreSQL cluster for tests: initdb + pg_ctl in a temp dir, stopped and removed after.

PostgreSQL refuses to run as root, so when the tests run as root the cluster's folder belongs to the
`postgres` user and the server binaries run through `runuser -u postgres --`. The server listens on a
free port on 127.0.0.1 and on a unix socket inside the temp dir; the URL handed out uses the socket.

    with postgres_server() as url:      # postgresql+psycopg://convforge@/convforge?host=...&port=...
        ...
"""
from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tests.support.services import free_port

PG_BINDIR = Path(os.environ.get("CONVFORGE_PG_BINDIR", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "convforge"
# A throwaway cluster needs no durability; these make start-up and DDL fast.
FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


class PostgresUnavailable(RuntimeError):
    pass


def postgres_available() -> bool:
    return (PG_BINDIR / "initdb").exists() and (PG_BINDIR / "pg_ctl").exists()


def database_url(socket_dir: Path, port: int, database: str) -> str:
    return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={socket_dir}&port={port}"


@contextmanager
def postgres_server(database: str = "convforge") -> Iterator[str]:
    """Start a cluster, create `database`, yield its SQLAlchemy URL; stop and delete it on exit."""
    if not postgres_available():
        raise PostgresUnavailable(f"PostgreSQL server binaries not found in {PG_BINDIR}")
    root = Path(tempfile.mkdtemp(prefix="convforge-pg-"))
    data_dir = root / "data"
    log_file = root / "server.log"
    as_user = _run_as_postgres_prefix(root)
    started = False
    try:
        _run(as_user + [str(PG_BINDIR / "initdb"), "-D", str(data_dir), "-U", SUPERUSER,
                        "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"], root)
        for attempt in range(3):
            port = free_port()
            options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 " + " ".join(
                f"-c {setting}" for setting in FAST_SETTINGS
            )
            result = subprocess.run(
                as_user + [str(PG_BINDIR / "pg_ctl"), "-D", str(data_dir), "-l", str(log_file),
                           "-o", options, "-w", "-t", "60", "start"],
                capture_output=True, text=True,
            )
            if result.returncode == 0:
                started = True
                break
            # Most likely another process took the port between choosing and binding it.
        if not started:
            raise PostgresUnavailable(f"PostgreSQL did not start:\n{_tail(log_file)}")
        create_database(database_url(root, port, "postgres"), database)
        yield database_url(root, port, database)
    finally:
        if started:
            subprocess.run(as_user + [str(PG_BINDIR / "pg_ctl"), "-D", str(data_dir), "-m", "immediate",
                                      "-w", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def create_database(server_url: str, name: str | None = None) -> str:
    """Create a new empty database on the server behind `server_url`; return its URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    name = name or f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=url.query["host"], port=int(url.query["port"]), user=url.username,
                         dbname="postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def _run_as_postgres_prefix(root: Path) -> list[str]:
    if os.geteuid() != 0:
        return []
    account = pwd.getpwnam("postgres")
    os.chown(root, account.pw_uid, account.pw_gid)
    return ["runuser", "-u", "postgres", "--"]


def _run(command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise PostgresUnavailable(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


@contextmanager
def server_stopped(url: str) -> Iterator[None]:
    """Stop the cluster behind `url` (fast: open connections are cut) for the duration of the block, then
    start it again with the options it ran with. For tests of a database outage."""
    from sqlalchemy.engine import make_url

    root = Path(make_url(url).query["host"])
    data_dir = root / "data"
    as_user = _run_as_postgres_prefix(root)
    # postmaster.opts holds the server's command line: binary, "-D" dir, then the options to reuse.
    words = shlex.split((data_dir / "postmaster.opts").read_text())[1:]
    options = [word for index, word in enumerate(words)
               if word != "-D" and (index == 0 or words[index - 1] != "-D")]
    _run(as_user + [str(PG_BINDIR / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "stop"], root)
    try:
        yield
    finally:
        _run(as_user + [str(PG_BINDIR / "pg_ctl"), "-D", str(data_dir), "-l", str(root / "server.log"),
                        "-o", shlex.join(options), "-w", "-t", "60", "start"], root)
