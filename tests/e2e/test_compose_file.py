"""docker-compose.yml as docker-compose itself reads it (no Docker engine needed for `config`)."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from tests.e2e.processes import REPO
from tests.support.services import require_or_skip

SETTINGS_VARIABLES = {"DATABASE_URL", "REDIS_URL", "ARTIFACT_URL"}
SECRETS = {"POSTGRES_PASSWORD": "pgsecret1", "REDIS_PASSWORD": "redissecret2", "CONVFORGE_SECRET_KEY": "cookiesecret3",
           "CONVFORGE_ADMIN_TOKEN": "cf_" + "a" * 40, "FLOWER_BASIC_AUTH": "ops:flowersecret4",
           "MINIO_ROOT_PASSWORD": "miniosecret5"}


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
    assert set(compose["services"]) == {"redis", "postgres", "minio", "bucket", "migrate", "api", "worker", "flower",
                                        "prometheus", "grafana"}
    assert set(compose["volumes"]) == {"redis-data", "postgres-data", "minio-data"}


def test_redis_persists_and_both_stores_have_healthchecks(compose):
    redis, postgres = compose["services"]["redis"], compose["services"]["postgres"]
    assert "--appendonly" in redis["command"] and redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert any(volume.startswith("redis-data:/data") for volume in _volumes(redis))
    assert any(volume.startswith("postgres-data:") for volume in _volumes(postgres))
    assert redis["healthcheck"]["test"] and postgres["healthcheck"]["test"]


def test_start_order_uses_conditions(compose):
    services = compose["services"]
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["bucket"]["depends_on"] == {"minio": {"condition": "service_healthy"}}
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert services[name]["depends_on"]["bucket"] == {"condition": "service_completed_successfully"}
        assert services[name]["depends_on"]["redis"] == {"condition": "service_healthy"}


def test_convforge_services_run_the_convforge_commands_with_the_same_settings(compose):
    services = compose["services"]
    for name, command in (("migrate", "migrate"), ("api", "api"), ("worker", "worker")):
        service = services[name]
        assert service["command"][:2] == ["convforge", command]
        assert SETTINGS_VARIABLES <= set(service["environment"])
        assert service["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert service["environment"]["ARTIFACT_URL"].startswith("s3://")
    environments = [services[name]["environment"] for name in ("bucket", "migrate", "api", "worker")]
    for variable in ("DATABASE_URL", "ARTIFACT_URL", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID"):
        assert all(env[variable] == environments[0][variable] for env in environments)


def test_workers_share_no_volume_and_the_store_is_minio(compose):
    services = compose["services"]
    assert _volumes(services["worker"]) == [] and _volumes(services["api"]) == []
    minio = services["minio"]
    assert any(volume.startswith("minio-data:/data") for volume in _volumes(minio)) and minio["healthcheck"]["test"]
    assert services["bucket"]["command"] == ["python", "-m", "shared.storage.bucket"]
    assert services["bucket"]["environment"]["AWS_SECRET_ACCESS_KEY"] == minio["environment"]["MINIO_ROOT_PASSWORD"]
    assert services["worker"]["environment"]["AWS_ENDPOINT_URL"] == "http://minio:9000"


def test_worker_can_scale_and_flower_is_pinned(compose):
    worker = compose["services"]["worker"]
    assert "ports" not in worker and "container_name" not in worker  # so --scale worker=N works
    assert worker["command"][worker["command"].index("--name") + 1].endswith("@%h")  # a node name per container
    image = compose["services"]["flower"]["image"]
    assert ":" in image and not image.endswith(":latest")


def _volumes(service: dict) -> list[str]:
    return [v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in service.get("volumes", [])]


def test_monitoring_profile_scrapes_what_the_services_serve(compose):
    import json
    import re

    from prometheus_client import REGISTRY

    import services.api.metrics  # noqa: F401  (registers the API's metrics)
    import worker.metrics  # noqa: F401  (registers the worker's)

    services = compose["services"]
    assert services["prometheus"]["profiles"] == services["grafana"]["profiles"] == ["monitoring"]
    prometheus = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    assert jobs["convforge-api"]["static_configs"][0]["targets"] == ["api:8000"]
    discovered = jobs["convforge-worker"]["dns_sd_configs"][0]
    assert discovered["names"] == ["worker"]
    assert str(discovered["port"]) == services["worker"]["environment"]["WORKER_METRICS_PORT"]
    # Every series the dashboard queries is one the code exports (the API's read-at-scrape gauges too).
    exported = {sample for metric in REGISTRY.collect() for sample in
                {metric.name, f"{metric.name}_total", f"{metric.name}_bucket"}} | {"convforge_jobs", "convforge_queue_depth"}
    dashboard = json.loads((REPO / "deploy" / "grafana" / "convforge.json").read_text())
    queried = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"convforge_\w+", target["expr"])}
    assert queried and queried <= exported, queried - exported
