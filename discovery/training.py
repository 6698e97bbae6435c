"""Training the GNN ensemble on the catalogue (Django glue around discovery.gnn)."""

from __future__ import annotations

import math
import os
import platform
import time
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import models
from django.utils import timezone

from materials.models import Material, Source

from .gnn.recipe import FINETUNE_EPOCHS, FINETUNE_HUBER_DELTA, FINETUNE_LEARNING_RATE, FINETUNE_MIDWAY, FINETUNE_VOLUMES
from .models import ModelCheckpoint


def catalogue_items(limit: int | None = None):
    """(material id, Structure, formation energy) of the GNoME materials with both (DFT labels only)."""
    from pymatgen.core import Structure

    qs = (Material.objects.filter(source=Source.GNOME, structure__isnull=False, e_form_ev_per_atom__isnull=False)
          .order_by("material_id").values_list("material_id", "structure", "e_form_ev_per_atom"))
    if limit:
        qs = qs[:limit]
    for material_id, structure, e_form in qs.iterator(chunk_size=1000):
        yield material_id, Structure.from_dict(structure), e_form


def catalogue_compositions(limit: int | None = None):
    """(material id, Composition, formation energy) of every catalogue material with a formation energy."""
    from pymatgen.core import Composition

    qs = (Material.objects.exclude(e_form_ev_per_atom=None).order_by("material_id")
          .values_list("material_id", "formula", "e_form_ev_per_atom"))
    if limit:
        qs = qs[:limit]
    for material_id, formula, e_form in qs.iterator(chunk_size=5000):
        yield material_id, Composition(formula), e_form


def active_checkpoint(kind: str = "structure") -> ModelCheckpoint | None:
    """The active ensemble of a kind (the one rounds screen with), if an admin activated one."""
    for checkpoint in ModelCheckpoint.objects.filter(active=True, status=ModelCheckpoint.Status.SUCCEEDED):
        if (checkpoint.architecture or {}).get("kind", "structure") == kind:
            return checkpoint
    return None


def hardware() -> str:
    import torch

    from .gnn.model import device

    dev = device()
    name = torch.cuda.get_device_name(0) if dev.type == "cuda" else f"CPU ({platform.processor() or platform.machine()})"
    return f"{name}, torch {torch.__version__}, {torch.get_num_threads()} threads"


def _activate(checkpoint: ModelCheckpoint, kind: str) -> None:
    ModelCheckpoint.objects.exclude(pk=checkpoint.pk).filter(architecture__kind=kind).update(active=False)
    checkpoint.active = True


def _failed(checkpoint: ModelCheckpoint, exc: Exception) -> None:
    checkpoint.status, checkpoint.error = ModelCheckpoint.Status.FAILED, str(exc)[:2000]


def _finished(checkpoint: ModelCheckpoint, started: float) -> None:
    checkpoint.finished_at = timezone.now()
    checkpoint.wall_seconds = time.perf_counter() - started
    checkpoint.save()


def train_ensemble(*, members: int = 4, epochs: int = 60, width: int = 64, steps: int = 3, batch_size: int = 64,
                   learning_rate: float = 2e-3, limit: int | None = None, name: str = "gnome-gnn",
                   out: Path | None = None, activate: bool = False, progress: bool = False,
                   kind: str = "structure") -> ModelCheckpoint:
    """Train ``members`` GNNs on the catalogue's composition-hash training split; record a ModelCheckpoint.

    ``kind="composition"`` trains the compositional model instead: one example per reduced formula of the
    whole catalogue (GNoME and Materials Project phases), labelled with its lowest formation energy.
    """
    from .gnn.data import composition_examples, data_hash, examples, split_of
    from .gnn.model import GNNConfig
    from .gnn.predict import aggregate, predict_graphs
    from .gnn.train import TrainConfig, train

    started = time.perf_counter()
    out = out or Path(settings.VAR_DIR) / "models" / timezone.now().strftime("%Y%m%d-%H%M%S")
    checkpoint = ModelCheckpoint.objects.create(name=name, path=str(out), hardware=hardware())
    try:
        if kind not in {"structure", "composition"}:
            raise ValueError(f"kind must be 'structure' or 'composition', not {kind!r}")
        items, skipped = (composition_examples(catalogue_compositions(limit)) if kind == "composition"
                          else examples(catalogue_items(limit)))
        train_set = [e for e in items if split_of(e.reduced_formula) == "train"]
        test_set = [e for e in items if split_of(e.reduced_formula) == "test"]
        if not train_set or not test_set:
            raise ValueError(f"not enough data: {len(train_set)} training and {len(test_set)} test structures")
        config = GNNConfig(embedding_dim=width, mlp_widths=(width, width), steps=steps, kind=kind)
        plan = TrainConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate)
        checkpoint.architecture = config.to_dict()
        checkpoint.training = {**plan.__dict__, "left_out": len(skipped), "split": "md5(reduced formula) % 100 < 85"}
        checkpoint.data_hash, checkpoint.n_train, checkpoint.n_test = data_hash(items), len(train_set), len(test_set)
        checkpoint.save()
        models, member_mae = [], []
        for member in range(members):
            def report(m, member=member):
                ModelCheckpoint.objects.filter(pk=checkpoint.pk).update(
                    progress=f"member {member + 1}/{members}, epoch {m.epoch + 1}/{epochs}, test MAE {m.test_mae:.4f}")

            model, history = train(train_set, test_set, GNNConfig.from_dict(config.to_dict()),
                                   TrainConfig(**{**plan.__dict__, "seed": member}), out / f"member-{member}",
                                   progress=progress, on_epoch=report)
            (out / f"member-{member}" / "last.pt").replace(out / f"member-{member}.pt")
            models.append(model)
            member_mae.append(history[-1].test_mae)
        targets = np.array([e.e_form for e in test_set])
        graphs = [e.graph for e in test_set]
        plain = aggregate(predict_graphs(models, graphs, volumes=None))
        tta = aggregate(predict_graphs(models, graphs)) if kind == "structure" else None
        checkpoint.metrics = {
            "test_mae_members": member_mae,
            "test_mae_ensemble_no_tta": float(np.mean(np.abs([p.e_form_ev_per_atom for p in plain] - targets))),
            "test_mae_ensemble_tta": (float(np.mean(np.abs([p.e_form_ev_per_atom for p in tta] - targets)))
                                      if tta else None),
        }
        checkpoint.status = ModelCheckpoint.Status.SUCCEEDED
        if activate:
            _activate(checkpoint, kind)
    except Exception as exc:
        _failed(checkpoint, exc)
        raise
    finally:
        _finished(checkpoint, started)
    return checkpoint


# ---- fine-tuning on evaluations (the flywheel) --------------------------------------------------------------

DFT_TEST_TOLERANCE_EV_PER_ATOM = 0.001  # "not worse" on the DFT test split: within 1 meV/atom (run-to-run noise)


def evaluated_examples(splits=("train", "validation", "test"), *, rounds: list[int] | None = None) -> list[dict]:
    """The evaluated training examples of the given splits, as plain records (no Django objects); with
    ``rounds``, only those the discovery rounds of these ids evaluated (``round`` in each record)."""
    from .models import TrainingExample

    fields = ("pk", "key", "split", "generator", "parent_formula", "formula_reduced", "fidelity", "method", "structure",
              "relaxed_structure", "e_form_ev_per_atom", "e_above_hull_ev_per_atom", "converged")
    qs = (TrainingExample.objects.filter(status=TrainingExample.Status.DONE, split__in=list(splits))
          .exclude(e_form_ev_per_atom=None))
    if rounds is not None:
        qs = qs.filter(candidate__round_id__in=list(rounds))
    return list(qs.order_by("pk").values(*fields, round=models.F("candidate__round_id")).iterator(chunk_size=500))


def ensemble_members(checkpoint: ModelCheckpoint | None) -> list[Path]:
    from .gnn.__main__ import released_members

    return sorted(Path(checkpoint.path).glob("member-*.pt")) if checkpoint else released_members()


def decide(base: dict, new: dict, tolerance: float = DFT_TEST_TOLERANCE_EV_PER_ATOM) -> dict:
    """Whether the new ensemble replaces the base: not worse on the DFT test split (relaxed structures, no TTA,
    within ``tolerance``) and a lower screening MAE on the validation candidates (each at its better TTA
    setting). Both sets of figures are returned with the verdict and its reasons."""
    reasons = []
    new_dft, base_dft = new["dft_test_mae"], base["dft_test_mae"]
    if new_dft is None:  # non-finite predictions: the weights diverged
        dft_ok = False
        reasons.append(f"DFT test MAE not a finite number (the weights diverged) vs {base_dft} eV/atom: "
                       f"worse by more than {tolerance}")
    else:
        dft_ok = new_dft <= base_dft + tolerance
        reasons.append(f"DFT test MAE {new_dft:.4f} vs {base_dft:.4f} eV/atom: "
                       + ("not worse" if dft_ok else f"worse by more than {tolerance}"))
    new_val, base_val = new["validation_mae"], base["validation_mae"]
    val_ok = new_val is not None and (base_val is None or new_val < base_val)
    reasons.append(f"validation screening MAE {new_val if new_val is None else round(new_val, 4)} vs "
                   f"{base_val if base_val is None else round(base_val, 4)} eV/atom: "
                   + ("better" if val_ok else "not better"))
    return {"activate": bool(dft_ok and val_ok), "reasons": reasons}


def _json_safe(value):
    """``value`` with every non-finite float replaced by None (JSON, and PostgreSQL's jsonb, have no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _figures(models, dft_test, records, unrelaxed) -> dict:
    from .screening import dft_test_mae
    from .screening import ensemble_screening as screening_figures

    figures = {"dft_test_mae": dft_test_mae(models, dft_test)}
    for tta in (False, True):
        figures["tta" if tta else "no_tta"] = (screening_figures(models, records, unrelaxed, tta=tta)
                                               if unrelaxed else None)
    figures = _json_safe(figures)  # a diverged model predicts NaN: stored as null, never as invalid JSON
    # the better screen: the higher F1 at the round's threshold (what the filter is for), then the lower MAE
    best = max((k for k in ("no_tta", "tta") if figures[k]), default=None,
               key=lambda k: (figures[k]["at_threshold"]["f1"] or 0.0,
                              -(figures[k]["mae_ev_per_atom"] if figures[k]["mae_ev_per_atom"] is not None
                                else math.inf)))
    figures["screen_tta"] = best == "tta"
    figures["validation_mae"] = figures[best]["mae_ev_per_atom"] if best else None
    return figures


def finetune_ensemble(*, epochs: int = FINETUNE_EPOCHS, learning_rate: float = FINETUNE_LEARNING_RATE,
                      batch_size: int = 64, candidate_repeats: int = 3,
                      volumes: tuple[float, ...] = FINETUNE_VOLUMES, midway: tuple[float, ...] = FINETUNE_MIDWAY,
                      huber_delta: float = FINETUNE_HUBER_DELTA, base: ModelCheckpoint | None = None,
                      name: str = "fine-tuned", out: Path | None = None, activate: bool = True,
                      progress: bool = False, dft_limit: int | None = None, candidate_limit: int | None = None,
                      members: int | None = None, workers: int | None = None, rounds: list[int] | None = None,
                      test: bool = False) -> ModelCheckpoint:
    """Fine-tune the base ensemble (default: the active one, else the released one) on the DFT training split
    plus the evaluated training examples, warm-started member by member; then compare both ensembles on the
    DFT test split and the validation candidates and activate the new one only when ``decide`` says so (and
    ``activate`` allows). Every figure and the decision are recorded on the checkpoint.

    ``candidate_repeats`` is how often each candidate example appears per epoch (they are few beside the DFT
    structures, which are all replayed every epoch so that the DFT test error does not drift); ``volumes`` adds
    copies of each unrelaxed candidate scaled by these volume factors, and ``midway`` frames between the
    unrelaxed and the relaxed cell, with the same relaxed label. Members predict at the evaluator's fidelity by
    default (what screening asks of them). ``workers`` members train at once, in forked processes of one
    thread each (default: ``GNOME_TRAIN_WORKERS``, else 1; the round's retrain stage and the admin use it too).

    ``rounds`` limits the candidate examples trained on to those of these discovery rounds (a campaign that
    learns only from what it evaluated); the validation candidates are every one in the database. ``test`` also
    measures the new ensemble on the test candidates (``metrics["new"]["test"]``: MAE with a bootstrap 95 % interval, as
    it screens), the points of a campaign's scaling plot.
    """
    from .gnn.data import candidate_examples, data_hash, examples, split_of
    from .gnn.model import with_fidelities
    from .gnn.predict import load_model, save_checkpoint
    from .gnn.train import TrainConfig, train_members

    started = time.perf_counter()
    workers = workers or int(os.environ.get("GNOME_TRAIN_WORKERS") or 1)
    base = base if base is not None else active_checkpoint("structure")
    out = out or Path(settings.VAR_DIR) / "models" / timezone.now().strftime("finetune-%Y%m%d-%H%M%S")
    checkpoint = ModelCheckpoint.objects.create(name=name, path=str(out), hardware=hardware())
    try:
        base_paths = ensemble_members(base)
        if not base_paths:
            raise ValueError("no ensemble to fine-tune (no released members and no active checkpoint)")
        base_models = [load_model(p)[0] for p in base_paths][: members or None]
        records = evaluated_examples(("train",), rounds=rounds)[: candidate_limit or None]
        val_records = evaluated_examples(("validation",))
        if not records:
            raise ValueError("no evaluated training examples: run make_training_candidates or a discovery round first")
        if not val_records:
            raise ValueError("no evaluated validation examples: the activation decision needs them")
        cand_train, skipped = candidate_examples(records, volumes=tuple(volumes), midway=tuple(midway))
        val_unrelaxed, _ = candidate_examples(val_records, relaxed=False)
        dft_items, dft_skipped = examples(catalogue_items(dft_limit))
        dft_train = [e for e in dft_items if split_of(e.reduced_formula) == "train"]
        dft_test = [e for e in dft_items if split_of(e.reduced_formula) == "test"]
        if not dft_train or not dft_test:
            raise ValueError(f"not enough DFT structures in the catalogue: {len(dft_train)} in the training split "
                             f"and {len(dft_test)} in the test split (the activation decision needs both)")
        fidelities = sorted({e.fidelity for e in cand_train})
        screen_fidelity = max(fidelities, key=lambda f: sum(e.fidelity == f for e in cand_train))
        train_set = dft_train + cand_train * candidate_repeats
        plan = TrainConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, huber_delta=huber_delta)
        checkpoint.architecture = {**base_models[0].config.to_dict(), "fidelities": ["dft", *fidelities],
                                   "screen_fidelity": screen_fidelity}
        checkpoint.training = {**plan.__dict__, "warm_start": base.path if base else "released",
                               "dft_train": len(dft_train), "dft_test": len(dft_test),
                               "candidate_examples": len(cand_train), "candidate_structures": len(records),
                               "candidate_repeats": candidate_repeats, "rounds": rounds,
                               "candidates_by_round": _by_round(records), "volume_copies": list(volumes),
                               "midway_frames": list(midway), "workers": workers,
                               "validation_candidates": len(val_unrelaxed),
                               "left_out": len(skipped) + len(dft_skipped),
                               "split": "DFT: md5(reduced formula) % 100 < 85; candidates: by parent formula "
                                        "(discovery.learning.candidate_split)"}
        checkpoint.data_hash = data_hash(train_set)
        checkpoint.n_train, checkpoint.n_test = len(train_set), len(dft_test)
        checkpoint.save()
        finished: list[int] = []

        def report_epoch(member, m):
            ModelCheckpoint.objects.filter(pk=checkpoint.pk).update(
                progress=f"member {member + 1}/{len(base_models)}, epoch {m.epoch + 1}/{epochs}, validation "
                         f"MAE {m.test_mae:.4f}")

        def report_member(member, history):
            finished.append(member)
            ModelCheckpoint.objects.filter(pk=checkpoint.pk).update(
                progress=f"{len(finished)} of {len(base_models)} members fine-tuned (member {member + 1}: validation "
                         f"MAE {history[-1].test_mae:.4f})")

        jobs = []
        for member, base_model in enumerate(base_models):
            initial = with_fidelities(base_model, ("dft", *fidelities), screen_fidelity)
            jobs.append((initial.config, TrainConfig(**{**plan.__dict__, "seed": member}), out / f"member-{member}",
                         initial))
        models = train_members(train_set, val_unrelaxed, jobs, workers=workers, on_member=report_member,
                               on_epoch=report_epoch, progress=progress)
        ModelCheckpoint.objects.filter(pk=checkpoint.pk).update(progress="comparing with the base ensemble")
        base_figures = _figures(base_models, dft_test, val_records, val_unrelaxed)
        new_figures = _figures(models, dft_test, val_records, val_unrelaxed)
        for member, model in enumerate(models):
            model.config.extra = {**model.config.extra, "screen_tta": new_figures["screen_tta"]}
            save_checkpoint(out / f"member-{member}.pt", model)
            (out / f"member-{member}" / "last.pt").unlink(missing_ok=True)
        decision = decide(base_figures, new_figures)
        if test:
            ModelCheckpoint.objects.filter(pk=checkpoint.pk).update(progress="measuring on the test candidates")
            new_figures["test"] = _test_figures(models, new_figures["screen_tta"])
        checkpoint.metrics = {
            "test_mae_ensemble_no_tta": new_figures["dft_test_mae"], "base": base_figures, "new": new_figures,
            "decision": decision,
            "learned_offset_ev_per_atom": _json_safe(learned_offsets(models, dft_test, fidelities))}
        checkpoint.status = ModelCheckpoint.Status.SUCCEEDED
        if activate and decision["activate"]:
            _activate(checkpoint, "structure")
        checkpoint.progress = "activated" if checkpoint.active else "not activated: " + "; ".join(decision["reasons"])
    except Exception as exc:
        _failed(checkpoint, exc)
        raise
    finally:
        _finished(checkpoint, started)
    return checkpoint


def _by_round(records: list[dict]) -> dict[str, int]:
    """How many of the candidate structures trained on each discovery round evaluated ("none": bootstrap or
    imported examples)."""
    counts: dict[str, int] = {}
    for r in records:
        key = str(r.get("round") or "none")
        counts[key] = counts.get(key, 0) + 1
    return counts


def _test_figures(models, tta: bool) -> dict | None:
    """The ensemble on every test candidate, as it screens (with TTA or not): MAE with its bootstrap 95 %
    interval, bias, and the classification figures; None when the database holds no test candidate."""
    from .gnn.data import candidate_examples
    from .screening import ensemble_screening

    records = evaluated_examples(("test",))
    unrelaxed, _ = candidate_examples(records, relaxed=False)
    if not unrelaxed:
        return None
    return _json_safe({**ensemble_screening(models, records, unrelaxed, tta=tta), "tta": tta})


def learned_offsets(models, dft_test, fidelities) -> dict:
    """Per potential: the mean over the DFT test structures of (prediction at the potential's fidelity minus
    prediction at DFT's), median over the members: what the model learned the potential adds to DFT."""
    from .gnn.predict import predict_graphs

    graphs = [e.graph for e in dft_test]
    dft = predict_graphs(models, graphs, volumes=None, fidelity="dft")
    out = {}
    for fidelity in fidelities:
        other = predict_graphs(models, graphs, volumes=None, fidelity=fidelity)
        out[fidelity] = {"mean": float(np.median((other - dft).mean(axis=1))),
                         "sd_over_structures": float(np.median((other - dft).std(axis=1))), "n": len(graphs)}
    return out


RELEASED_SCREENING = Path(__file__).resolve().parent / "gnn" / "released" / "screening.json"


def screening_card() -> dict | None:
    """What the page and the API say about the ensemble rounds screen with: which one, how it screens
    unrelaxed candidates (figures on held-out evaluated candidates, with sample size and intervals) and its DFT
    test error. The active checkpoint's validation figures when an admin activated one, else the released
    ensemble's test figures (``released/screening.json``, written by ``benchmarks/gnn.py --screening``)."""
    import json

    checkpoint = active_checkpoint("structure")
    if checkpoint and "new" in (checkpoint.metrics or {}):
        new = checkpoint.metrics["new"]
        mode = "tta" if new.get("screen_tta") else "no_tta"
        return {"ensemble": f"{checkpoint.name} (checkpoint #{checkpoint.pk})", "set": "validation candidates",
                "screen_tta": bool(new.get("screen_tta")), "figures": new.get(mode),
                "dft_test_mae_ev_per_atom": new.get("dft_test_mae"),
                "evaluator": checkpoint.architecture.get("screen_fidelity", ""),
                "decision": checkpoint.metrics.get("decision")}
    if RELEASED_SCREENING.is_file():
        data = json.loads(RELEASED_SCREENING.read_text())
        mode = "tta" if data.get("screen_tta") else "no_tta"
        return {"ensemble": "released ensemble", "set": data.get("set", "test candidates"),
                "screen_tta": bool(data.get("screen_tta")), "figures": data.get(mode),
                "dft_test_mae_ev_per_atom": data.get("dft_test_mae_ev_per_atom"),
                "evaluator": data.get("evaluator", ""), "decision": None}
    return None
