"""Universal potentials as evaluators: CHGNet 0.3.0 (default), SevenNet-0 and SevenNet-l3i5. All ship their
weights in their wheels and load offline; each model is loaded once per process."""

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


@lru_cache(maxsize=2)
def _sevennet_model(name: str):
    from sevenn.calculator import SevenNetCalculator

    with warnings.catch_warnings():
        # "No tensor product accelerator is enabled": none is installed here; it says nothing about a structure
        warnings.simplefilter("ignore")
        return SevenNetCalculator(name, device="cuda" if _cuda() else "cpu")


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


class SevenNetEvaluator(AseRelaxEvaluator):
    """SevenNet-0 (sevenn's "7net-0"): trained on MPtrj's raw PBE(+U) energies, so MP2020 corrections (from the
    composition, as the snapshot's rows) are applied before they meet the hull."""

    label = "SevenNet-0"
    model_name = "7net-0"

    def calculator(self):
        return _sevennet_model(self.model_name)

    def correct(self, structure, energy_ev: float) -> tuple[float, str]:
        correction = _corrector().correct(structure.composition, energy_ev)
        return correction.energy_ev, correction.scheme


class SevenNetL3i5Evaluator(SevenNetEvaluator):
    """SevenNet-l3i5 ("7net-l3i5": angular order 3, 5 interaction layers), trained on MPtrj as SevenNet-0 and
    better on matbench-discovery (F1 0.76 against CHGNet 0.3.0's 0.61), slower; raw energies, MP2020-corrected
    here as SevenNet-0's."""

    label = "SevenNet-l3i5"
    model_name = "7net-l3i5"


# The evaluators by the name settings, forms and commands use (the label their energies carry: ``cls.label``).
EVALUATORS: dict[str, type[AseRelaxEvaluator]] = {"chgnet": CHGNetEvaluator, "sevennet": SevenNetEvaluator,
                                                  "sevennet-l3i5": SevenNetL3i5Evaluator}


@lru_cache(maxsize=1)
def _corrector():
    from materials.science import Mp2020Corrector

    return Mp2020Corrector()
