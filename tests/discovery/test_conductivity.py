"""MD studies through the product: created with named errors, run by the (eager) Celery tasks, resumable, and shown
by the REST API and the explorer's material page with their settings and the not-AIMD label."""

from __future__ import annotations

import gzip
import json

import pytest
from django.contrib.auth.models import User

from discovery import conductivity, tasks
from discovery.models import MDStudy
from materials.models import Material

pytestmark = pytest.mark.django_db

LI_CRYSTAL = "0ee8478064"  # Li5AlS4, 20 sites
# the shortest run the diffusivity fit takes with 20 Li atoms and a frame every 2 fs: 1.6 ps (800 frames)
SHORT = {"ramp_ps": 0.0, "equilibration_ps": 0.02, "production_ps": 1.6, "min_atoms": 40, "save_every": 1}


@pytest.fixture
def crystals(tmp_path, data_dir, mp_rows):
    from tests.conftest import load_rows

    with gzip.open(data_dir / "gnome_materials_sample.jsonl.gz", "rt") as fh:
        rows = [json.loads(line) for line in fh]
    li = next(r for r in rows if r["material_id"] == LI_CRYSTAL)
    other = next(r for r in rows if "Li" not in r["elements"].split("-"))
    load_rows(tmp_path, [r for r in mp_rows if r["Reduced Formula"] in ("Li2O", "LiCl")], [li, other], list(mp_rows[0]))
    return li["material_id"], other["material_id"], Material.objects.filter(source="mp").first().material_id


def test_a_study_names_what_it_cannot_take(crystals):
    li, other, energy_only = crystals
    with pytest.raises(conductivity.StudyError, match=f"{other}: contains no Li"):
        conductivity.create_study([li, other])
    with pytest.raises(conductivity.StudyError, match="nope: no such material"):
        conductivity.create_study(["nope"])
    with pytest.raises(conductivity.StudyError, match="no structure"):
        conductivity.create_study([energy_only])
    with pytest.raises(conductivity.StudyError, match="unknown potential"):
        conductivity.create_study([li], potential="lammps")
    with pytest.raises(conductivity.StudyError, match="unknown setting"):
        conductivity.create_study([li], timestep=1.0)
    assert not MDStudy.objects.exists()


def test_a_study_runs_resumes_and_shows_its_numbers_with_how_they_were_made(crystals, client, settings, tmp_path):
    settings.GNOME_MD_DIR = tmp_path / "md"
    li, _, _ = crystals
    with pytest.raises(conductivity.StudyError, match=r"gives 81 frames; the diffusivity fit needs 752 with its 20 Li"):
        conductivity.create_study([li], [1000.0], **{**SHORT, "production_ps": 0.16})
    study = conductivity.create_study([li], [1000.0], name="short", **SHORT)
    run = study.runs.get()
    assert run.total_steps == 810 and run.status == "queued"

    # a worker that died part-way: the next run resumes from the checkpoint instead of starting again
    from discovery.md.simulation import MDRun as Simulation
    from discovery.md.simulation import MDSettings

    partial = Simulation(Material.objects.get(material_id=li).get_structure(),
                         MDSettings(**{**study.settings, "temperature_k": 1000.0}), conductivity.run_directory(run))
    assert partial.run(max_steps=25) == 25
    assert tasks.start_md_study.delay(study.pk).get() == 1  # eager here: the run goes to the end
    run.refresh_from_db()
    study.refresh_from_db()
    assert run.status == "succeeded" and run.step == 810 and study.status == "succeeded"
    assert run.result["frames"] == 801 and run.result["conductivity_ms_cm"] >= 0 and run.atoms == 40
    assert conductivity.run(run.pk).result == run.result  # idempotent: a finished run is not redone

    body = client.get(f"/api/v1/materials/{li}/conductivity/").json()["data"]
    assert "not ab initio" in body["runs"][0]["method"] and body["runs"][0]["settings"]["production_ps"] == 1.6
    assert body["verdict"]["superionic"] in (True, False) and body["verdict"]["conductivity_1000k_ms_cm"] >= 0
    assert len(body["runs"][0]["msd_a2"]) == len(body["runs"][0]["msd_time_ps"]) > 2
    assert client.get("/api/v1/materials/nope/conductivity/").status_code == 404

    from frontend.pages.material import material_page

    page = str(material_page(li)[0])
    assert "msd-plot" in page and "not AIMD" in page and "Superionic at 1000 K" in page


def test_only_staff_start_studies_in_the_admin(crystals, client, settings, tmp_path, django_capture_on_commit_callbacks):
    settings.GNOME_MD_DIR = tmp_path / "md"
    li, other, _ = crystals
    form = {"name": "admin study", "material_ids": li, "temperatures_k": "800,1000,1200", "potential": "chgnet",
            "ramp_ps": 1, "equilibration_ps": 2, "production_ps": 10, "min_atoms": 100}
    User.objects.create_user("reader", password="pw", is_staff=False)
    client.login(username="reader", password="pw")
    assert client.get("/admin/discovery/mdstudy/add/").status_code == 302
    User.objects.create_superuser("admin", password="pw")
    client.login(username="admin", password="pw")
    bad = client.post("/admin/discovery/mdstudy/add/", {**form, "material_ids": other})
    assert bad.status_code == 200 and b"contains no Li" in bad.content and not MDStudy.objects.exists()
    short = client.post("/admin/discovery/mdstudy/add/", {**form, "production_ps": 0.5})
    assert short.status_code == 200 and b"the diffusivity fit needs" in short.content and not MDStudy.objects.exists()
    with django_capture_on_commit_callbacks(execute=False) as queued:  # queued, not run: hours on a CPU
        response = client.post("/admin/discovery/mdstudy/add/", form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    study = MDStudy.objects.get()
    assert study.created_by == "admin" and study.status == "queued" and len(queued) == 1
    assert sorted(study.runs.values_list("temperature_k", flat=True)) == [800.0, 1000.0, 1200.0]
    assert client.get(f"/admin/discovery/mdstudy/{study.pk}/change/").status_code == 200
