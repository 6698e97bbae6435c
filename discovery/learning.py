"""Learning from evaluations (Django glue): every evaluated candidate becomes a training example, bootstrap
batches make examples without a round, and the screening model is fine-tuned on them.

- ``record_round_examples`` keeps each evaluated candidate of a round (both arms, stable or not, converged or
  not) as a TrainingExample, before the round's own materials reach the hull.
- ``create_batch`` / ``generate_batch`` / ``evaluate_batch`` (``manage.py make_training_candidates``) generate
  candidates from the DFT training split's crystals, evaluate them in chunks (Celery, or worker processes on the
  embedded default) and keep them. Every step is idempotent and resumes where it stopped.
- Examples are split by the reduced formula of their parent: training, validation (the activation decision)
  and test (the figures we report). Parents come from the DFT training split only, so no candidate is a
  near copy of a DFT test crystal.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections.abc import Callable, Iterable

from django.db import IntegrityError, transaction
from django.utils import timezone

from materials.chemsys import chemsys_elements
from materials.models import Material, Source

from .gnn.data import candidate_split
from .models import Candidate, TrainingBatch, TrainingExample

__all__ = ["candidate_split", "check_example", "create_batch", "evaluate_batch_here", "evaluate_examples",
           "export_examples", "fidelity_of", "generate_batch", "import_examples", "record_round_examples"]

# The evaluator families the screening model learns apart (a fidelity input): DFT first.
DFT = "dft"
POTENTIALS = ("CHGNet 0.3.0", "SevenNet-0")


def fidelity_of(method: str) -> str:
    """The fidelity of an energy method: 'dft' for DFT rows, else the potential's name; a ValueError names a
    method the model does not know."""
    text = (method or "").strip()
    for name in POTENTIALS:
        if text.startswith(name):
            return name
    if any(word in text for word in ("DFT", "PBE", "VASP", "r2SCAN")):
        return DFT
    raise ValueError(f"unknown energy method {text[:120]!r}: the screening model knows DFT (PBE/PBE+U, r2SCAN) and "
                     f"{', '.join(POTENTIALS)}")


class ExampleRejected(ValueError):
    """An evaluation that cannot be a training example (the message says why)."""


def check_example(*, structure, energy_ev, method: str) -> str:
    """The fidelity of a would-be example; ExampleRejected names what is wrong (no structure, no or a non-finite
    energy, an unknown method)."""
    if not structure:
        raise ExampleRejected("no structure")
    if energy_ev is None:
        raise ExampleRejected("no energy")
    if isinstance(energy_ev, bool) or not isinstance(energy_ev, int | float) or not math.isfinite(energy_ev):
        raise ExampleRejected(f"energy {energy_ev!r} is not a finite number")
    try:
        return fidelity_of(method)
    except ValueError as exc:
        raise ExampleRejected(str(exc)) from None


# ---- from discovery rounds --------------------------------------------------------------------------------


def record_round_examples(round_id: int) -> int:
    """Every evaluated candidate of the round as a training example (once: the same structure evaluated by the
    same method is one example, whichever round made it). Call before the round's materials enter the hull, so
    that each one's energy above the hull is judged without itself. Returns how many were added."""
    from pymatgen.core import Structure

    from .generating import hull_placer

    placer = hull_placer("all")
    added = 0
    for c in Candidate.objects.filter(round_id=round_id, evaluation=Candidate.Evaluation.DONE).order_by("pk"):
        try:
            fidelity = check_example(structure=c.relaxed_structure, energy_ev=c.energy_ev, method=c.evaluator)
        except ExampleRejected:
            continue
        if TrainingExample.objects.filter(key=c.key, method=c.evaluator).exists():
            continue
        parent_formula = _parent_formula(c.parent)
        e_above = (placer(Structure.from_dict(c.relaxed_structure).composition, c.e_form_ev_per_atom)
                   if c.e_form_ev_per_atom is not None else None)
        detail = c.evaluation_detail or {}
        try:
            with transaction.atomic():
                TrainingExample.objects.create(
                    key=c.key, origin=TrainingExample.Origin.ROUND, candidate=c, generator=c.method, parent=c.parent,
                    parent_formula=parent_formula, detail={**c.detail, "round": round_id, "arm": c.arm},
                    formula_reduced=c.formula_reduced, chemsys=c.chemsys, nsites=c.nsites,
                    split=candidate_split(parent_formula), structure=c.structure, status=TrainingExample.Status.DONE,
                    method=c.evaluator, fidelity=fidelity, relaxed_structure=c.relaxed_structure,
                    energy_ev=c.energy_ev, energy_raw_ev=detail.get("energy_raw_ev"),
                    e_form_ev_per_atom=c.e_form_ev_per_atom, e_above_hull_ev_per_atom=e_above,
                    converged=detail.get("converged"), steps=detail.get("steps"), seconds=detail.get("seconds"))
        except IntegrityError:
            continue  # another driver recorded it first
        added += 1
    return added


def _parent_formula(parent: str) -> str:
    formula = Material.objects.filter(material_id=parent).values_list("formula_reduced", flat=True).first()
    return formula or parent  # random structures name their composition as the parent


# ---- bootstrap batches (manage.py make_training_candidates) -----------------------------------------------

BATCH_DEFAULTS: dict = {
    "candidates": 3600,
    "generators": ["neighbour", "substitution"],
    "per_seed": 1,  # candidates per seed crystal: many seeds, few each, for diversity
    "max_sites": 24,  # seeds (and so candidates) up to this many sites: evaluation time grows with size
    "evaluator": "chgnet",
    "fmax": 0.05,
    "max_steps": 300,
    "chunk": 8,
    "random_seed": 0,
}
BATCH_GENERATORS = ("neighbour", "substitution", "saps")


def validate_batch_config(raw: dict) -> dict:
    from .evaluation import evaluator_named

    unknown = sorted(set(raw) - set(BATCH_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
    config = {**BATCH_DEFAULTS, **raw}
    problems = []
    for name in ("candidates", "per_seed", "max_sites", "max_steps", "chunk", "random_seed"):
        value, low = config[name], 0 if name in ("random_seed", "max_steps") else 1
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 10_000_000:
            problems.append(f"{name} must be an integer from {low} to 10000000 (got {value!r})")
    bad = [g for g in config["generators"] if g not in BATCH_GENERATORS]
    if not isinstance(config["generators"], list) or bad or not config["generators"]:
        problems.append(f"generators must be among {', '.join(BATCH_GENERATORS)} (got {config['generators']!r})")
    if problems:
        raise ValueError("; ".join(problems))
    evaluator_named(config["evaluator"], fmax=config["fmax"], max_steps=config["max_steps"])
    return config


def create_batch(config: dict, *, name: str = "", user: str = "") -> TrainingBatch:
    return TrainingBatch.objects.create(name=name or "bootstrap", config=validate_batch_config(config),
                                        created_by=user)


def _seed_rows(config: dict) -> Iterable[tuple[str, str, dict]]:
    """(material id, reduced formula, structure) of the DFT training split's crystals, in a seeded random order;
    only crystals whose every element has a reference energy (a candidate holding Yb, which the snapshot's
    references lack, has no formation energy and teaches nothing)."""
    from materials.importing import references

    from .gnn.data import split_of

    refs = set(references())
    rows = [(r[0], r[1]) for r in Material.objects.filter(source=Source.GNOME, structure__isnull=False,
                                                          e_form_ev_per_atom__isnull=False,
                                                          nsites__lte=config["max_sites"])
            .values_list("material_id", "formula_reduced", "chemsys")
            if split_of(r[1]) == "train" and set(chemsys_elements(r[2])) <= refs]
    salt = str(config["random_seed"])
    rows.sort(key=lambda r: hashlib.md5(f"{salt}:{r[0]}".encode()).hexdigest())
    for start in range(0, len(rows), 200):
        chunk = rows[start:start + 200]
        structures = dict(Material.objects.filter(material_id__in=[r[0] for r in chunk])
                          .values_list("material_id", "structure"))
        for material_id, formula in chunk:
            yield material_id, formula, structures[material_id]


def generate_batch(batch_id: int, progress: Callable[[int], None] | None = None) -> int:
    """Make the batch's candidates (idempotent: a second call adds what is missing, up to the target): for each
    seed in the seeded order, ``per_seed`` candidates drawn at random from what the generators make of it, novel
    compositions only (not in the catalogue, not already an example). Returns the batch's candidate count."""
    from pymatgen.core import Structure

    from .generating import generate, known_formulas

    batch = TrainingBatch.objects.get(pk=batch_id)
    c = batch.config
    have = TrainingExample.objects.filter(batch_id=batch_id).count()
    if have >= c["candidates"]:
        return have
    known = set(known_formulas()) | set(TrainingExample.objects.values_list("formula_reduced", flat=True))
    keys = set(TrainingExample.objects.values_list("key", flat=True))
    done_parents = set(TrainingExample.objects.filter(batch_id=batch_id).values_list("parent", flat=True))
    seeds_used = len(done_parents)
    pending: list[TrainingExample] = []
    for material_id, formula, structure_dict in _seed_rows(c):
        if have + len(pending) >= c["candidates"]:
            break
        if material_id in done_parents:
            continue
        rng = random.Random(f"{c['random_seed']}:{material_id}")
        structure = Structure.from_dict(structure_dict)
        made = []
        for method in c["generators"]:
            options = {"max_per_seed": 50} if method == "saps" else {"limit": 50}
            made += [x for x in generate(method, seeds=[(material_id, structure)], options=options,
                                         on_skip=lambda *_: None)
                     if x.reduced_formula not in known and x.key not in keys]
        if not made:
            continue
        seeds_used += 1
        for candidate in rng.sample(made, min(c["per_seed"], len(made))):
            if candidate.reduced_formula in known:
                continue
            known.add(candidate.reduced_formula)
            keys.add(candidate.key)
            pending.append(TrainingExample(
                key=candidate.key, origin=TrainingExample.Origin.BOOTSTRAP, batch_id=batch_id,
                generator=candidate.method, parent=material_id, parent_formula=formula, detail=candidate.detail,
                formula_reduced=candidate.reduced_formula,
                chemsys=candidate.composition.chemical_system,
                nsites=len(candidate.species), split=candidate_split(formula), structure=candidate.structure.as_dict()))
        if len(pending) >= 200:
            have += _store(pending)
            pending = []
            TrainingBatch.objects.filter(pk=batch_id).update(progress=f"generating: {have} candidates")
            if progress:
                progress(have)
    have += _store(pending)
    _count(batch_id, seeds=seeds_used)
    return have


def _store(examples: list[TrainingExample]) -> int:
    if not examples:
        return 0
    with transaction.atomic():
        TrainingExample.objects.bulk_create(examples, ignore_conflicts=True, batch_size=500)
    return len(examples)


def _count(batch_id: int, **extra) -> dict:
    qs = TrainingExample.objects.filter(batch_id=batch_id)
    counts = {"candidates": qs.count(), "evaluated": qs.filter(status="done").count(),
              "failed": qs.filter(status="failed").count(), "pending": qs.filter(status="pending").count()}
    with transaction.atomic():
        batch = TrainingBatch.objects.select_for_update().get(pk=batch_id)
        batch.counts = {**batch.counts, **extra, **counts}
        batch.save(update_fields=["counts"])
    return counts


def pending_chunks(batch_id: int) -> list[list[int]]:
    size = TrainingBatch.objects.get(pk=batch_id).config["chunk"]
    ids = list(TrainingExample.objects.filter(batch_id=batch_id, status="pending").order_by("pk")
               .values_list("pk", flat=True))
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def _writer():
    """A callable (example id, evaluation result dict) -> None that stores one result in its own transaction
    (only on a pending example: a redelivered chunk keeps the first result)."""
    from pymatgen.core import Structure

    from materials.importing import references
    from materials.science import formation_from_energy

    from .generating import hull_placer

    refs, placer = references(), hull_placer("all")

    def write(pk: int, result: dict) -> None:
        if "error" in result:
            TrainingExample.objects.filter(pk=pk, status="pending").update(
                status="failed", method=result.get("method", "")[:160], error=result["error"][:500])
            return
        relaxed = Structure.from_dict(result["relaxed_structure"])
        e_form = formation_from_energy(result["energy_ev"], relaxed.composition, refs)
        e_above = placer(relaxed.composition, e_form) if e_form is not None else None
        first = result.get("energy_first_frame_ev")
        with transaction.atomic():
            example = TrainingExample.objects.select_for_update().filter(pk=pk, status="pending").first()
            if example is None:
                return
            if TrainingExample.objects.filter(key=example.key, method=result["method"]).exclude(pk=pk).exists():
                example.status, example.error = "failed", "already an example of this structure and method"
                example.save(update_fields=["status", "error"])
                return
            example.status, example.method, example.fidelity = "done", result["method"][:160], result["fidelity"]
            example.relaxed_structure, example.energy_ev = result["relaxed_structure"], result["energy_ev"]
            example.energy_raw_ev, example.e_form_ev_per_atom = result["energy_raw_ev"], e_form
            example.e_above_hull_ev_per_atom, example.converged = e_above, result["converged"]
            example.steps, example.seconds = result["steps"], round(result["seconds"], 3)
            example.detail = {**example.detail, "correction": result["correction"],
                              "energy_first_frame_ev": first}
            example.save()

    return write


def evaluate_examples(batch_id: int, example_ids: Iterable[int]) -> int:
    """Evaluate the given pending examples in this process (a Celery chunk); returns how many it wrote."""
    from .evaluation.pool import evaluate_in_processes

    c = TrainingBatch.objects.get(pk=batch_id).config
    items = [(pk, s) for pk, s in TrainingExample.objects.filter(batch_id=batch_id, pk__in=list(example_ids),
                                                                  status="pending").values_list("pk", "structure")]
    write = _writer()
    for pk, result in evaluate_in_processes(items, c["evaluator"], {"fmax": c["fmax"], "max_steps": c["max_steps"]},
                                            workers=1):
        write(pk, result)
    return len(items)


def evaluate_batch_here(batch_id: int, workers: int, progress: Callable[[int, int], None] | None = None) -> dict:
    """Evaluate every pending example of the batch with ``workers`` processes of this machine, writing each
    result as it comes (an interrupted run loses at most the structures being relaxed)."""
    from .evaluation.pool import evaluate_in_processes

    c = TrainingBatch.objects.get(pk=batch_id).config
    qs = TrainingExample.objects.filter(batch_id=batch_id, status="pending").order_by("pk")
    ids = list(qs.values_list("pk", flat=True))
    write, done, last = _writer(), 0, time.monotonic()

    def items():
        for start in range(0, len(ids), 100):
            yield from TrainingExample.objects.filter(pk__in=ids[start:start + 100]).order_by("pk").values_list(
                "pk", "structure")

    for pk, result in evaluate_in_processes(items(), c["evaluator"], {"fmax": c["fmax"], "max_steps": c["max_steps"]},
                                            workers=workers):
        write(pk, result)
        done += 1
        if progress:
            progress(done, len(ids))
        if time.monotonic() - last > 10:
            last = time.monotonic()
            TrainingBatch.objects.filter(pk=batch_id).update(progress=f"evaluating: {done}/{len(ids)}")
    return finish_batch(batch_id)


def finish_batch(batch_id: int) -> dict:
    counts = _count(batch_id)
    if not counts["pending"]:
        TrainingBatch.objects.filter(pk=batch_id).update(status=TrainingBatch.Status.SUCCEEDED,
                                                         finished_at=timezone.now(),
                                                         progress=f"{counts['evaluated']} evaluated")
    return counts


def fail_batch(batch_id: int, error: str) -> None:
    TrainingBatch.objects.filter(pk=batch_id).update(status=TrainingBatch.Status.FAILED, error=error[:5000],
                                                     finished_at=timezone.now())


# ---- the shipped file of evaluated candidates (export, import) ---------------------------------------------

FILE_FIELDS = ("key", "origin", "generator", "parent", "parent_formula", "formula_reduced", "chemsys", "nsites",
               "split", "method", "fidelity", "energy_ev", "energy_raw_ev", "e_form_ev_per_atom",
               "e_above_hull_ev_per_atom", "converged", "steps", "seconds", "detail")


def compact_structure(data: dict) -> dict:
    """A pymatgen Structure dict as lattice, species and fractional coordinates (1e-6), about a fifth the size."""
    from pymatgen.core import Structure

    s = Structure.from_dict(data)
    return {"lattice": [[round(x, 6) for x in row] for row in s.lattice.matrix.tolist()],
            "species": [site.specie.symbol for site in s],
            "frac_coords": [[round(x, 7) for x in row] for row in s.frac_coords.tolist()]}


def full_structure(data: dict) -> dict:
    from pymatgen.core import Lattice, Structure

    if not isinstance(data, dict) or not {"lattice", "species", "frac_coords"} <= set(data):
        raise ExampleRejected("a structure needs lattice, species and frac_coords")
    return Structure(Lattice(data["lattice"]), data["species"], data["frac_coords"]).as_dict()


def export_examples(path, *, splits=("train", "validation", "test")) -> int:
    """Every evaluated example, one JSON object a line (gzip), structures compacted; returns how many."""
    import gzip
    import json

    n = 0
    with gzip.open(path, "wt", compresslevel=9) as fh:
        qs = (TrainingExample.objects.filter(status=TrainingExample.Status.DONE, split__in=list(splits))
              .order_by("pk"))
        for e in qs.select_related("batch").iterator(chunk_size=500):
            record = {f: getattr(e, f) for f in FILE_FIELDS}
            record["detail"] = detail = dict(e.detail or {})
            origin = detail.pop("origin", e.origin)  # an imported example: where it was made, not "imported"
            record["origin"] = origin if e.origin == TrainingExample.Origin.IMPORTED else e.origin
            if e.batch is not None:
                detail["batch"] = e.batch.name or f"batch {e.batch_id}"
            record["structure"] = compact_structure(e.structure)
            record["relaxed_structure"] = compact_structure(e.relaxed_structure)
            fh.write(json.dumps(record, separators=(",", ":")) + "\n")
            n += 1
    return n


def import_examples(path) -> dict:
    """Examples from an ``export_examples`` file, idempotent (one per structure and method); each bad line is
    reported with what is wrong, the good ones are stored, one transaction for the file."""
    import gzip
    import json

    added = known = 0
    problems: list[str] = []
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh, transaction.atomic():
        existing = set(TrainingExample.objects.exclude(method="").values_list("key", "method"))
        batch: list[TrainingExample] = []
        for number, line in enumerate(fh, start=1):
            try:
                r = json.loads(line)
                if not isinstance(r, dict):
                    raise ExampleRejected("not a JSON object")
                missing = [f for f in ("key", "parent_formula", "formula_reduced", "method", "structure",
                                       "relaxed_structure", "energy_ev") if r.get(f) is None]
                if missing:
                    raise ExampleRejected(f"missing {', '.join(missing)}")
                fidelity = check_example(structure=r["relaxed_structure"], energy_ev=r["energy_ev"], method=r["method"])
                # An evaluation whose elements have no reference on the hull's scale has no formation energy: it is
                # kept, as a round keeps it, and trains nothing until a reference exists.
                e_form = r.get("e_form_ev_per_atom")
                if e_form is not None and (isinstance(e_form, bool) or not isinstance(e_form, int | float)
                                           or not math.isfinite(e_form)):
                    raise ExampleRejected(f"formation energy {e_form!r} is not a finite number")
                if (r["key"], r["method"]) in existing:
                    known += 1
                    continue
                existing.add((r["key"], r["method"]))
                batch.append(TrainingExample(
                    key=str(r["key"])[:16], origin=TrainingExample.Origin.IMPORTED,
                    generator=str(r.get("generator", ""))[:16], parent=str(r.get("parent", ""))[:64],
                    parent_formula=r["parent_formula"],
                    detail={**(r.get("detail") or {}), "origin": str(r.get("origin") or "imported")[:16]},
                    formula_reduced=r["formula_reduced"], chemsys=r.get("chemsys", ""),
                    nsites=len(r["structure"]["species"]), split=candidate_split(r["parent_formula"]),
                    structure=full_structure(r["structure"]), status=TrainingExample.Status.DONE,
                    method=r["method"][:160], fidelity=fidelity,
                    relaxed_structure=full_structure(r["relaxed_structure"]), energy_ev=r["energy_ev"],
                    energy_raw_ev=r.get("energy_raw_ev"), e_form_ev_per_atom=e_form,
                    e_above_hull_ev_per_atom=r.get("e_above_hull_ev_per_atom"), converged=r.get("converged"),
                    steps=r.get("steps"), seconds=r.get("seconds")))
            except (ExampleRejected, ValueError, TypeError, KeyError) as exc:
                problems.append(f"line {number}: {exc}")
                continue
            if len(batch) >= 500:
                TrainingExample.objects.bulk_create(batch)
                added += len(batch)
                batch = []
        TrainingExample.objects.bulk_create(batch)
        added += len(batch)
    return {"added": added, "already_known": known, "rejected": problems}
