"""Figures of the screening task: how well a model tells the candidates that will be stable from the rest. Pure.

The task (DESIGN: "the screening model's task is the unrelaxed candidate"): from the structure as generated,
predict the formation energy it will have once the evaluator has relaxed it, and pass it when the predicted
energy above the hull is below the round's threshold. A hit is a candidate the evaluator finds stable (energy
above the hull, judged without itself, at most 5e-5 eV/atom, GNoME's tolerance).

- MAE and bias (predicted minus evaluated formation energy, eV/atom);
- at the threshold: pass rate, precision (the hit rate of the passed), recall, F1, prevalence (the hit rate
  of all) and the discovery acceleration factor DAF = precision / prevalence;
- the ceiling at the threshold: what a perfect model would reach (it passes every candidate truly below the
  threshold, so the candidates between stable and the threshold cap its precision and DAF);
- the same at a threshold of 0 (matbench-discovery's classification: predicted stable against stable);
- the hit rate and DAF of the lowest-predicted 10 % and 25 % (a round evaluates the lowest first, up to its
  budget).

Proportions carry Wilson score intervals (95 %); DAF and F1, which are ratios of dependent proportions of
one set, carry percentile bootstrap intervals (2,000 resamples of the candidates, seeded).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from hullapi.engine import ROUNDING_EV_PER_ATOM, STABILITY_TOL_EV_PER_ATOM

STABLE_EV_PER_ATOM = STABILITY_TOL_EV_PER_ATOM  # compared as the hull engine compares it (up to rounding)
TOP_SHARES = (0.1, 0.25)  # the lowest-predicted 10 % and 25 % of the candidates (an evaluation budget)
Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (None without trials)."""
    if n <= 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def ratio_ci95(hits_a: int, n_a: int, hits_b: int, n_b: int, z: float = Z95) -> tuple[float, float] | None:
    """The 95 % interval of a ratio of two independent proportions, (hits_a / n_a) / (hits_b / n_b): a round's
    DAF, its filtered arm's hit rate over its control arm's prevalence. Katz's log method, with 0.5 added to each
    count when one of the hit counts is 0 (the Haldane-Anscombe correction): a control arm without a stable
    candidate still bounds the DAF from below (its upper bound is then wide). None only for an empty arm."""
    if n_a <= 0 or n_b <= 0:
        return None
    a, b, na, nb = hits_a, hits_b, n_a, n_b
    if a == 0 or b == 0:
        a, b, na, nb = a + 0.5, b + 0.5, na + 0.5, nb + 0.5
    ratio = (a / na) / (b / nb)
    half = z * math.sqrt(1 / a - 1 / na + 1 / b - 1 / nb)
    return (0.0 if hits_a == 0 else ratio * math.exp(-half)), ratio * math.exp(half)


def mean_ci95(values: Sequence[float], *, resamples: int = 2000, seed: int = 0) -> tuple[float, float] | None:
    """The 95 % percentile-bootstrap interval of a mean (a MAE from absolute errors); None without values (or
    without resamples)."""
    x = np.asarray(values, dtype=float)
    if not len(x) or resamples <= 0:
        return None
    rng, means = np.random.default_rng(seed), []
    for start in range(0, resamples, 100):  # 100 resamples at a time: memory stays small on large sets
        means.append(x[rng.integers(0, len(x), (min(100, resamples - start), len(x)))].mean(axis=1))
    means = np.concatenate(means)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def _classification(passed: np.ndarray, hit: np.ndarray) -> dict:
    n, n_pass, n_hit = len(hit), int(passed.sum()), int(hit.sum())
    tp = int((passed & hit).sum())
    precision = tp / n_pass if n_pass else None
    recall = tp / n_hit if n_hit else None
    prevalence = n_hit / n if n else None
    f1 = (2 * precision * recall / (precision + recall)) if precision and recall else (0.0 if n_pass and n_hit else None)
    daf = precision / prevalence if precision is not None and prevalence else None
    return {"n": n, "passed": n_pass, "pass_rate": n_pass / n if n else None, "hits": n_hit, "true_positives": tp,
            "precision": precision, "precision_ci95": wilson(tp, n_pass), "recall": recall,
            "recall_ci95": wilson(tp, n_hit), "prevalence": prevalence, "prevalence_ci95": wilson(n_hit, n),
            "f1": f1, "daf": daf}


def _bootstrap(passed: np.ndarray, hit: np.ndarray, resamples: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    n = len(hit)
    dafs, f1s = [], []
    for _ in range(resamples):
        idx = rng.integers(0, n, n)
        p, h = passed[idx], hit[idx]
        tp, n_pass, n_hit = (p & h).sum(), p.sum(), h.sum()
        if n_pass and n_hit:
            precision, recall = tp / n_pass, tp / n_hit
            dafs.append(precision / (n_hit / n))
            f1s.append(2 * precision * recall / (precision + recall) if tp else 0.0)

    def ci(values):
        return (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))) if values else None

    return {"daf_ci95": ci(dafs), "f1_ci95": ci(f1s)}


def screening_metrics(predicted_e_form: Sequence[float], true_e_form: Sequence[float],
                      true_e_above_hull: Sequence[float | None], *, threshold: float = 0.05,
                      stable: float = STABLE_EV_PER_ATOM, resamples: int = 2000, seed: int = 0) -> dict:
    """The figures above for one model on one set of evaluated candidates.

    ``true_e_above_hull`` is the evaluator's energy above the hull (without the candidate itself); the
    prediction's is that plus the error of the formation energy, on the same hull. Candidates without a hull
    placement (None) count in the MAE, not in the classification.
    """
    pred, true = np.asarray(predicted_e_form, dtype=float), np.asarray(true_e_form, dtype=float)
    if pred.shape != true.shape or len(true_e_above_hull) != len(true):
        raise ValueError("predictions, energies and energies above the hull must have one entry per candidate")
    error = pred - true
    out: dict = {"n": len(true), "mae_ev_per_atom": float(np.mean(np.abs(error))) if len(true) else None,
                 "mae_ci95": mean_ci95(np.abs(error), resamples=resamples, seed=seed),
                 "bias_ev_per_atom": float(np.mean(error)) if len(true) else None,
                 "threshold_ev_per_atom": threshold, "stable_ev_per_atom": stable}
    placed = np.array([x is not None for x in true_e_above_hull], dtype=bool)
    above = np.array([x if x is not None else np.nan for x in true_e_above_hull], dtype=float)[placed]
    predicted_above = above + error[placed]
    hit = above <= stable + ROUNDING_EV_PER_ATOM
    at_threshold = _classification(predicted_above < threshold, hit)
    at_threshold.update(_bootstrap(predicted_above < threshold, hit, resamples, seed) if len(hit) else {})
    # what a perfect model would reach at this threshold: it passes every candidate truly below it, so
    # candidates between stable and the threshold cap its precision and DAF
    oracle = _classification(above < threshold, hit)
    at_threshold["precision_ceiling"], at_threshold["daf_ceiling"] = oracle["precision"], oracle["daf"]
    predicted_stable = predicted_above <= stable + ROUNDING_EV_PER_ATOM
    at_zero = _classification(predicted_stable, hit)
    at_zero.update(_bootstrap(predicted_stable, hit, resamples, seed) if len(hit) else {})
    # a round evaluates the lowest predicted first, up to its budget: the hit rate of the top share
    ranked = {}
    order = np.argsort(predicted_above, kind="stable")
    for share in TOP_SHARES:
        k = max(1, int(round(share * len(hit)))) if len(hit) else 0
        chosen = np.zeros(len(hit), dtype=bool)
        chosen[order[:k]] = True
        ranked[f"{int(share * 100)}%"] = {**_classification(chosen, hit), **(
            _bootstrap(chosen, hit, resamples, seed) if len(hit) else {})}
    out.update(placed=int(placed.sum()), at_threshold=at_threshold, at_zero=at_zero, top=ranked)
    return out


def summary(m: dict) -> str:
    """One line of the figures, for commands and benchmarks."""
    t = m["at_threshold"]

    def pct(x):
        return "n/a" if x is None else f"{100 * x:.1f}%"

    def interval(ci, scale=100.0, unit="%"):
        return "" if not ci else f" [{scale * ci[0]:.1f}, {scale * ci[1]:.1f}]{unit}"

    def num(x, digits):
        return "n/a" if x is None else f"{x:.{digits}f}"

    z, top = m["at_zero"], m["top"]["10%"]
    return (f"n {m['n']}: MAE {m['mae_ev_per_atom']:.4f}, bias {m['bias_ev_per_atom']:+.4f} eV/atom; at "
            f"{1000 * m['threshold_ev_per_atom']:.0f} meV/atom: passed {t['passed']}/{t['n']}, precision "
            f"{pct(t['precision'])}{interval(t['precision_ci95'])}, recall {pct(t['recall'])}, F1 {num(t['f1'], 3)}, "
            f"prevalence {pct(t['prevalence'])}{interval(t['prevalence_ci95'])}, DAF {num(t['daf'], 2)}"
            f"{interval(t.get('daf_ci95'), 1.0, '')} (a perfect model: {num(t['daf_ceiling'], 2)}); at 0: precision "
            f"{pct(z['precision'])}, recall {pct(z['recall'])}, F1 {num(z['f1'], 3)}, DAF {num(z['daf'], 2)}"
            f"{interval(z.get('daf_ci95'), 1.0, '')}; lowest 10%: hit rate {pct(top['precision'])}, DAF "
            f"{num(top['daf'], 2)}{interval(top.get('daf_ci95'), 1.0, '')}")


def ensemble_screening(models, records: Sequence[dict], unrelaxed_examples, *, tta: bool,
                       threshold: float = 0.05) -> dict:
    """``screening_metrics`` of an ensemble (median over members) on evaluated candidates: ``records`` with
    their ``unrelaxed_examples`` (``discovery.gnn.data.candidate_examples(..., relaxed=False)``), predicted at
    the fidelity of their labels; TTA is the minimum over the 20 volumes."""
    from .gnn.featurize import TTA_VOLUMES
    from .gnn.predict import aggregate
    from .gnn.train import predict_examples

    by_id = {f"cand-{r['pk']}-unrelaxed": r for r in records}
    per_model = predict_examples(models, unrelaxed_examples, volumes=TTA_VOLUMES if tta else None)
    predicted = [p.e_form_ev_per_atom for p in aggregate(per_model)]
    rows = [by_id[e.material_id] for e in unrelaxed_examples]
    return screening_metrics(predicted, [r["e_form_ev_per_atom"] for r in rows],
                             [r["e_above_hull_ev_per_atom"] for r in rows], threshold=threshold)


def dft_test_mae(models, examples) -> float:
    """MAE (eV/atom) of an ensemble's median on labelled examples (relaxed DFT structures), no TTA, each at
    its label's fidelity."""
    from .gnn.predict import aggregate
    from .gnn.train import predict_examples

    predicted = np.array([p.e_form_ev_per_atom for p in aggregate(predict_examples(models, examples))])
    return float(np.mean(np.abs(predicted - np.array([e.e_form for e in examples]))))
