"""Settings come from the environment; production refuses to start without a secret key."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)


def run_check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DATABASE_URL", "ALLOWED_HOSTS"}}
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True,
        timeout=120,
    )


def test_debug_off_without_a_secret_key_refuses_to_start():
    result = run_check({"DEBUG": "False"})
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_a_malformed_boolean_is_named():
    result = run_check({"DEBUG": "maybe"})
    assert result.returncode != 0 and "DEBUG='maybe' is not a boolean" in result.stderr


def test_production_settings_start_with_a_key():
    result = run_check({"DEBUG": "False", "SECRET_KEY": "x" * 60, "ALLOWED_HOSTS": "gnome.example.org"})
    assert result.returncode == 0, result.stderr


def test_the_data_directory_is_a_setting_that_points_at_the_real_data():
    assert (Path(settings.GNOME_DATA_DIR) / "mp_hull_snapshot.csv").is_file()


def test_docker_compose_has_the_production_shape():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker"} <= set(services)
    assert "gunicorn" in services["web"]["command"]
    assert "celery" in services["worker"]["command"]
    env = services["web"]["environment"]
    assert env["DATABASE_URL"].startswith("postgres://") and env["CELERY_BROKER_URL"].startswith("redis://")


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")
def test_docker_compose_config_accepts_the_file():
    result = subprocess.run(
        ["docker-compose", "-f", "docker-compose.yml", "config", "--quiet"], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "SECRET_KEY": "x" * 60}, timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_a_data_directory_without_the_datasets_is_reported(tmp_path):
    result = run_check({"GNOME_DATA_DIR": str(tmp_path)})
    assert "materials.W001" in result.stderr and "gnome_materials_sample.jsonl.gz" in result.stderr
