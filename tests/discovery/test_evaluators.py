"""The evaluators by name, on a real candidate of the shipped file: what each one relaxes to, how its energy is put
on the hull's scale, and the label it carries. No database."""

from __future__ import annotations

from pathlib import Path

import pytest

from discovery.evaluation import EVALUATORS, evaluator_named
from discovery.evaluation.base import quiet_relaxation
from discovery.gnn.data import read_evaluated, structure_of
from materials.readers import ELEMENTAL_REFERENCES, reference_energies
from materials.science import formation_from_energy

SHIPPED = Path(__file__).resolve().parents[2] / "discovery" / "data" / "evaluated_candidates.jsonl.gz"


@pytest.fixture(scope="module")
def candidate() -> dict:
    """The smallest held-out test candidate CHGNet relaxed (fewest sites, then its key: always the same one)."""
    records = read_evaluated(SHIPPED, splits=("test",))
    return min(records, key=lambda r: (len(r["structure"]["species"]), r["key"]))


@pytest.fixture(scope="module")
def refs() -> dict[str, float]:
    """The elemental references the shipped labels were made with (the data directory's file)."""
    from django.conf import settings

    return reference_energies(settings.GNOME_DATA_DIR / ELEMENTAL_REFERENCES)


@pytest.fixture(scope="module")
def evaluated(candidate) -> dict:
    structure = structure_of(candidate["structure"])
    out = {}
    with quiet_relaxation():
        for name in EVALUATORS:
            out[name] = evaluator_named(name, fmax=0.05, max_steps=300).evaluate(structure)
    return out


def test_every_named_evaluator_relaxes_a_real_candidate_and_labels_its_energy(candidate, evaluated, refs):
    labels = {name: cls.label for name, cls in EVALUATORS.items()}
    assert labels == {"chgnet": "CHGNet 0.3.0", "sevennet": "SevenNet-0", "sevennet-l3i5": "SevenNet-l3i5"}
    for name, result in evaluated.items():
        assert result.method.startswith(f"{labels[name]} relax (FIRE, fmax 0.05 eV/Å")
        assert result.converged and result.steps > 0
        assert result.structure.composition.reduced_formula == candidate["formula_reduced"]
    # CHGNet made the shipped label: the same relaxation gives the same formation energy
    chgnet = evaluated["chgnet"]
    assert formation_from_energy(chgnet.energy_ev, chgnet.structure.composition, refs) == pytest.approx(
        candidate["e_form_ev_per_atom"], abs=2e-3)
    assert chgnet.energy_ev == chgnet.energy_raw_ev  # trained on MP2020-corrected energies: nothing added


def test_sevennet_models_are_distinct_and_mp2020_corrected(evaluated, refs):
    zero, l3i5 = evaluated["sevennet"], evaluated["sevennet-l3i5"]
    for result in (zero, l3i5):
        assert "MP2020" in result.correction
    # the correction comes from the composition: the same for both models
    assert zero.energy_ev - zero.energy_raw_ev == pytest.approx(l3i5.energy_ev - l3i5.energy_raw_ev, abs=1e-9)
    # two different models: different raw energies, yet both near CHGNet's formation energy on the hull's scale
    assert zero.energy_raw_ev != l3i5.energy_raw_ev
    e = {k: formation_from_energy(v.energy_ev, v.structure.composition, refs) for k, v in evaluated.items()}
    assert abs(e["sevennet"] - e["chgnet"]) < 0.15 and abs(e["sevennet-l3i5"] - e["chgnet"]) < 0.15, e


def test_an_unknown_evaluator_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown evaluator 'mace': one of chgnet, sevennet, sevennet-l3i5"):
        evaluator_named("mace")
    with pytest.raises(ValueError, match="unknown evaluator None"):
        evaluator_named(None)


def test_the_admin_round_form_offers_every_evaluator():
    from discovery.admin import DiscoveryRoundForm

    choices = dict(DiscoveryRoundForm().fields["evaluator"].choices)
    assert choices == {"chgnet": "CHGNet 0.3.0 (potential)", "sevennet": "SevenNet-0 (potential)",
                       "sevennet-l3i5": "SevenNet-l3i5 (potential)"}
