"""Similar materials: structure fingerprints (materials.fingerprint), stored at import and by compute_fingerprints,
searched by materials.similarity and served at /api/v1/materials/{id}/similar/."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.management import call_command
from pymatgen.core import Lattice, Structure

from materials import similarity
from materials.fingerprint import (
    DIMENSION,
    FINGERPRINT_VERSION,
    fingerprint,
    from_bytes,
    nearest,
)
from materials.models import Fingerprint, Material
from tests.conftest import read_sample_rows, write_jsonl

QUIET = {"stdout": io.StringIO(), "stderr": io.StringIO(), "verbosity": 0}


def rocksalt(a: float = 5.64, anion: str = "Cl") -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Na", anion], [[0, 0, 0], [0.5, 0.5, 0.5]])


def perturbed(structure: Structure, seed: int, displacement_a: float = 0.03, strain: float = 0.01) -> Structure:
    """Every site moved by ``displacement_a`` (Å) in a random direction, the cell strained by up to ``strain``."""
    rng = np.random.default_rng(seed)
    copy = structure.copy()
    for i in range(len(copy)):
        direction = rng.normal(size=3)
        copy.translate_sites([i], displacement_a * direction / np.linalg.norm(direction), frac_coords=False)
    eps = rng.uniform(-strain, strain, (3, 3))
    return Structure(copy.lattice.matrix @ (np.eye(3) + (eps + eps.T) / 2), copy.species, copy.frac_coords)


# ---- the fingerprint itself (pure) -------------------------------------------------------------------------

def test_it_is_a_float32_vector_unchanged_by_supercells_and_scaling():
    salt = rocksalt()
    vector = fingerprint(salt)
    assert vector.dtype == np.float32 and vector.shape == (DIMENSION,)
    np.testing.assert_allclose(fingerprint(salt * (2, 1, 1)), vector, atol=1e-5)
    scaled = salt.copy()
    scaled.scale_lattice(salt.volume * 1.3)
    np.testing.assert_allclose(fingerprint(scaled), vector, atol=1e-5)
    assert from_bytes(vector.tobytes()).tolist() == vector.tolist()


def test_the_same_prototype_is_nearer_than_another_structure_type():
    salt, bromide = fingerprint(rocksalt()), fingerprint(rocksalt(5.97, "Br"))
    caesium_chloride = fingerprint(Structure(Lattice.cubic(4.12), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]))
    assert np.linalg.norm(salt - bromide) < np.linalg.norm(salt - caesium_chloride)


def test_nearest_is_brute_force_euclidean_closest_first():
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(500, DIMENSION)).astype(np.float32)
    query = rng.normal(size=DIMENSION).astype(np.float32)
    rows, distances = nearest(matrix, np.einsum("ij,ij->i", matrix, matrix), query, 7)
    exact = np.linalg.norm(matrix - query, axis=1)
    assert rows.tolist() == np.argsort(exact)[:7].tolist()
    np.testing.assert_allclose(distances, np.sort(exact)[:7], rtol=1e-4)


def test_a_structure_without_volume_or_sites_is_refused_by_name():
    with pytest.raises(ValueError, match="empty structure"):
        fingerprint(Structure(Lattice.cubic(3), [], []))


# ---- stored and searched (real sample slice) -------------------------------------------------------------

@pytest.fixture
def crystals(tmp_path, data_dir, db) -> int:
    """The first 200 GNoME sample rows, imported with the real importer; returns how many were stored."""
    call_command("import_gnome", str(write_jsonl(tmp_path / "g.jsonl.gz", read_sample_rows(data_dir, 200))),
                 workers=1, **QUIET)
    return Material.objects.filter(structure__isnull=False).count()


@pytest.mark.django_db
def test_every_imported_crystal_has_a_fingerprint_of_the_current_version(crystals, catalogue):
    assert crystals == 200 and Material.objects.filter(structure__isnull=True).count() > 50
    assert Fingerprint.objects.filter(version=FINGERPRINT_VERSION).count() == 200 + 4  # catalogue: 4 crystals
    assert not Fingerprint.objects.filter(material__structure__isnull=True).exists()  # the MP energy-only phases
    stored = Fingerprint.objects.select_related("material").order_by("pk").first()
    np.testing.assert_allclose(from_bytes(bytes(stored.vector)), fingerprint(stored.material.get_structure()),
                               atol=1e-6)


@pytest.mark.django_db
def test_a_perturbed_copy_of_a_sample_crystal_finds_the_original_first(crystals):
    for seed, material in enumerate(Material.objects.filter(source="gnome").order_by("material_id")[:12]):
        found = similarity.similar_to_structure(perturbed(material.get_structure(), seed), k=3)
        assert found[0]["material_id"] == material.material_id, (material.material_id, found)
        assert found[0]["distance"] < found[1]["distance"]


@pytest.mark.django_db
def test_similar_to_material_leaves_the_material_out_and_gives_every_field(catalogue):
    from hullapi import services
    from hullapi.models import HullSet

    services.recompute(HullSet.ALL)
    material = Material.objects.filter(source="gnome").order_by("material_id").first()
    rows = similarity.similar_to_material(material.material_id, k=5)  # the slice holds 4 crystals
    assert len(rows) == 3 and material.material_id not in {r["material_id"] for r in rows}
    assert [r["distance"] for r in rows] == sorted(r["distance"] for r in rows)
    first = Material.objects.get(material_id=rows[0]["material_id"])
    assert rows[0]["formula"] == first.formula_reduced and rows[0]["source"] == first.source
    assert rows[0]["e_above_hull_ev_per_atom"] == first.stabilities.get(hull_set="all").e_above_hull_ev_per_atom
    # its own structure, searched without exclusion, finds itself at distance 0
    itself = similarity.similar_to_structure(material.get_structure(), k=1)[0]
    assert itself["material_id"] == material.material_id and itself["distance"] < 1e-3
    assert similarity.similar_to_structure(material.get_structure(), k=2, exclude_id=material.material_id)[0] \
        == rows[0]


@pytest.mark.django_db
def test_bad_inputs_are_refused_by_name(catalogue):
    material = Material.objects.filter(source="gnome").first()
    with pytest.raises(ValueError, match="k must be an integer from 1 to 50"):
        similarity.similar_to_material(material.material_id, k=0)
    with pytest.raises(ValueError, match="k must be"):
        similarity.similar_to_structure(material.get_structure(), k=51)
    with pytest.raises(TypeError, match="pymatgen Structure, not dict"):
        similarity.similar_to_structure(material.structure)
    with pytest.raises(similarity.UnknownMaterial, match="no material 'nope'"):
        similarity.similar_to_material("nope")
    energy_only = Material.objects.filter(structure__isnull=True).first()
    assert similarity.similar_to_material(energy_only.material_id) == []


@pytest.mark.django_db
def test_the_command_fills_only_what_is_missing_and_is_idempotent(crystals):
    before = dict(Fingerprint.objects.values_list("material_id", "vector"))
    removed = list(Fingerprint.objects.order_by("pk").values_list("pk", flat=True)[:7])
    Fingerprint.objects.filter(pk__in=removed).delete()
    Fingerprint.objects.filter(pk__in=list(before)[-3:]).update(version="gnx-rdf-0")  # an older definition
    out = io.StringIO()
    call_command("compute_fingerprints", stdout=out, verbosity=0)
    assert "10 computed, 0 failed" in out.getvalue()
    assert Fingerprint.objects.filter(version=FINGERPRINT_VERSION).count() == crystals
    out = io.StringIO()
    call_command("compute_fingerprints", stdout=out, verbosity=0)
    assert "0 computed, 0 failed" in out.getvalue()
    call_command("compute_fingerprints", "--all", "--workers", "1", **QUIET)
    after = dict(Fingerprint.objects.values_list("material_id", "vector"))
    assert after.keys() == before.keys() and all(bytes(after[k]) == bytes(before[k]) for k in before)


@pytest.mark.django_db
def test_a_material_saved_on_its_own_is_fingerprinted_and_found(crystals):
    original = Material.objects.filter(source="gnome").order_by("material_id").first()
    similarity.similar_to_material(original.material_id)  # the matrix is built before the new material exists
    copy = perturbed(original.get_structure(), 1, displacement_a=0.005, strain=0.0)
    Material.objects.create(material_id="gnx-test000001", source="discovery", licence="CC-BY-NC-4.0",
                            structure=copy.as_dict(), formula=original.formula, formula_reduced=original.formula_reduced,
                            formula_anonymous=original.formula_anonymous, chemsys=original.chemsys,
                            elements=original.elements, nelements=original.nelements, nsites=original.nsites,
                            dataset="test", row_hash="x")
    assert Fingerprint.objects.filter(material__material_id="gnx-test000001", version=FINGERPRINT_VERSION).exists()
    assert similarity.similar_to_material(original.material_id, k=1)[0]["material_id"] == "gnx-test000001"



@pytest.mark.django_db
def test_an_answer_holds_only_fingerprints_stored_now(crystals):
    first = Material.objects.filter(source="gnome").order_by("material_id").first()
    target = first.get_structure()
    assert similarity.similar_to_structure(target, k=1)[0]["material_id"] == first.material_id  # matrix built
    # the nearest material loses its fingerprint (its row is rewritten, as after a restore that reuses its id);
    # the matrix still holds the old vector under that id, but the answer is read from what is stored now
    Fingerprint.objects.filter(material=first).delete()
    found = similarity.similar_to_structure(target, k=3)
    assert first.material_id not in [row["material_id"] for row in found] and len(found) == 3


# ---- REST ---------------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_rest_endpoint_answers_with_k_rows_and_refuses_bad_parameters(client, crystals):
    material = Material.objects.filter(source="gnome").order_by("material_id").first()
    answer = client.get(f"/api/v1/materials/{material.material_id}/similar/", {"k": 3})
    assert answer.status_code == 200
    body = answer.json()
    assert body["data"] == similarity.similar_to_material(material.material_id, 3)
    assert body["meta"] == {"api_version": "1", "material_id": material.material_id, "k": 3,
                            "fingerprint": FINGERPRINT_VERSION}
    assert len(client.get(f"/api/v1/materials/{material.material_id}/similar/").json()["data"]) == 5
    for bad in ("0", "51", "abc", "-1", "2.5", ""):
        refused = client.get(f"/api/v1/materials/{material.material_id}/similar/", {"k": bad})
        assert refused.status_code == 400 and "k" in refused.json(), bad
        assert "from 1 to 50" in str(refused.json()["k"])
    missing = client.get("/api/v1/materials/no-such-id/similar/")
    assert missing.status_code == 404 and "no-such-id" in missing.json()["detail"]
