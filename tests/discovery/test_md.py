"""Machine-learned MD and its analysis: a known diffusivity from a synthetic random walk, the Arrhenius fit,
and short CHGNet runs on a real Li-containing sample crystal (thermostat, atoms kept, exact resume)."""

from __future__ import annotations

import gzip
import json
import math
import warnings

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from discovery.md import analysis
from discovery.md.simulation import MDError, MDRun, MDSettings, supercell_multiples


def random_walk(d_cm2_s: float, frames: int, interval_fs: float, n_li: int = 64, seed: int = 0) -> list[Structure]:
    """Li atoms walking with a known diffusivity among fixed O atoms, in a 12 Å cubic cell."""
    rng = np.random.default_rng(seed)
    lattice = Lattice.cubic(12.0)
    grid = np.array([[i, j, k] for i in range(4) for j in range(4) for k in range(4)], dtype=float) / 4
    li0 = grid[:n_li] * 12.0 + 0.4
    o = grid[:32] * 12.0 + 1.9
    # per-axis variance 2 D dt; D in Å²/fs is D(cm²/s) x 1e16 / 1e15
    sigma = math.sqrt(2 * d_cm2_s * 10 * interval_fs)
    paths = li0 + np.cumsum(np.vstack([np.zeros((1, n_li, 3)), rng.normal(0, sigma, (frames - 1, n_li, 3))]), axis=0)
    species = ["Li"] * n_li + ["O"] * len(o)
    return [Structure(lattice, species, np.vstack([p, o]), coords_are_cartesian=True) for p in paths]


def test_the_analysis_recovers_the_diffusivity_of_a_random_walk():
    for known in (3e-5, 3e-6):
        result = analysis.diffusion(random_walk(known, 1500, 20.0), "Li", 1000.0, 20.0)
        assert result.diffusivity_cm2_s == pytest.approx(known, rel=0.15)
        assert result.conductivity_ms_cm > 0 and result.frames == 1500 and result.time_ps == pytest.approx(29.98)
        assert len(result.msd_a2) <= analysis.MSD_POINTS and result.msd_a2[-1] > result.msd_a2[1]
    fast = analysis.diffusion(random_walk(3e-5, 400, 20.0, seed=1), "Li", 1000.0, 20.0)
    slow = analysis.diffusion(random_walk(3e-7, 400, 20.0, seed=1), "Li", 1000.0, 20.0)
    assert fast.conductivity_ms_cm / slow.conductivity_ms_cm > 30  # two orders of magnitude in D
    with pytest.raises(analysis.AnalysisError, match="no Na"):
        analysis.diffusion(random_walk(1e-5, 5, 20.0), "Na", 1000.0, 20.0)
    with pytest.raises(analysis.AnalysisError, match="at least 3"):
        analysis.diffusion(random_walk(1e-5, 2, 20.0), "Li", 1000.0, 20.0)
    with pytest.raises(analysis.AnalysisError, match="too few for a diffusivity"):
        analysis.diffusion(random_walk(1e-5, 12, 20.0), "Li", 1000.0, 20.0)


def test_superionic_is_the_papers_threshold_and_arrhenius_recovers_the_activation_energy():
    assert analysis.is_superionic(16.0) and not analysis.is_superionic(15.0)  # 10^1.18 = 15.14 mS/cm
    ea, d0, k_b = 0.3, 1e-2, 8.617333e-5
    temps = [800.0, 1000.0, 1200.0]
    fit = analysis.arrhenius(temps, [d0 * math.exp(-ea / (k_b * t)) for t in temps], random_walk(1e-5, 3, 20)[0], "Li")
    assert fit.activation_energy_ev == pytest.approx(ea, rel=1e-3) and fit.conductivity_300k_ms_cm > 0
    with pytest.raises(analysis.AnalysisError, match="needs 3 or more"):
        analysis.arrhenius([800.0, 1000.0], [1e-6, 1e-5], random_walk(1e-5, 3, 20)[0], "Li")


def test_the_supercell_is_as_small_as_allowed_and_near_cubic():
    assert supercell_multiples((5.8, 7.8, 7.96), 20, 100) == (3, 2, 1)
    assert supercell_multiples((4.0, 4.0, 4.0), 5, 100) == (3, 3, 3)
    assert supercell_multiples((10.0, 10.0, 10.0), 200, 100) == (1, 1, 1)


def test_settings_are_checked():
    with pytest.raises(MDError, match="unknown potential 'lammps'"):
        MDSettings(potential="lammps").check()
    with pytest.raises(MDError, match="too short for two saved frames"):
        MDSettings(production_ps=0.01).check()
    settings = MDSettings(ramp_ps=0.4, equilibration_ps=0.2, production_ps=0.4)
    assert settings.total_steps == 500 and settings.production_start == 300
    assert [settings.target_temperature(s) for s in (0, 19, 20, 199, 200)] == [370.0, 370.0, 440.0, 1000.0, 1000.0]


@pytest.fixture(scope="module")
def li_crystal(data_dir) -> Structure:
    """The smallest real Li crystal of the sample with Li, Ti and O: LiTi3O3 (7 sites)."""
    with gzip.open(data_dir / "gnome_materials_sample.jsonl.gz", "rt") as fh, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for line in fh:
            row = json.loads(line)
            if row["material_id"] == "556aa7ef0a":
                return Structure.from_str(row["cif"], fmt="cif")
    pytest.fail("LiTi3O3 (556aa7ef0a) is not in the sample")


@pytest.fixture(scope="module")
def chgnet():
    from discovery.md.simulation import calculator

    return calculator("chgnet")


def test_nvt_settles_near_its_target_and_keeps_every_atom(li_crystal, chgnet, tmp_path):
    settings = MDSettings(temperature_k=600.0, start_temperature_k=600.0, ramp_ps=0.0, equilibration_ps=0.2,
                          production_ps=0.4, min_atoms=28, tdamp_fs=50.0, save_every=5)
    run = MDRun(li_crystal, settings, tmp_path, calc=chgnet)
    assert run.run() == settings.total_steps == 300 and run.done
    frames = list(run.frames(settings.production_start))
    assert len(frames) == settings.production_steps // settings.save_every + 1
    temperatures = [atoms.get_temperature() for _, atoms in frames]
    assert 450 < np.mean(temperatures) < 750  # 28 atoms fluctuate by ~15 % per frame
    last = frames[-1][1]
    assert len(last) == len(run.supercell) >= 28
    assert sorted(last.get_chemical_symbols()) == sorted(site.specie.symbol for site in run.supercell)
    assert np.isfinite(last.get_positions()).all()


def test_a_run_resumed_from_its_checkpoint_continues_exactly(li_crystal, chgnet, tmp_path):
    settings = MDSettings(temperature_k=900.0, ramp_ps=0.2, equilibration_ps=0.0, production_ps=0.04, min_atoms=14,
                          save_every=5)  # 100 ramp steps in segments of 10, then 20 production steps
    straight = MDRun(li_crystal, settings, tmp_path / "straight", calc=chgnet)
    straight.run()
    resumed = MDRun(li_crystal, settings, tmp_path / "resumed", calc=chgnet)
    assert resumed.run(max_steps=55) == 55  # mid-segment, mid-ramp: the thermostat chain state must carry over
    again = MDRun(li_crystal, settings, tmp_path / "resumed", calc=chgnet)  # a new process would do this
    assert again.step == 55 and again.run() == settings.total_steps
    a, b = list(straight.frames()), list(again.frames())
    assert len(a) == len(b) == settings.total_steps // settings.save_every + 1
    for (_, x), (_, y) in zip(a, b, strict=True):
        assert np.array_equal(x.get_positions(), y.get_positions()) and np.array_equal(x.get_momenta(), y.get_momenta())
    with pytest.raises(MDError, match="other settings"):
        MDRun(li_crystal, MDSettings(temperature_k=500.0), tmp_path / "straight", calc=chgnet)


def test_the_reference_crystals_have_their_textbook_symmetry_and_density():
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    from discovery.md.references import REFERENCES, reference

    # densities (g/cm3) from the room-temperature lattice constants: Li2O 2.013, LiF 2.635, Li3N 1.27-1.30
    expected = {"Li2O": ("Fm-3m", "Li2O", 2.013), "LiF": ("Fm-3m", "LiF", 2.635), "Li3N": ("P6/mmm", "Li3N", 1.29)}
    assert set(REFERENCES) == set(expected)
    for name, (group, formula, density) in expected.items():
        structure = reference(name)
        assert SpacegroupAnalyzer(structure, symprec=0.01).get_space_group_symbol() == group
        assert structure.composition.reduced_formula == formula
        assert abs(structure.density - density) / density < 0.01, (name, structure.density)
        assert structure.is_valid(tol=1.5)  # no two sites closer than 1.5 A
    assert {n for n, r in REFERENCES.items() if r.conductor} == {"Li3N"}
    with pytest.raises(KeyError, match="no reference crystal 'NaCl'"):
        reference("NaCl")
