"""Diffusivity and ionic conductivity from MD frames, with pymatgen-analysis-diffusion: pure, no Django.

As GNoME: ``DiffusionAnalyzer`` with ``smoothed="max"`` on the production frames, Nernst-Einstein
conductivity, and the superionic verdict sigma(1000 K) > 10^1.18 mS/cm. With three or more temperatures, an
Arrhenius fit gives the activation energy and the conductivity extrapolated to 300 K.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

SUPERIONIC_LOG10_MS_CM = 1.18  # the paper's threshold on log10(sigma at 1000 K / (mS/cm))
SUPERIONIC_TEMPERATURE_K = 1000.0
MSD_POINTS = 200  # points of the MSD curve kept for the plot
MIN_FRAMES = 40  # DiffusionAnalyzer's smoothed="max" fit wants 30 observations per time step, and a few steps


class AnalysisError(ValueError):
    """Frames that cannot be analysed (the message says why)."""


@dataclass(frozen=True)
class Diffusion:
    specie: str
    temperature_k: float
    diffusivity_cm2_s: float
    diffusivity_std_cm2_s: float
    conductivity_ms_cm: float
    conductivity_std_ms_cm: float
    frames: int
    time_ps: float  # analysed span
    msd_time_ps: tuple[float, ...]  # the MSD curve of the diffusing species (Å²), thinned for plotting
    msd_a2: tuple[float, ...]

    def as_dict(self) -> dict:
        out = asdict(self)
        out["msd_time_ps"], out["msd_a2"] = list(self.msd_time_ps), list(self.msd_a2)
        return out


def diffusion(structures: Sequence, specie: str, temperature_k: float, frame_interval_fs: float) -> Diffusion:
    """``structures``: pymatgen Structures of consecutive saved frames (same lattice and site order),
    ``frame_interval_fs`` apart. Diffusivity in cm²/s and conductivity in mS/cm of ``specie``.

    Raises:
        AnalysisError: fewer than 3 frames, or no site of ``specie``.
    """
    from pymatgen.analysis.diffusion.analyzer import DiffusionAnalyzer

    if len(structures) < 3:
        raise AnalysisError(f"{len(structures)} frames: at least 3 are needed")
    if not any(site.specie.symbol == specie for site in structures[0]):
        raise AnalysisError(f"no {specie} in the structure")
    # time_step x step_skip = time between frames (fs)
    try:
        analyzer = DiffusionAnalyzer.from_structures(list(structures), specie=specie, temperature=temperature_k,
                                                     time_step=frame_interval_fs, step_skip=1, smoothed="max")
    except ValueError as exc:  # pymatgen: "Not enough data to calculate diffusivity"
        raise AnalysisError(f"{len(structures)} frames are too few for a diffusivity ({exc}); the analysis needs "
                            f"about {MIN_FRAMES} or more: run a longer production or save frames more often") from None
    dt = np.asarray(analyzer.dt) / 1000.0  # fs -> ps
    msd = np.asarray(analyzer.msd)
    keep = np.unique(np.linspace(0, len(dt) - 1, min(MSD_POINTS, len(dt))).astype(int))
    return Diffusion(
        specie=specie,
        temperature_k=float(temperature_k),
        diffusivity_cm2_s=float(analyzer.diffusivity),
        diffusivity_std_cm2_s=float(analyzer.diffusivity_std_dev),
        conductivity_ms_cm=float(analyzer.conductivity),
        conductivity_std_ms_cm=float(analyzer.conductivity_std_dev),
        frames=len(structures),
        time_ps=(len(structures) - 1) * frame_interval_fs / 1000.0,
        msd_time_ps=tuple(float(x) for x in dt[keep]),
        msd_a2=tuple(float(x) for x in msd[keep]),
    )


def frames_needed(atoms_of_specie: int, frame_interval_fs: float, min_obs: int = 30) -> int:
    """The fewest production frames for which DiffusionAnalyzer's smoothed="max" fit has data: its time
    steps start at 1 ps and end where fewer than ``min_obs`` observations (atoms x time origins) remain."""
    first = int(1000 / frame_interval_fs)
    return max(first + 1, math.ceil((first + 1) * min_obs / max(atoms_of_specie, 1)))


def is_superionic(conductivity_ms_cm_at_1000k: float) -> bool:
    return conductivity_ms_cm_at_1000k > 10 ** SUPERIONIC_LOG10_MS_CM


@dataclass(frozen=True)
class Arrhenius:
    activation_energy_ev: float
    activation_energy_std_ev: float | None
    conductivity_300k_ms_cm: float
    temperatures_k: tuple[float, ...]


def arrhenius(temperatures_k: Sequence[float], diffusivities_cm2_s: Sequence[float], structure, specie: str,
              at_k: float = 300.0) -> Arrhenius:
    """Activation energy from D(T) at 3 or more temperatures, and the conductivity extrapolated to ``at_k``.

    Raises:
        AnalysisError: fewer than 3 temperatures, or a diffusivity that is not positive.
    """
    from pymatgen.analysis.diffusion.analyzer import fit_arrhenius, get_extrapolated_conductivity

    if len(set(temperatures_k)) < 3:
        raise AnalysisError(f"{len(set(temperatures_k))} temperatures: an Arrhenius fit needs 3 or more")
    if any(not d > 0 or not math.isfinite(d) for d in diffusivities_cm2_s):
        raise AnalysisError("every diffusivity must be positive for an Arrhenius fit")
    ea, _, ea_std = fit_arrhenius(list(temperatures_k), list(diffusivities_cm2_s))
    sigma = get_extrapolated_conductivity(list(temperatures_k), list(diffusivities_cm2_s), at_k, structure, specie)
    return Arrhenius(float(ea), None if ea_std is None else float(ea_std), float(sigma), tuple(map(float, temperatures_k)))
