"""The pure catalogue science, on real rows, without a database."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest
import spglib
from pymatgen.core import Composition, Lattice, Structure
from pymatgen.entries.compatibility import MaterialsProject2020Compatibility
from pymatgen.entries.computed_entries import ComputedEntry

from materials import readers, rows, science


@pytest.fixture(scope="module")
def refs(data_dir) -> dict[str, float]:
    return readers.reference_energies(data_dir / readers.ELEMENTAL_REFERENCES)


def test_fast_p1_cif_parser_builds_exactly_what_pymatgen_builds(sample_rows):
    for row in sample_rows:
        fast = science.parse_p1_cif(row["cif"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = Structure.from_str(row["cif"], fmt="cif")
        assert fast is not None, row["material_id"]
        np.testing.assert_allclose(fast.lattice.matrix, reference.lattice.matrix, atol=1e-10)
        assert [site.species_string for site in fast] == [site.species_string for site in reference]
        np.testing.assert_allclose(fast.frac_coords, reference.frac_coords, atol=1e-10)
        assert fast.labels == reference.labels


def test_fast_parser_declines_what_it_does_not_handle():
    symmetric = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    cif = symmetric.to(fmt="cif", symprec=0.1)  # written with its 192 operations
    assert science.parse_p1_cif(cif) is None
    parsed = science.parse_structure(cif, "cif")  # falls back to CifParser
    assert parsed.composition.reduced_formula == "NaCl" and len(parsed) == 8


def test_derived_fields_match_an_independent_spglib_and_density_calculation(sample_rows):
    for row in sample_rows[:40]:
        structure = science.parse_structure(row["cif"], "cif")
        fields = science.structure_fields(structure)
        cell = (structure.lattice.matrix, structure.frac_coords, [site.specie.Z for site in structure])
        dataset = spglib.get_symmetry_dataset(cell, symprec=0.1)
        assert fields["spacegroup_number"] == dataset.number
        mass_g = sum(site.specie.atomic_mass for site in structure) * 1.66053906660e-24
        assert fields["density_g_cm3"] == pytest.approx(mass_g / (structure.volume * 1e-24), rel=1e-6)
        assert fields["nsites"] == row["nsites"]
        assert fields["chemsys"] == row["elements"]
        assert fields["formula_reduced"] == row["reduced_formula"]
        assert fields["crystal_system"] == row["crystal_system"]


def test_total_energy_is_rebuilt_from_formation_energy_and_references(sample_rows, refs):
    row = next(r for r in sample_rows if "Yb" not in r["elements"])
    comp = Composition(row["composition"])
    total = science.energy_from_formation(row["e_form_per_atom"], comp, refs)
    expected = row["e_form_per_atom"] * comp.num_atoms + sum(n * refs[el.symbol] for el, n in comp.items())
    assert total == pytest.approx(expected, abs=1e-9)
    assert science.formation_from_energy(total, comp, refs) == pytest.approx(row["e_form_per_atom"], abs=1e-12)


def test_an_element_without_reference_leaves_the_total_energy_empty(refs):
    assert "Yb" not in refs
    comp = Composition("YbCu2")
    assert science.energy_from_formation(-0.5, comp, refs) is None
    assert science.missing_references(comp, refs) == ["Yb"]


@pytest.mark.parametrize(
    ("material_id", "e_form"),
    [("mp-19009", -1.22), ("mp-22862", -2.107)],  # NiO (GGA+U, raw column +0.40), NaCl
)
def test_mp2020_correction_puts_snapshot_rows_on_the_mp2020_scale(mp_rows, refs, material_id, e_form):
    row = next(r for r in mp_rows if r["MaterialId"] == material_id)
    record = {"material_id": material_id, "composition": row["Composition"], "nsites": row["NSites"],
              "energy_published_ev": row["Corrected Energy"]}
    out = rows.process_mp(record, refs)
    assert out["material"]["e_form_ev_per_atom"] == pytest.approx(e_form, abs=0.01)
    assert out["calculation"]["energy_ev"] == float(row["Corrected Energy"])  # published value kept
    raw_e_form = science.formation_from_energy(float(row["Corrected Energy"]), Composition(row["Composition"]), refs)
    assert out["material"]["e_form_ev_per_atom"] < raw_e_form  # the correction lowers the energy


def test_skipping_the_oxidation_state_guess_changes_no_correction(mp_rows):
    """The shortcut in Mp2020Corrector gives the same energies as pymatgen's full processing."""
    corrector = science.Mp2020Corrector()
    compat = MaterialsProject2020Compatibility(strict_anions="require_bound", check_potcar=False)
    for row in mp_rows[::150]:
        comp = Composition(row["Composition"])
        energy = float(row["Corrected Energy"])
        hubbards = corrector.hubbards(comp)
        entry = ComputedEntry(comp, energy, parameters={"run_type": "GGA+U" if hubbards else "GGA", "hubbards": hubbards})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            full = compat.process_entry(entry, clean=True)
        assert corrector.correct(comp, energy).energy_ev == pytest.approx(full.energy, abs=1e-9), row["MaterialId"]


def test_gga_plus_u_follows_the_composition():
    corrector = science.Mp2020Corrector()
    assert corrector.hubbards(Composition("NiO")) == {"Ni": 6.2}
    assert corrector.hubbards(Composition("Fe2F3O")) == {"Fe": 5.3}  # F is the anion that decides
    assert corrector.hubbards(Composition("NiS")) == {}
    assert corrector.hubbards(Composition("NaCl")) == {}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("data_broken\n_cell_length_a 3.0\n", "unparsable cif"),
        ("", "empty cif"),
    ],
)
def test_unparsable_text_is_rejected_with_the_reason(text, reason):
    with pytest.raises(science.RowRejected, match=reason):
        science.parse_structure(text, "cif")


def test_overlapping_sites_are_rejected_naming_the_sites():
    structure = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.05, 0, 0]])
    with pytest.raises(science.RowRejected, match=r"overlapping sites: Na \(site 0\) and Cl \(site 1\) are 0.200 Å apart"):
        science.check_structure(structure)


def test_unknown_elements_are_rejected_by_name():
    with pytest.raises(science.RowRejected, match="Xx"):
        science.parse_composition("Xx2O3")


def test_unphysical_formation_energy_is_rejected(sample_rows, refs):
    row = dict(sample_rows[0])
    record = {"material_id": row["material_id"], "structure_text": row["cif"], "structure_format": "cif",
              "e_form_ev_per_atom": -9.5, "composition": row["composition"]}
    with pytest.raises(science.RowRejected, match="below -8.0 eV/atom"):
        rows.process_gnome(record, refs)


def test_elemental_references_file_matches_the_unary_rows_of_the_snapshot(data_dir, mp_rows):
    refs = readers.read_references(data_dir / "elemental_references.csv")
    lowest: dict[str, float] = {}
    for row in mp_rows:
        comp = Composition(row["Composition"])
        if len(comp.elements) == 1:
            el = comp.elements[0].symbol
            e = float(row["Corrected Energy"]) / comp.num_atoms
            lowest[el] = min(lowest.get(el, e), e)
    assert {el: energy for el, (energy, _) in refs.items()} == pytest.approx(lowest, abs=1e-9)


def test_readers_report_lines_that_are_not_json(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"material_id": "a"}\nnot json\n[1, 2]\n')
    records = list(readers.read_gnome_sample(path))
    assert records[1][1]["error"].startswith("line is not JSON")
    assert records[2][1]["error"] == "line is not a JSON object"


def test_release_reader_requires_its_columns(tmp_path):
    (tmp_path / "by_id").mkdir()
    with open(tmp_path / readers.GNOME_SUMMARY, "w", newline="") as fh:
        csv.writer(fh).writerows([["MaterialId", "Volume"], ["abc", "1"]])
    with pytest.raises(readers.DatasetError, match="lacks required column"):
        list(readers.read_gnome_release(tmp_path))
