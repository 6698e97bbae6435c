"""Evaluation in worker processes, for a machine without a Celery broker: each process loads the potential once
and relaxes the structures it is given; the caller writes the results. Pure (no Django)."""

from __future__ import annotations

import os

_evaluator = None


def _start(name: str, options: dict, threads: int) -> None:
    global _evaluator
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    # numpy's BLAS (OpenBLAS, used by the potential's graph building) starts a thread per core of its own; beside
    # other busy processes its spinning threads made each relaxation step 3 to 8 times slower (0.4-1.0 s against
    # 0.05-0.15 s per step of a 20-atom cell, benchmarks/RESULTS.md), so it gets the same budget as torch.
    threadpool_limits(threads)
    from .base import evaluator_named

    _evaluator = evaluator_named(name, **options)


def evaluate_record(item: tuple[int, dict]) -> tuple[int, dict]:
    """(id, structure dict) -> (id, result): the relaxed structure, energies, convergence; or the error."""
    from pymatgen.core import Structure

    from .base import EvaluationError

    key, structure = item
    try:
        result = _evaluator.evaluate(Structure.from_dict(structure))
    except EvaluationError as exc:
        return key, {"error": str(exc)[:500], "method": _evaluator.method}
    return key, {"relaxed_structure": result.structure.as_dict(), "energy_ev": result.energy_ev,
                 "energy_raw_ev": result.energy_raw_ev, "correction": result.correction, "method": result.method,
                 "fidelity": _evaluator.name, "converged": result.converged, "steps": result.steps,
                 "seconds": result.seconds, **result.extra}


def evaluate_in_processes(items, name: str, options: dict, workers: int):
    """Yield (id, result) for (id, structure dict) items as they finish, over ``workers`` processes (one thread
    each); with one worker, in this process."""
    if workers <= 1:
        _start(name, options, int(os.environ.get("GNOME_WORKER_THREADS", "1")))
        for item in items:
            yield evaluate_record(item)
        return
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # no torch state or database connection shared with a fork
    with context.Pool(workers, initializer=_start, initargs=(name, options, 1)) as pool:
        yield from pool.imap_unordered(evaluate_record, items, chunksize=1)
