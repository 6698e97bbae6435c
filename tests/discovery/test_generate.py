"""The generators from the catalogue: `manage.py generate` on real seeds, and the compositional pipeline."""

from __future__ import annotations

import csv
import gzip
import json

import pytest
from django.core.management import CommandError, call_command
from pymatgen.core import Composition, Structure

from discovery.generation.candidates import GenerationError
from hullapi import services
from hullapi.models import HullSet, Stability
from materials.models import Material


@pytest.fixture
def hull(catalogue):
    services.recompute(HullSet.ALL)
    return catalogue


def test_generate_writes_novel_candidates_of_stable_seeds_with_their_lineage(hull, tmp_path):
    seeds = set(Stability.objects.filter(hull_set="all", is_stable=True, material__chemsys__in=["Co-Li-O", "Co-O", "Li-O"],
                                         material__structure__isnull=False, material__nelements__gte=2)
                .values_list("material__material_id", flat=True))
    assert seeds, "the catalogue slice has stable Co-Li-O crystals"
    known = set(Material.objects.values_list("formula_reduced", flat=True))
    out = tmp_path / "saps.jsonl.gz"
    call_command("generate", method="saps", chemsys=["Co-Li-O"], limit=40, out=out, stdout=(log := _Log()))
    with gzip.open(out, "rt") as fh:
        records = [json.loads(line) for line in fh]
    assert len(records) == 40 and "40 candidates" in log.text
    assert {r["method"] for r in records} == {"saps"} and {r["parent"] for r in records} <= seeds
    assert not {r["reduced_formula"] for r in records} & known  # novel compositions only
    assert len({r["key"] for r in records}) == 40
    first = Structure.from_dict(records[0]["structure"])
    assert first.composition.reduced_formula == records[0]["reduced_formula"]
    assert {"from", "to", "sites", "k"} <= set(records[0]["detail"])

    folder = tmp_path / "cifs"
    seed = sorted(seeds)[0]
    call_command("generate", method="substitution", seed=[seed], limit=5, out=folder, include_known=True,
                 stdout=_Log())
    cifs = sorted(folder.glob("*.cif"))
    assert len(cifs) == 5 and all(Structure.from_file(c).composition.reduced_formula == c.name.split("-")[0]
                                  for c in cifs)


def test_generate_names_what_is_wrong(hull, tmp_path):
    out = tmp_path / "x.jsonl"
    with pytest.raises(CommandError, match="unknown element"):
        call_command("generate", method="saps", chemsys=["Li-Xx"], out=out)
    with pytest.raises(CommandError, match="no such material: nope"):
        call_command("generate", method="saps", seed=["nope"], out=out)
    with pytest.raises(CommandError, match="needs --seed or --chemsys"):
        call_command("generate", method="substitution", out=out)
    with pytest.raises(CommandError, match="jsonl"):
        call_command("generate", method="saps", chemsys=["Co-Li-O"], out=tmp_path / "x.txt")


def test_the_compositional_pipeline_keeps_compositions_near_the_hull_and_builds_structures(data_dir, tmp_path):
    from discovery.generation.compositional import CompositionalStats, compositional_candidates
    from discovery.gnn.data import composition_examples, read_jsonl_compositions
    from discovery.gnn.model import GNNConfig
    from discovery.gnn.train import TrainConfig, train
    from hullapi.engine import HullIndex
    from materials.science import energy_from_formation
    from tests.conftest import read_sample_rows

    items, _ = composition_examples(read_jsonl_compositions(data_dir / "gnome_materials_sample.jsonl.gz", limit=3000))
    config = GNNConfig(embedding_dim=16, mlp_widths=(16, 16), steps=2, kind="composition")
    models = [train(items, [], config, TrainConfig(epochs=3, batch_size=64, learning_rate=3e-3, seed=s),
                    tmp_path / f"m{s}")[0] for s in range(2)]
    with open(data_dir / "elemental_references.csv", newline="") as fh:
        refs = {row["element"]: float(row["energy_per_atom_eV"]) for row in csv.DictReader(fh)}
    rows = [r for r in read_sample_rows(data_dir, 3000) if r["e_form_per_atom"] == r["e_form_per_atom"]
            and all(e in refs for e in r["elements"].split("-"))]
    index = HullIndex([(r["material_id"], r["composition"], energy_from_formation(r["e_form_per_atom"],
                        Composition(r["composition"]), refs)) for r in rows], refs)

    def placer(composition, e_form):
        return index.query(composition, energy_ev=energy_from_formation(e_form, composition, refs)).e_above_hull_ev_per_atom

    stats = CompositionalStats()
    known = {"LiF"}
    candidates = list(compositional_candidates(["Li", "F"], models, placer, threshold_ev_per_atom=0.5, n_structures=2,
                                               max_atoms=4, known_formulas=known, stats=stats,
                                               random_options={"max_formula_units": 2}))
    assert stats.known == 1 and stats.enumerated == stats.scored + stats.known
    kept = {s.formula for s in stats.scores if s.e_above_hull_pred_ev_per_atom < 0.5}
    assert stats.kept == len(kept) and kept, "some Li-F compositions are predicted near the hull"
    assert {c.parent for c in candidates} <= kept and {c.method for c in candidates} == {"random"}
    assert all(c.reduced_formula == c.parent for c in candidates)
    assert all("e_form_pred_ev_per_atom" in c.detail["composition_model"] for c in candidates)
    with pytest.raises(GenerationError, match="compositional models"):
        list(compositional_candidates(["Li", "F"], [_structural()], placer))


def _structural():
    from discovery.gnn.model import GNNConfig, build_model

    return build_model(GNNConfig(embedding_dim=8, mlp_widths=(8, 8), steps=2))


class _Log:
    def __init__(self):
        self.text = ""

    def write(self, s):
        self.text += s

    def flush(self):
        pass
