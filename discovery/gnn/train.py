"""Training of one GNN (one ensemble member): pure, no Django.

AdamW with a linear decay of the learning rate to zero over the run (GNoME: 5.55e-4, linear decay),
standardised targets (the model's shift and scale are the training mean and standard deviation), Huber
loss on the formation energy per atom. A checkpoint after every epoch holds everything a resume needs
(weights, optimiser, schedule, epoch, random states, metrics), so that an interrupted run continues as if it
had not stopped.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .data import Example
from .model import GNNConfig, GNoMEModel, batch_graphs, build_model, device
from .predict import load_model, predict_graphs, save_checkpoint


@dataclass
class TrainConfig:
    epochs: int = 100
    batch_size: int = 64
    learning_rate: float = 5.55e-4
    weight_decay: float = 1e-5
    huber_delta: float = 0.1  # eV/atom, on standardised targets times scale
    seed: int = 0
    extra: dict = field(default_factory=dict)


@dataclass
class EpochMetrics:
    epoch: int
    train_loss: float
    train_mae: float
    test_mae: float | None
    seconds: float


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _random_state() -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def _set_random_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def predict_examples(models: Sequence[GNoMEModel], examples: Sequence[Example], volumes=None) -> np.ndarray:
    """(models, examples) predictions, each example at the fidelity of its label (no TTA unless ``volumes``)."""
    out = np.empty((len(models), len(examples)))
    by_fidelity: dict[str, list[int]] = {}
    for i, e in enumerate(examples):
        by_fidelity.setdefault(e.fidelity, []).append(i)
    for fidelity, rows in by_fidelity.items():
        out[:, rows] = predict_graphs(models, [examples[i].graph for i in rows], volumes=volumes, fidelity=fidelity)
    return out


def mae(model: GNoMEModel, examples: Sequence[Example]) -> float:
    """Mean absolute error (eV/atom) of the plain prediction (no TTA) on ``examples``."""
    if not examples:
        return float("nan")
    model.eval()
    predictions = predict_examples([model], examples)[0]
    return float(np.mean(np.abs(predictions - np.array([e.e_form for e in examples]))))


def _fidelity_rows(model: GNoMEModel, chunk: Sequence[Example]):
    if not model.config.fidelities:
        return None
    return [model.config.fidelity_index(e.fidelity) for e in chunk]


def train(
    train_set: Sequence[Example],
    test_set: Sequence[Example],
    model_config: GNNConfig,
    train_config: TrainConfig,
    checkpoint_dir: Path,
    *,
    resume: bool = True,
    progress: bool = False,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
    max_epochs_this_call: int | None = None,
    initial: GNoMEModel | None = None,
) -> tuple[GNoMEModel, list[EpochMetrics]]:
    """Train (or resume from ``checkpoint_dir/last.pt``) and return the model and the metrics so far.

    ``max_epochs_this_call`` stops early (for time-boxed runs); calling again resumes where it stopped.
    ``initial`` warm-starts from a trained model (fine-tuning): its weights, shift and scale are kept and
    ``model_config`` is ignored.
    """
    from tqdm import tqdm

    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    last = checkpoint_dir / "last.pt"
    dev = device()
    steps_per_epoch = max(1, len(train_set) // train_config.batch_size)
    total_steps = train_config.epochs * steps_per_epoch
    history: list[EpochMetrics] = []
    if resume and last.exists():
        model, state = load_model(last)
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=train_config.learning_rate,
                                      weight_decay=train_config.weight_decay)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1 - step / total_steps))
        optimizer.load_state_dict(state["optimizer"])  # after the schedule, which would reset the learning rate
        schedule.load_state_dict(state["schedule"])
        start_epoch = state["epoch"] + 1
        history = [EpochMetrics(**m) for m in state["history"]]
        _set_random_state(state["random"])
    else:
        _seed(train_config.seed)
        if initial is not None:
            import copy

            model = copy.deepcopy(initial).float()
        else:
            targets = np.array([e.e_form for e in train_set])
            model_config.shift, model_config.scale = float(targets.mean()), float(targets.std() or 1.0)
            model = build_model(model_config)
        optimizer = torch.optim.AdamW(model.parameters(), lr=train_config.learning_rate,
                                      weight_decay=train_config.weight_decay)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1 - step / total_steps))
        start_epoch = 0
    model.to(dev)
    loss_fn = torch.nn.HuberLoss(delta=train_config.huber_delta)
    stop = train_config.epochs if max_epochs_this_call is None else min(train_config.epochs,
                                                                        start_epoch + max_epochs_this_call)
    for epoch in range(start_epoch, stop):
        started = time.perf_counter()
        model.train()
        order = np.random.permutation(len(train_set))
        losses, errors = [], []
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{train_config.epochs}", disable=not progress,
                   mininterval=1.0, leave=False)
        for step in bar:
            chunk = [train_set[i] for i in order[step * train_config.batch_size:(step + 1) * train_config.batch_size]]
            batch = batch_graphs([e.graph for e in chunk], fidelity=_fidelity_rows(model, chunk)).to(dev)
            target = torch.tensor([e.e_form for e in chunk], dtype=torch.float32, device=dev)
            predicted = model(batch)
            loss = loss_fn(predicted, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
            errors.append(float((predicted.detach() - target).abs().mean()))
        metrics = EpochMetrics(epoch=epoch, train_loss=float(np.mean(losses)), train_mae=float(np.mean(errors)),
                               test_mae=mae(model, test_set) if test_set else None,
                               seconds=time.perf_counter() - started)
        history.append(metrics)
        save_checkpoint(last, model.cpu(), optimizer=optimizer.state_dict(), schedule=schedule.state_dict(),
                        epoch=epoch, history=[asdict(m) for m in history], random=_random_state(),
                        train_config=asdict(train_config))
        model.to(dev)
        if on_epoch:
            on_epoch(metrics)
    model.eval()
    return model.cpu(), history


# ---- several members at once ------------------------------------------------------------------------------

_SHARED: dict = {}  # what forked member processes read (copy-on-write), set just before they start


def _train_member(job: tuple) -> tuple[int, list[dict]]:
    from threadpoolctl import threadpool_limits

    member, model_config, train_config, checkpoint_dir, initial = job
    torch.set_num_threads(1)
    threadpool_limits(1)  # numpy's BLAS too (discovery.evaluation.pool says why)
    _, history = train(_SHARED["train"], _SHARED["test"], model_config, train_config, checkpoint_dir, initial=initial)
    return member, [asdict(m) for m in history]  # the weights are in checkpoint_dir/last.pt, as train left them


def train_members(train_set: Sequence[Example], test_set: Sequence[Example], jobs: Sequence[tuple], *,
                  workers: int = 1, on_member: Callable[[int, list[EpochMetrics]], None] | None = None,
                  on_epoch: Callable[[int, EpochMetrics], None] | None = None,
                  progress: bool = False) -> list[GNoMEModel]:
    """Train several members on one data set: ``jobs`` are (model config, train config, checkpoint dir,
    initial model or None), one per member, in member order. With ``workers`` > 1 they run in that many forked
    processes of one thread each (the examples are shared copy-on-write, not copied), each resumable from its
    own checkpoint as ``train`` is, and each model is read back from that checkpoint; ``on_member`` hears of each
    member as it finishes (in the parent process), ``on_epoch`` of each epoch only when members run here
    (``workers`` 1)."""
    if workers <= 1 or len(jobs) <= 1 or device().type == "cuda":
        models = []
        for member, (model_config, train_config, checkpoint_dir, initial) in enumerate(jobs):
            model, history = train(train_set, test_set, model_config, train_config, checkpoint_dir, initial=initial,
                                   progress=progress,
                                   on_epoch=(lambda m, member=member: on_epoch(member, m)) if on_epoch else None)
            models.append(model)
            if on_member:
                on_member(member, history)
        return models
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    _SHARED.update(train=train_set, test=test_set)
    try:
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=mp.get_context("fork")) as pool:
            futures = [pool.submit(_train_member, (member, *job)) for member, job in enumerate(jobs)]
            for future in as_completed(futures):
                member, history = future.result()
                if on_member:
                    on_member(member, [EpochMetrics(**m) for m in history])
    finally:
        _SHARED.clear()
    return [load_model(checkpoint_dir / "last.pt")[0] for _, _, checkpoint_dir, _ in jobs]
