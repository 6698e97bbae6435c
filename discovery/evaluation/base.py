"""The evaluator interface and the ASE relaxation every potential-based evaluator shares. Pure."""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np


class EvaluationError(RuntimeError):
    """A structure an evaluator could not relax or score (the message says why)."""


@dataclass(frozen=True)
class Evaluation:
    structure: object  # the relaxed pymatgen Structure
    energy_ev: float  # corrected total energy of the relaxed cell (the hull's scale), eV
    energy_raw_ev: float  # the evaluator's own total energy, before any correction
    correction: str  # the correction applied ("none: ..." when the energies already sit on the scale)
    method: str  # e.g. "CHGNet 0.3.0 relax (FIRE, fmax 0.05 eV/Å, cell + positions)"
    converged: bool
    steps: int
    seconds: float
    extra: dict = field(default_factory=dict)

    @property
    def energy_ev_per_atom(self) -> float:
        return self.energy_ev / len(self.structure)


class Evaluator:
    """Relaxes a structure and gives its energy on the hull's scale."""

    name: str = "evaluator"
    is_dft: bool = False  # a potential's energy is labelled as the potential's

    def evaluate(self, structure) -> Evaluation:  # pragma: no cover - interface
        raise NotImplementedError


class AseRelaxEvaluator(Evaluator):
    """Cell and positions relaxed with an ASE optimiser (FIRE by default) on an ASE calculator, then the
    energy of the relaxed cell. Subclasses give the calculator and the correction."""

    label = "ASE calculator"

    def __init__(self, *, fmax: float = 0.05, max_steps: int = 500, relax_cell: bool = True,
                 optimizer: str = "FIRE") -> None:
        if fmax <= 0:
            raise ValueError(f"fmax must be positive, not {fmax}")
        if max_steps < 0:
            raise ValueError(f"max_steps must be at least 0, not {max_steps}")
        if optimizer not in {"FIRE", "BFGS", "LBFGS"}:
            raise ValueError(f"optimizer must be FIRE, BFGS or LBFGS, not {optimizer!r}")
        self.fmax, self.max_steps, self.relax_cell, self.optimizer = fmax, max_steps, relax_cell, optimizer

    @property
    def method(self) -> str:
        what = "cell + positions" if self.relax_cell else "positions"
        return f"{self.label} relax ({self.optimizer}, fmax {self.fmax} eV/Å, {what}, <= {self.max_steps} steps)"

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.label

    def calculator(self):  # pragma: no cover - interface
        raise NotImplementedError

    def correct(self, structure, energy_ev: float) -> tuple[float, str]:
        """(corrected energy, what was applied); the default: the energies already sit on the hull's scale."""
        return energy_ev, "none: the potential is trained on MP2020-corrected energies"

    def evaluate(self, structure) -> Evaluation:
        import ase.optimize
        from ase.filters import FrechetCellFilter
        from pymatgen.io.ase import AseAtomsAdaptor

        started = time.perf_counter()
        atoms = AseAtomsAdaptor.get_atoms(structure)
        atoms.calc = self.calculator()
        target = FrechetCellFilter(atoms) if self.relax_cell else atoms
        optimizer = getattr(ase.optimize, self.optimizer)(target, logfile=None)
        try:
            with quiet_relaxation():
                # the first frame's own energy (the calculator caches it for the optimiser's first step)
                first = float(atoms.get_potential_energy())
                converged = bool(optimizer.run(fmax=self.fmax, steps=self.max_steps)) if self.max_steps else False
                energy = float(atoms.get_potential_energy())
        except Exception as exc:  # noqa: BLE001 - any failure of the potential is this structure's, said with it
            raise EvaluationError(f"{self.label} failed on {structure.composition.reduced_formula}: {exc}") from exc
        if not np.isfinite(energy):
            raise EvaluationError(f"{self.label} gave a non-finite energy for {structure.composition.reduced_formula}")
        found = AseAtomsAdaptor.get_structure(atoms)
        # positions and cell only: calculators leave site properties (e.g. float32 magnetic moments) behind
        relaxed = type(found)(found.lattice, found.species, found.frac_coords)
        corrected, correction = self.correct(relaxed, energy)
        first_corrected = corrected - energy + first if np.isfinite(first) else None
        return Evaluation(structure=relaxed, energy_ev=corrected, energy_raw_ev=energy, correction=correction,
                          method=self.method, converged=converged, steps=int(optimizer.nsteps),
                          seconds=time.perf_counter() - started, extra={"energy_first_frame_ev": first_corrected})


@contextlib.contextmanager
def quiet_relaxation() -> Iterator[None]:
    """Without the warnings a relaxation raises over and over that say nothing about the structure: CHGNet
    turning a tensor that carries gradients into a number, and the cell filter's matrix logarithm reported
    "inaccurate" at errors of 1e-13. Every other warning still shows."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad=True to a scalar",
                                category=UserWarning)
        warnings.filterwarnings("ignore", message="logm result may be inaccurate", category=RuntimeWarning)
        yield


def evaluator_named(name: str, **options) -> Evaluator:
    """An evaluator by name: one of ``potentials.EVALUATORS`` ("chgnet", the default; "sevennet";
    "sevennet-l3i5")."""
    from .potentials import EVALUATORS

    if not isinstance(name, str) or name.lower() not in EVALUATORS:
        raise ValueError(f"unknown evaluator {name!r}: one of {', '.join(EVALUATORS)}")
    return EVALUATORS[name.lower()](**options)
