"""Discovery rounds in this process (eager tasks) on a real catalogue slice: the whole flywheel, idempotent
stages, the admin start form and the REST API."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from discovery import learning, rounds
from discovery.models import Candidate, DiscoveryRound, TrainingExample
from hullapi import services
from hullapi.models import HullSet, Stability
from materials.models import Calculation, Material, Source

SMALL = {"chemsys": ["Co-Li-O"], "candidate_budget": 40, "evaluation_budget": 2, "control_fraction": 0.5,
         "max_steps": 3, "screen_chunk": 20, "evaluate_chunk": 1}


@pytest.fixture
def hull(catalogue):
    services.recompute(HullSet.ALL)
    services.recompute(HullSet.MP)
    return catalogue


def test_a_round_runs_start_to_finish_and_every_stage_can_run_again(hull):
    rnd = rounds.create_round(SMALL, name="co-li-o", user="test")
    before = Material.objects.count()
    rnd = rounds.run_inline(rnd.pk)
    assert rnd.status == DiscoveryRound.Status.SUCCEEDED and rnd.stage == DiscoveryRound.Stage.RETRAINED
    c = rnd.counts
    assert c["generated"] == 40 == Candidate.objects.filter(round=rnd).count()
    assert c["screened"] + c["screen_refused"] == 40 and c["selected"] == 2 and c["control"] == 1
    evaluated = Candidate.objects.filter(round=rnd, evaluation="done")
    assert evaluated.count() == c["evaluated"] == 3
    # filtered arm: predicted below the threshold, one per composition
    filtered = list(Candidate.objects.filter(round=rnd, arm="filtered"))
    assert all(x.e_above_hull_pred_ev_per_atom < 0.05 for x in filtered)
    assert len({x.formula_reduced for x in filtered}) == len(filtered)
    # verified materials: source discovery, our ids, the evaluator named, labelled a potential's energy
    materials = Material.objects.filter(source=Source.DISCOVERY)
    assert materials.count() == 3 == Material.objects.count() - before
    for m in materials:
        assert m.material_id.startswith("gnx-") and "CHGNet 0.3.0" in m.energy_method and "not DFT" in m.energy_note
        calc = Calculation.objects.get(material=m)
        assert calc.kind == Calculation.Kind.MODEL and calc.method.startswith("CHGNet 0.3.0 relax")
        assert Stability.objects.filter(material=m, hull_set="all").exclude(e_above_hull_ev_per_atom=None).exists()
    m = rnd.metrics
    assert m["evaluated_filtered"] == 2 and m["evaluated_control"] == 1
    assert m["hit_rate"] == m["stable_filtered"] / 2 and m["prevalence"] == m["stable_control"] / 1
    assert m["ensemble_mae_ev_per_atom"] > 0 and "not DFT" in m["energies"]
    # honest hits: each candidate records which binaries of its system held a compound when it was screened,
    # and the hit rate is split by it (Co-Li-O: Co-O and Li-O hold oxides, Co-Li holds nothing in the snapshot)
    from materials.services import hull_completeness

    for x in Candidate.objects.filter(round=rnd, screened=True):
        assert x.hull_completeness["binaries"] == len(x.chemsys.split("-")) * (len(x.chemsys.split("-")) - 1) // 2
    judged = {x.pk: x.hull_completeness for x in evaluated}
    complete = [x for x in evaluated if judged[x.pk]["complete"]]
    h = m["complete_hulls"]
    assert h["evaluated_filtered"] + h["evaluated_control"] == len(complete)
    assert h["stable_filtered"] + h["stable_control"] == sum(x.is_stable for x in complete)
    assert hull_completeness(["Co-Li-O"])["Co-Li-O"]["missing"] == ["Co-Li"]
    assert hull_completeness(["Li-O"])["Li-O"]["complete"] is True
    for x in m["new_stable"]:
        assert x["hull_completeness"] == judged[
            Candidate.objects.get(round=rnd, material__material_id=x["material_id"]).pk]
    for material in materials:
        assert material.extra["hull_completeness"] == Candidate.objects.get(round=rnd, material=material).hull_completeness
    assert set(rnd.timings) >= {"generated", "screened", "selected", "evaluated", "ingested", "hull", "measured"}
    # every evaluated candidate (both arms) is a training example, once, with its method and fidelity
    examples = TrainingExample.objects.filter(origin="round")
    assert rnd.counts["training_examples"] == 3 == examples.count()
    for example in examples:
        c = example.candidate
        assert example.key == c.key and example.method == c.evaluator and example.fidelity == "CHGNet 0.3.0"
        assert example.structure == c.structure and example.relaxed_structure == c.relaxed_structure
        assert example.e_form_ev_per_atom == c.e_form_ev_per_atom and example.converged is not None
        assert example.e_above_hull_ev_per_atom is not None and example.split in {"train", "validation", "test"}
    assert learning.record_round_examples(rnd.pk) == 0

    # idempotent: every stage again changes nothing and stores nothing twice
    rounds.generate(rnd.pk)
    rounds.screen(rnd.pk, Candidate.objects.filter(round=rnd).values_list("pk", flat=True))
    rounds.evaluate(rnd.pk, evaluated.values_list("pk", flat=True))
    DiscoveryRound.objects.filter(pk=rnd.pk).update(stage=DiscoveryRound.Stage.EVALUATED)
    rounds.run_inline(rnd.pk)
    assert Material.objects.filter(source=Source.DISCOVERY).count() == 3
    assert Candidate.objects.filter(round=rnd).count() == 40

    # a second round over the same seeds finds the same structures: linked, never stored again
    again = rounds.run_inline(rounds.create_round(SMALL).pk)
    assert again.status == DiscoveryRound.Status.SUCCEEDED
    keys = set(Candidate.objects.filter(round=again, evaluation="done").values_list("key", flat=True))
    shared = keys & set(evaluated.values_list("key", flat=True))
    assert Material.objects.filter(source=Source.DISCOVERY).count() == 3 + len(keys - shared)
    # a structure evaluated again by the same method is still one example
    assert TrainingExample.objects.count() == 3 + len(keys - shared)


def test_bad_round_settings_are_named():
    with pytest.raises(rounds.RoundError, match="give chemical systems or seed material ids"):
        rounds.validate_config({})
    with pytest.raises(rounds.RoundError, match="unknown setting"):
        rounds.validate_config({"chemsys": ["Li-O"], "budget": 3})
    with pytest.raises(rounds.RoundError, match="unknown element"):
        rounds.validate_config({"chemsys": ["Li-Qq"]})
    with pytest.raises(rounds.RoundError, match="unknown evaluator 'vasp6'"):
        rounds.validate_config({"chemsys": ["Li-O"], "evaluator": "vasp6"})
    with pytest.raises(rounds.RoundError, match="evaluation_budget must be an integer from 1 to 10000000"):
        rounds.validate_config({"chemsys": ["Li-O"], "evaluation_budget": 0})
    with pytest.raises(rounds.RoundError, match="candidate_budget must be an integer"):
        rounds.validate_config({"chemsys": ["Li-O"], "candidate_budget": "lots"})
    with pytest.raises(rounds.RoundError, match="chemsys must be a list of strings"):
        rounds.validate_config({"chemsys": "Li-O"})
    with pytest.raises(rounds.RoundError, match="chemsys: 51 given; at most 50"):
        rounds.validate_config({"chemsys": ["Li-O"] * 51})
    with pytest.raises(rounds.RoundError, match="control_fraction must be a number from 0 to 1"):
        rounds.validate_config({"chemsys": ["Li-O"], "control_fraction": "half"})
    with pytest.raises(rounds.RoundError, match="cluster must be true or false"):
        rounds.validate_config({"chemsys": ["Li-O"], "cluster": "yes"})
    with pytest.raises(rounds.RoundError, match="the configuration must be an object"):
        rounds.validate_config(["Li-O"])
    with pytest.raises(rounds.RoundError, match="precision must be float32 or bfloat16"):
        rounds.validate_config({"chemsys": ["Li-O"], "precision": "half"})
    with pytest.raises(rounds.RoundError, match="tta must be true, false or null"):
        rounds.validate_config({"chemsys": ["Li-O"], "tta": "yes"})


def test_a_cancelled_round_stops_before_its_next_stage(hull):
    rnd = rounds.create_round(SMALL)
    rounds.generate(rnd.pk)
    assert rounds.cancel(rnd.pk)
    rnd = rounds.run_inline(rnd.pk)
    assert rnd.status == DiscoveryRound.Status.CANCELLED and rnd.stage == DiscoveryRound.Stage.GENERATED
    assert not rounds.cancel(rnd.pk)  # already ended


def test_staff_start_a_round_from_the_admin_and_others_cannot(hull, client, django_capture_on_commit_callbacks):
    form = {"name": "from admin", "chemsys": "Co-Li-O", "seeds": "", "generators": ["substitution", "saps"],
            "candidate_budget": 20, "max_seeds": 5, "threshold_ev_per_atom": 0.05, "evaluation_budget": 1,
            "control_fraction": 0.0, "evaluator": "chgnet", "fmax": 0.05, "max_steps": 2,
            "random_seed": 1, "precision": "bfloat16"}
    User.objects.create_user("reader", password="pw", is_staff=False)
    client.login(username="reader", password="pw")
    assert client.get("/admin/discovery/discoveryround/add/").status_code == 302  # to the login page
    assert client.post("/api/v1/discovery/rounds/", {"chemsys": ["Co-Li-O"]},
                       content_type="application/json").status_code == 403
    assert not DiscoveryRound.objects.exists()

    User.objects.create_superuser("admin", password="pw")
    client.login(username="admin", password="pw")
    bad = client.post("/admin/discovery/discoveryround/add/", {**form, "chemsys": "Co-Zz"})
    assert bad.status_code == 200 and b"unknown element" in bad.content and not DiscoveryRound.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/discovery/discoveryround/add/", form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    rnd = DiscoveryRound.objects.get()
    assert rnd.created_by == "admin" and rnd.config["candidate_budget"] == 20 and rnd.config["precision"] == "bfloat16"
    assert rnd.status == DiscoveryRound.Status.SUCCEEDED  # tasks run eagerly here: enqueued and completed
    page = client.get(f"/admin/discovery/discoveryround/{rnd.pk}/change/")
    assert page.status_code == 200 and b"hit_rate" in page.content

    listing = client.get("/api/v1/discovery/rounds/").json()["data"]
    assert [r["id"] for r in listing] == [rnd.pk] and listing[0]["status"] == "succeeded"
    client.logout()
    detail = client.get(f"/api/v1/discovery/rounds/{rnd.pk}/").json()["data"]  # public, read-only
    assert detail["counts"]["generated"] == 20 and "not DFT" in detail["energies"]["evaluated"]
    assert set(detail["metrics"]) >= {"hit_rate", "prevalence", "daf", "new_stable"}
    evaluated = client.get(f"/api/v1/discovery/rounds/{rnd.pk}/candidates?arm=any").json()
    assert evaluated["meta"]["total"] == 1 and evaluated["data"][0]["evaluated"]["method"].startswith("CHGNet")
    assert set(detail["metrics"]["complete_hulls"]) >= {"hit_rate", "prevalence", "daf", "hit_rate_ci95", "daf_ci95"}
    assert detail["metrics"]["daf_ci95"] is None  # one evaluated candidate leaves an arm empty: no ratio
    h = evaluated["data"][0]["hull_completeness"]  # Co-Li-O or a subsystem: the binaries and which hold nothing
    assert h["binaries"] == h["covered"] + len(h["missing"]) and h["complete"] == (not h["missing"])
    assert client.get(f"/api/v1/discovery/rounds/{rnd.pk}/candidates?arm=best").status_code == 400
    assert client.get("/api/v1/discovery/rounds/999999/").status_code == 404
