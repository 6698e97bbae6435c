"""Cheon dimensionality: identical to pymatgen's implementation on real structures, and the batch job."""

from __future__ import annotations

import gzip
import io
import json
import warnings

import pytest
from django.core.management import call_command
from pymatgen.analysis.dimensionality import get_dimensionality_cheon
from pymatgen.core import Lattice, Structure
from pymatgen.util.testing import PymatgenTest

from materials.dimensionality import cheon_dimensionality
from materials.models import Material

# sample materials of every class (found by the batch over the whole sample, confirmed against pymatgen below)
CHOSEN = {"5beba20bb4": "2D", "1631043095": "2D", "a4637cd00c": "1D", "297c9b445d": "1D", "68d22b35a7": "0D",
          "1f51f150f2": "0D"}


@pytest.fixture(scope="module")
def real_structures(data_dir) -> dict[str, Structure]:
    """The chosen materials and the first 12 sample rows of at most 24 sites, from their CIFs."""
    found, plain = {}, 0
    with gzip.open(data_dir / "gnome_materials_sample.jsonl.gz", "rt") as fh, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for line in fh:
            row = json.loads(line)
            if row["material_id"] in CHOSEN or (plain < 12 and row["nsites"] <= 24):
                plain += row["material_id"] not in CHOSEN
                found[row["material_id"]] = Structure.from_str(row["cif"], fmt="cif")
            if len(found) == len(CHOSEN) + 12:
                break
    return found


def test_the_labels_are_pymatgens_on_real_structures(real_structures):
    labels = {}
    for material_id, structure in real_structures.items():
        labels[material_id] = cheon_dimensionality(structure)
        assert labels[material_id] == get_dimensionality_cheon(structure, tolerance=0.45), material_id
    assert {m: labels[m] for m in CHOSEN} == CHOSEN
    assert "3D" in labels.values()


def test_layered_compounds_are_2d_and_dense_oxides_3d():
    mos2 = Structure.from_spacegroup("P6_3/mmc", Lattice.hexagonal(3.16, 12.29), ["Mo", "S"],
                                     [[1 / 3, 2 / 3, 1 / 4], [1 / 3, 2 / 3, 0.621]])  # 2H-MoS2
    assert mos2.composition.reduced_formula == "MoS2" and cheon_dimensionality(mos2) == "2D"
    assert cheon_dimensionality(PymatgenTest.get_structure("Graphite")) == "2D"
    for dense in ("TiO2", "SiO2"):
        assert cheon_dimensionality(PymatgenTest.get_structure(dense)) == "3D"


@pytest.mark.django_db
def test_the_batch_stores_every_label_and_resumes(catalogue):
    crystals = Material.objects.filter(structure__isnull=False)
    out = io.StringIO()
    call_command("compute_dimensionality", workers=1, stdout=out, verbosity=0)
    stored = dict(crystals.values_list("material_id", "dimensionality"))
    assert stored and all(stored.values())
    for material in crystals:
        assert stored[material.material_id] == cheon_dimensionality(material.get_structure())
    assert f"dimensionality of {len(stored)} structures" in out.getvalue()
    assert not Material.objects.filter(structure__isnull=True).exclude(dimensionality="").exists()

    out = io.StringIO()
    call_command("compute_dimensionality", workers=1, stdout=out, verbosity=0)  # nothing missing: nothing done
    assert "dimensionality of 0 structures: nothing to do" in out.getvalue()
    Material.objects.filter(pk=crystals.first().pk).update(dimensionality="")
    call_command("compute_dimensionality", workers=2, stdout=out, verbosity=0)
    assert dict(crystals.values_list("material_id", "dimensionality")) == stored
