"""The embedded default (SQLite, eager tasks) as `make run` starts it, on a slice of the real data."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from django.conf import settings


def test_bootstrap_on_sqlite_loads_data_and_computes_both_hulls(tmp_path):
    database = tmp_path / "embedded.sqlite3"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"}}
    env.update(DATABASE_URL=f"sqlite:///{database}", GNOME_ADMIN_PASSWORD="a-long-test-password",
               GNOME_IMPORT_WORKERS="1")
    for command in (["migrate", "--noinput"], ["bootstrap", "--limit", "40"]):
        result = subprocess.run([sys.executable, "manage.py", *command, "-v0"], cwd=Path(settings.BASE_DIR), env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
    with sqlite3.connect(database) as db:
        by_source = dict(db.execute("SELECT source, COUNT(*) FROM materials_material GROUP BY source"))
        assert by_source == {"gnome": 40, "mp": 40}
        stabilities = dict(db.execute("SELECT hull_set, COUNT(*) FROM hullapi_stability GROUP BY hull_set"))
        assert stabilities == {"all": 80, "mp": 80}
        assert db.execute("SELECT COUNT(*) FROM materials_calculation").fetchone() == (80,)
        # the dimensionality of every structure and a run of every screen, element masks working on SQLite
        assert db.execute("SELECT COUNT(*) FROM materials_material WHERE source = 'gnome' AND dimensionality = ''"
                          ).fetchone() == (0,)
        runs = dict(db.execute("SELECT screen, status FROM materials_screenrun"))
        assert runs == {"li_conductor": "succeeded", "layered": "succeeded", "li_mn_oxides": "succeeded"}
