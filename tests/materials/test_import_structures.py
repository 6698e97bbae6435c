"""import_structures: a user's own CIF/POSCAR/extxyz/JSON files, energies optional."""

from __future__ import annotations

import io
from pathlib import Path

import pymatgen.util
import pytest
from ase.io import write as ase_write
from django.core.management import call_command
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from materials.models import ImportRun, Material, Source

pytestmark = pytest.mark.django_db

STRUCTURES = Path(pymatgen.util.__file__).parent / "structures"
LI2O_ENERGY = -14.8  # eV per 3-atom cell: about -2 eV/atom of formation energy


def structure(name: str) -> Structure:
    return Structure.from_file(STRUCTURES / f"{name}.json")


def run_import(*args, **options) -> ImportRun:
    call_command("import_structures", *map(str, args), stdout=io.StringIO(), stderr=io.StringIO(), verbosity=0,
                 workers=1, **options)
    return ImportRun.objects.first()


@pytest.fixture
def upload_dir(tmp_path) -> Path:
    folder = tmp_path / "mine"
    folder.mkdir()
    structure("LiFePO4").to(filename=str(folder / "LiFePO4.cif"))
    structure("SrTiO3").to(filename=str(folder / "POSCAR_SrTiO3"), fmt="poscar")
    atoms = AseAtomsAdaptor.get_atoms(structure("Li2O"))
    atoms.info["energy"] = LI2O_ENERGY
    ase_write(folder / "Li2O.extxyz", atoms, format="extxyz")
    (folder / "notes.txt").write_text("not a structure")
    (folder / "broken.cif").write_text("data_x\n_cell_length_a 1\n")
    return folder


def test_a_folder_of_mixed_formats_imports_and_bad_files_are_reported(upload_dir, tmp_path):
    energies = tmp_path / "energies.csv"
    energies.write_text("file,energy_ev\nLiFePO4.cif,-191.0\n")
    run = run_import(upload_dir, energies=str(energies), method="VASP PBE+U (mine)")
    assert run.inserted == 3
    rejected = [i["reason"] for i in run.issues if i["level"] == "rejected"]
    assert len(rejected) == 1 and rejected[0].startswith("unparsable cif")
    formulas = set(Material.objects.values_list("formula_reduced", flat=True))
    assert formulas == {"LiFePO4", "SrTiO3", "Li2O"}
    assert set(Material.objects.values_list("source", flat=True)) == {Source.UPLOAD}

    lfp = Material.objects.get(formula_reduced="LiFePO4")
    assert lfp.energy_corrected_ev == -191.0 and lfp.e_form_ev_per_atom is not None
    assert lfp.calculations.get().method == "VASP PBE+U (mine)"
    assert Material.objects.get(formula_reduced="Li2O").energy_corrected_ev == LI2O_ENERGY  # from the extxyz itself
    sto = Material.objects.get(formula_reduced="SrTiO3")
    assert sto.energy_corrected_ev is None and sto.energy_note == "no energy supplied"
    assert sto.spacegroup_number == 221


def test_the_same_files_twice_change_nothing(upload_dir):
    run_import(upload_dir)
    ids = sorted(Material.objects.values_list("material_id", flat=True))
    again = run_import(upload_dir)
    assert again.unchanged == 3 and again.inserted == 0
    assert sorted(Material.objects.values_list("material_id", flat=True)) == ids


def test_a_missing_path_is_a_clear_error(tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no such file or folder"):
        run_import(tmp_path / "absent.cif")
