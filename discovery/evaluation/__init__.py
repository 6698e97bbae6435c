"""Evaluators: what verifies a screened candidate (a relaxation and its energy). Pure, no Django.

One interface, ``Evaluator.evaluate(structure) -> Evaluation``; the energies are put on the hull's scale
(MP2020-compatible corrected total energies) and always carry the method that made them. A universal
potential's energy is that potential's, never DFT.

- ``CHGNetEvaluator`` (the embedded default): CHGNet 0.3.0, trained on MP2020-corrected MPtrj energies, so its
  energies are used as corrected energies.
- ``SevenNetEvaluator``: SevenNet-0, whose energies are raw PBE(+U)-like: MP2020 corrections are applied.
- ``SevenNetL3i5Evaluator``: SevenNet-l3i5, the same training data and corrections, a larger model: better on
  matbench-discovery, slower (``benchmarks/evaluators.py``).
- VASP (where a user has it): write inputs with pymatgen's ``MPRelaxSet`` and run them through ASE's ``Vasp``
  calculator in an ``AseRelaxEvaluator`` subclass (see docs/science.md); no such class ships here.
"""

from .base import AseRelaxEvaluator, Evaluation, EvaluationError, Evaluator, evaluator_named
from .potentials import EVALUATORS, CHGNetEvaluator, SevenNetEvaluator, SevenNetL3i5Evaluator

__all__ = ["EVALUATORS", "AseRelaxEvaluator", "CHGNetEvaluator", "Evaluation", "EvaluationError", "Evaluator",
           "SevenNetEvaluator", "SevenNetL3i5Evaluator", "evaluator_named"]
