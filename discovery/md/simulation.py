"""Molecular dynamics with a universal potential, as GNoME's ionic-conductivity screen: pure, no Django.

NVT with a Nose-Hoover chain (ASE's ``NoseHooverChainNVT``), 2 fs steps, on a supercell of at least
``min_atoms`` atoms. The temperature is ramped from ``start_temperature_k`` to the target in ten equal steps
(one short NVT segment each), then held: an equilibration that is discarded, then the production whose
frames are analysed. The paper ran 50 ps of production after discarding 10 ps; the defaults here are
shorter because a CPU runs a 100-atom cell at a few steps per second (benchmarks/md.py), and they are
stated with every result.

Files in the run's directory:

- ``trajectory.traj``: ASE trajectory, one frame every ``save_every`` steps (positions unwrapped, momenta);
- ``checkpoint.npz``: positions, momenta, thermostat chain state and step after the last saved frame,
  written atomically, so that a killed run resumes from it and continues exactly as it would have.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import product
from pathlib import Path

import numpy as np

RAMP_SEGMENTS = 10


@dataclass(frozen=True)
class MDSettings:
    """Everything that decides a run (stored with every result)."""

    potential: str = "chgnet"  # "chgnet" (CHGNet 0.3.0) or "sevennet" (SevenNet-0)
    temperature_k: float = 1000.0
    start_temperature_k: float = 300.0
    timestep_fs: float = 2.0
    ramp_ps: float = 1.0
    equilibration_ps: float = 2.0  # discarded (the paper: 10 ps)
    production_ps: float = 10.0  # analysed (the paper: 50 ps)
    min_atoms: int = 100
    tdamp_fs: float = 200.0  # thermostat time constant: 100 steps
    save_every: int = 10  # steps between saved frames (20 fs)
    seed: int = 0

    def steps(self, ps: float) -> int:
        return int(round(ps * 1000 / self.timestep_fs))

    @property
    def ramp_steps(self) -> int:
        # whole segments of whole frames, so that segment and frame boundaries coincide
        unit = RAMP_SEGMENTS * self.save_every
        return int(round(self.steps(self.ramp_ps) / unit)) * unit

    @property
    def equilibration_steps(self) -> int:
        return int(round(self.steps(self.equilibration_ps) / self.save_every)) * self.save_every

    @property
    def production_steps(self) -> int:
        return int(round(self.steps(self.production_ps) / self.save_every)) * self.save_every

    @property
    def total_steps(self) -> int:
        return self.ramp_steps + self.equilibration_steps + self.production_steps

    @property
    def production_start(self) -> int:
        return self.ramp_steps + self.equilibration_steps

    def target_temperature(self, step: int) -> float:
        """The thermostat's target for the step that starts at ``step``."""
        if step >= self.ramp_steps or self.ramp_steps == 0:
            return self.temperature_k
        segment = step * RAMP_SEGMENTS // self.ramp_steps
        return self.start_temperature_k + (self.temperature_k - self.start_temperature_k) * (segment + 1) / RAMP_SEGMENTS

    def segment_start(self, step: int) -> int:
        """The step at which the thermostat segment that holds ``step`` began."""
        if step >= self.ramp_steps:
            return self.ramp_steps
        length = self.ramp_steps // RAMP_SEGMENTS
        return (step // length) * length

    def segment_end(self, step: int) -> int:
        """The step at which the current thermostat segment ends."""
        if step >= self.ramp_steps:
            return self.total_steps
        length = self.ramp_steps // RAMP_SEGMENTS
        return (step // length + 1) * length

    def check(self) -> None:
        problems = []
        if self.potential not in ("chgnet", "sevennet"):
            problems.append(f"unknown potential {self.potential!r}: chgnet or sevennet")
        if not 50 <= self.temperature_k <= 3000 or not 1 <= self.start_temperature_k <= 3000:
            problems.append("temperatures must lie between 50 and 3000 K")
        if not 0.1 <= self.timestep_fs <= 5:
            problems.append(f"timestep_fs must lie between 0.1 and 5 (got {self.timestep_fs})")
        if self.production_steps < 2 * self.save_every:
            problems.append("production_ps is too short for two saved frames")
        if self.ramp_ps < 0 or self.equilibration_ps < 0:
            problems.append("ramp_ps and equilibration_ps cannot be negative")
        if not 1 <= self.min_atoms <= 2000 or self.save_every < 1:
            problems.append("min_atoms must lie between 1 and 2000, save_every at least 1")
        if problems:
            raise MDError("; ".join(problems))

    def as_dict(self) -> dict:
        return asdict(self)


class MDError(ValueError):
    """Settings or a structure an MD run cannot take (the message says why)."""


def supercell_multiples(lattice_abc: tuple[float, float, float], nsites: int, min_atoms: int) -> tuple[int, int, int]:
    """The diagonal supercell with at least ``min_atoms`` atoms, at most 1.5 times as many as needed (the cost
    of a step follows the atom count), that is the closest to cubic among those."""
    options = []
    for multiples in product(range(1, 9), repeat=3):
        atoms = nsites * multiples[0] * multiples[1] * multiples[2]
        if atoms >= min_atoms:
            lengths = [a * m for a, m in zip(lattice_abc, multiples, strict=True)]
            options.append((atoms, max(lengths) / min(lengths), multiples))
    if not options:
        raise MDError(f"no supercell up to 8x8x8 of this {nsites}-site cell reaches {min_atoms} atoms")
    cap = max(1.5 * min_atoms, min(atoms for atoms, _, _ in options))
    return min((aspect, atoms, multiples) for atoms, aspect, multiples in options if atoms <= cap)[2]


def calculator(potential: str):
    """The ASE calculator of a potential, loaded once per process (the evaluators' models)."""
    if potential == "chgnet":
        from discovery.evaluation.potentials import CHGNetEvaluator

        return CHGNetEvaluator().calculator()
    if potential == "sevennet":
        from discovery.evaluation.potentials import SevenNetEvaluator

        return SevenNetEvaluator().calculator()
    raise MDError(f"unknown potential {potential!r}: chgnet or sevennet")


class MDRun:
    """One NVT run of one structure at one temperature, in ``directory`` (created; resumable)."""

    def __init__(self, structure, settings: MDSettings, directory: Path, calc=None) -> None:
        settings.check()
        if not structure.is_ordered:
            raise MDError("disordered sites: MD takes ordered crystals only")
        self.settings = settings
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.calc = calc
        self.trajectory_path = self.directory / "trajectory.traj"
        self.checkpoint_path = self.directory / "checkpoint.npz"
        multiples = supercell_multiples(structure.lattice.abc, len(structure), settings.min_atoms)
        self.supercell = structure * multiples
        self.multiples = multiples
        settings_file = self.directory / "settings.json"
        wanted = {"settings": settings.as_dict(), "multiples": list(multiples), "formula": structure.composition.formula}
        if settings_file.exists() and json.loads(settings_file.read_text()) != wanted:
            raise MDError(f"{self.directory} holds a run with other settings; use another directory")
        settings_file.write_text(json.dumps(wanted, indent=1))

    @property
    def step(self) -> int:
        if not self.checkpoint_path.exists():
            return 0
        with np.load(self.checkpoint_path) as data:
            return int(data["step"])

    @property
    def done(self) -> bool:
        return self.step >= self.settings.total_steps

    def _atoms(self):
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
        from pymatgen.io.ase import AseAtomsAdaptor

        atoms = AseAtomsAdaptor.get_atoms(self.supercell)
        atoms.calc = self.calc if self.calc is not None else calculator(self.settings.potential)
        state = None
        if self.checkpoint_path.exists():
            with np.load(self.checkpoint_path) as data:
                state = {key: data[key] for key in data.files}
            atoms.set_positions(state["positions"])
            atoms.set_momenta(state["momenta"])
        else:
            MaxwellBoltzmannDistribution(atoms, temperature_K=self.settings.start_temperature_k,
                                         rng=np.random.default_rng(self.settings.seed))
            Stationary(atoms)
        return atoms, state

    def _consistent_trajectory(self, frames_expected: int) -> None:
        """Drop frames written after the last checkpoint (a run killed between the two writes)."""
        from ase.io.trajectory import Trajectory

        if not self.trajectory_path.exists():
            return
        with Trajectory(self.trajectory_path) as existing:
            count = len(existing)
            if count == frames_expected:
                return
            if count < frames_expected:
                raise MDError(f"{self.trajectory_path} has {count} frames, the checkpoint expects {frames_expected}")
            kept = [existing[i] for i in range(frames_expected)]
        tmp = self.trajectory_path.with_suffix(".tmp")
        with Trajectory(tmp, "w") as out:
            for atoms in kept:
                out.write(atoms)
        os.replace(tmp, self.trajectory_path)

    def run(self, max_steps: int | None = None, progress: Callable[[int, int], None] | None = None) -> int:
        """Run until the end (or ``max_steps`` more steps); returns the step reached."""
        from ase import units
        from ase.io.trajectory import Trajectory
        from ase.md.nose_hoover_chain import NoseHooverChainNVT

        s = self.settings
        atoms, state = self._atoms()
        step = int(state["step"]) if state is not None else 0
        self._consistent_trajectory(step // s.save_every + 1 if state is not None else 0)
        stop = s.total_steps if max_steps is None else min(s.total_steps, step + max_steps)
        with Trajectory(self.trajectory_path, "a") as trajectory:
            if state is None:
                trajectory.write(atoms)  # frame 0
                self._checkpoint(atoms, None, 0)
            while step < stop:
                dynamics = NoseHooverChainNVT(atoms, timestep=s.timestep_fs * units.fs,
                                              temperature_K=s.target_temperature(step), tdamp=s.tdamp_fs * units.fs)
                if state is not None and int(state["segment_start"]) == s.segment_start(step):
                    dynamics._thermostat._eta[:] = state["eta"]
                    dynamics._thermostat._p_eta[:] = state["p_eta"]
                state = None
                end = min(s.segment_end(step), stop)
                while step < end:
                    chunk = min(s.save_every - step % s.save_every, end - step)
                    dynamics.run(chunk)
                    step += chunk
                    if step % s.save_every == 0:
                        trajectory.write(atoms)
                        self._checkpoint(atoms, dynamics, step)
                    if progress is not None:
                        progress(step, s.total_steps)
        return step

    def _checkpoint(self, atoms, dynamics, step: int) -> None:
        tmp = self.directory / "checkpoint.tmp.npz"
        thermostat = dynamics._thermostat if dynamics is not None else None
        # the segment of the dynamics that reached this step: its chain state continues only within it
        np.savez(tmp, positions=atoms.get_positions(), momenta=atoms.get_momenta(), step=step,
                 segment_start=self.settings.segment_start(step - 1) if step > 0 else -1,
                 eta=thermostat._eta if thermostat is not None else np.zeros(3),
                 p_eta=thermostat._p_eta if thermostat is not None else np.zeros(3))
        os.replace(tmp, self.checkpoint_path)

    def production_structures(self) -> list:
        """pymatgen Structures of the saved production frames (what the diffusion analysis takes)."""
        from pymatgen.io.ase import AseAtomsAdaptor

        return [AseAtomsAdaptor.get_structure(atoms) for _, atoms in self.frames(self.settings.production_start)]

    def frames(self, start_step: int = 0):
        """(step, ase.Atoms) of the saved frames from ``start_step`` on."""
        from ase.io.trajectory import Trajectory

        with Trajectory(self.trajectory_path) as trajectory:
            for index in range(len(trajectory)):
                step = index * self.settings.save_every
                if step >= start_step:
                    yield step, trajectory[index]
