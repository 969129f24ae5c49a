"""docker-compose.yml as docker-compose itself reads it (no Docker engine needed for `config`)."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from tests.e2e.processes import REPO
from tests.support.services import require_or_skip

SETTINGS_VARIABLES = {"DATABASE_URL", "REDIS_URL", "ARTIFACT_DIR"}
SECRETS = {"POSTGRES_PASSWORD": "pgsecret1", "REDIS_PASSWORD": "redissecret2", "CONVFORGE_SECRET_KEY": "cookiesecret3",
           "CONVFORGE_ADMIN_TOKEN": "cf_" + "a" * 40, "FLOWER_BASIC_AUTH": "ops:flowersecret4"}


def compose_config(environment: dict[str, str]) -> subprocess.CompletedProcess:
    if shutil.which("docker-compose") is None:
        require_or_skip("docker-compose is not installed")
    base = {key: value for key, value in os.environ.items() if key not in SECRETS}
    return subprocess.run(["docker-compose", "-f", str(REPO / "docker-compose.yml"), "config"],
                          capture_output=True, text=True, timeout=60, cwd=REPO, env={**base, **environment})


@pytest.fixture(scope="module")
def compose() -> dict:
    result = compose_config(SECRETS)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_compose_refuses_to_start_without_each_secret(missing):
    result = compose_config({key: value for key, value in SECRETS.items() if key != missing})
    assert result.returncode != 0 and missing in result.stderr


def test_secrets_reach_the_services_from_the_environment_only(compose):
    services = compose["services"]
    assert "pgsecret1" in services["api"]["environment"]["DATABASE_URL"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "pgsecret1"
    assert services["redis"]["command"][-2:] == ["--requirepass", "redissecret2"]
    for name in ("api", "worker", "migrate"):
        assert services[name]["environment"]["REDIS_URL"] == "redis://:redissecret2@redis:6379/0"
    assert services["flower"]["environment"]["CELERY_BROKER_URL"] == "redis://:redissecret2@redis:6379/0"
    assert services["flower"]["environment"]["FLOWER_BASIC_AUTH"] == "ops:flowersecret4"
    assert services["api"]["environment"]["CONVFORGE_SECRET_KEY"] == "cookiesecret3"
    assert services["migrate"]["environment"]["CONVFORGE_ADMIN_TOKEN"] == SECRETS["CONVFORGE_ADMIN_TOKEN"]
    assert "CONVFORGE_ADMIN_TOKEN" not in services["api"]["environment"]
    dockerfile = (REPO / "Dockerfile").read_text()
    assert not any(name in dockerfile for name in SECRETS)


def test_ports_are_published_on_the_loopback_interface_by_default(compose):
    for name in ("api", "flower"):
        ports = compose["services"][name]["ports"]  # docker-compose v1 keeps the short "ip:host:container"
        assert ports and all((port.get("host_ip") if isinstance(port, dict) else port.split(":")[0]) == "127.0.0.1"
                             for port in ports)


def test_services_and_volumes(compose):
    assert set(compose["services"]) == {"redis", "postgres", "migrate", "api", "worker", "flower"}
    assert set(compose["volumes"]) == {"redis-data", "postgres-data", "artifacts"}


def test_redis_persists_and_both_stores_have_healthchecks(compose):
    redis, postgres = compose["services"]["redis"], compose["services"]["postgres"]
    assert "--appendonly" in redis["command"] and redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert any(volume.startswith("redis-data:/data") for volume in _volumes(redis))
    assert any(volume.startswith("postgres-data:") for volume in _volumes(postgres))
    assert redis["healthcheck"]["test"] and postgres["healthcheck"]["test"]


def test_start_order_uses_conditions(compose):
    services = compose["services"]
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert services[name]["depends_on"]["redis"] == {"condition": "service_healthy"}


def test_convforge_services_run_the_convforge_commands_with_the_same_settings(compose):
    services = compose["services"]
    for name, command in (("migrate", "migrate"), ("api", "api"), ("worker", "worker")):
        service = services[name]
        assert service["command"][:2] == ["convforge", command]
        assert SETTINGS_VARIABLES <= set(service["environment"])
        assert service["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert any(volume.startswith("artifacts:") for volume in _volumes(service))
    environments = [services[name]["environment"] for name in ("migrate", "api", "worker")]
    assert all(env["DATABASE_URL"] == environments[0]["DATABASE_URL"] for env in environments)


def test_worker_can_scale_and_flower_is_pinned(compose):
    worker = compose["services"]["worker"]
    assert "ports" not in worker and "container_name" not in worker  # so --scale worker=N works
    assert worker["command"][worker["command"].index("--name") + 1].endswith("@%h")  # a node name per container
    image = compose["services"]["flower"]["image"]
    assert ":" in image and not image.endswith(":latest")


def _volumes(service: dict) -> list[str]:
    return [v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in service.get("volumes", [])]
