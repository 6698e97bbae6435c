"""Universal potentials as evaluators: CHGNet 0.3.0 (default) and SevenNet-0. Both ship their weights in their
wheels and load offline; each model is loaded once per process."""

from __future__ import annotations

import contextlib
import io
import warnings
from functools import lru_cache

from .base import AseRelaxEvaluator


@lru_cache(maxsize=1)
def _chgnet():
    from chgnet.model import CHGNet

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CHGNet.load(model_name="0.3.0", verbose=False)


class CHGNetEvaluator(AseRelaxEvaluator):
    """CHGNet 0.3.0: trained on MPtrj's MP2020-corrected energies, so its energy is used as corrected."""

    label = "CHGNet 0.3.0"

    def calculator(self):
        from chgnet.model.dynamics import CHGNetCalculator

        # the calculator prints "CHGNet will run on cpu" each time it is made, i.e. for every structure
        with contextlib.redirect_stdout(io.StringIO()):
            return CHGNetCalculator(model=_chgnet(), use_device="cpu" if not _cuda() else None)


@lru_cache(maxsize=1)
def _sevennet_model():
    from sevenn.calculator import SevenNetCalculator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SevenNetCalculator("7net-0", device="cuda" if _cuda() else "cpu")


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


class SevenNetEvaluator(AseRelaxEvaluator):
    """SevenNet-0: raw PBE(+U)-like energies; MP2020 corrections (from the composition, as the snapshot's rows)
    are applied before they meet the hull."""

    label = "SevenNet-0"

    def calculator(self):
        return _sevennet_model()

    def correct(self, structure, energy_ev: float) -> tuple[float, str]:
        correction = _corrector().correct(structure.composition, energy_ev)
        return correction.energy_ev, correction.scheme


@lru_cache(maxsize=1)
def _corrector():
    from materials.science import Mp2020Corrector

    return Mp2020Corrector()
