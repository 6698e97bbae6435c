"""Fine-tuning recipes, one ensemble member at a time (no database): warm-start a released member (or train from
scratch), fine-tune it on the DFT training split of the sample plus the training candidates of the shipped
evaluated-candidates file, and print its screening MAE and bias on the validation and test candidates (held out
by parent composition, unrelaxed input, no TTA) and its MAE on the first 1,500 DFT test structures.

    .venv/bin/python benchmarks/finetune_recipe.py --out var/recipe/base --epochs 5 --lr 5e-4 --delta 0.1 --midway ''
    .venv/bin/python benchmarks/finetune_recipe.py --out var/recipe/new     # the defaults of manage.py finetune_gnn

The DFT examples are built once and kept in ``var/recipe/dft.pkl`` (about 2 minutes). Choose on the validation
figures; the test figures are printed to see that they agree. One run is about 3 (5 epochs) to 8 (12 epochs)
minutes on one core.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("GNOME_DATA_DIR") or ROOT.parent / "shared" / "data")  # as the settings
EVALUATED = ROOT / "discovery" / "data" / "evaluated_candidates.jsonl.gz"


def dft_examples(cache: Path):
    from discovery.gnn.data import examples, read_jsonl, split_of

    if cache.is_file():
        return pickle.loads(cache.read_bytes())
    items, _ = examples(read_jsonl(DATA / "gnome_materials_sample.jsonl.gz"))
    split = ([e for e in items if split_of(e.reduced_formula) == "train"],
             [e for e in items if split_of(e.reduced_formula) == "test"])
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(pickle.dumps(split, protocol=5))
    return split


def main() -> None:
    from discovery.gnn import recipe
    from discovery.gnn.data import candidate_examples, read_evaluated
    from discovery.gnn.model import GNNConfig, with_fidelities
    from discovery.gnn.predict import load_model
    from discovery.gnn.train import TrainConfig, predict_examples, train

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="Checkpoint folder of this run.")
    parser.add_argument("--init", default=str(ROOT / "discovery" / "gnn" / "released" / "member-0.pt"),
                        help="Member to warm-start from, or 'scratch'.")
    parser.add_argument("--epochs", type=int, default=recipe.FINETUNE_EPOCHS)
    parser.add_argument("--lr", type=float, default=recipe.FINETUNE_LEARNING_RATE)
    parser.add_argument("--delta", type=float, default=recipe.FINETUNE_HUBER_DELTA, help="Huber width, eV/atom.")
    parser.add_argument("--repeats", type=int, default=3, help="Candidate examples per epoch, each.")
    parser.add_argument("--volumes", default=",".join(f"{v:g}" for v in recipe.FINETUNE_VOLUMES))
    parser.add_argument("--midway", default=",".join(f"{t:g}" for t in recipe.FINETUNE_MIDWAY))
    parser.add_argument("--width", type=int, default=64, help="From scratch only.")
    parser.add_argument("--steps", type=int, default=2, help="From scratch only.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--file", type=Path, default=EVALUATED)
    args = parser.parse_args()
    torch.set_num_threads(1)

    def fractions(text):
        return tuple(float(x) for x in text.split(",") if x.strip())

    started = time.perf_counter()
    dft_train, dft_test = dft_examples(ROOT / "var" / "recipe" / "dft.pkl")
    records = {split: read_evaluated(args.file, (split,)) for split in ("train", "validation", "test")}
    candidates, _ = candidate_examples(records["train"], volumes=fractions(args.volumes),
                                       midway=fractions(args.midway))
    held_out = {split: candidate_examples(records[split], relaxed=False)[0] for split in ("validation", "test")}
    fidelities = sorted({e.fidelity for e in candidates})
    if args.init == "scratch":
        config = GNNConfig(embedding_dim=args.width, mlp_widths=(args.width, args.width), steps=args.steps,
                           fidelities=("dft", *fidelities), screen_fidelity=fidelities[0])
        initial = None
    else:
        initial = with_fidelities(load_model(Path(args.init))[0], ("dft", *fidelities), fidelities[0])
        config = initial.config
    train_set = dft_train + candidates * args.repeats
    print(f"training examples {len(train_set)} ({len(candidates)} candidate frames x {args.repeats}), validation "
          f"{len(held_out['validation'])}, test {len(held_out['test'])} candidates", flush=True)
    plan = TrainConfig(epochs=args.epochs, learning_rate=args.lr, huber_delta=args.delta, seed=args.seed)

    def report(m):
        print(f"  epoch {m.epoch + 1}: training MAE {m.train_mae:.4f}, validation MAE {m.test_mae:.4f} ({m.seconds:.0f} s)",
              flush=True)

    model, _ = train(train_set, held_out["validation"], config, plan, args.out, on_epoch=report, initial=initial)
    result = {}
    for split, examples in held_out.items():
        error = predict_examples([model], examples)[0] - np.array([e.e_form for e in examples])
        result[split] = {"n": len(examples), "mae": float(np.abs(error).mean()), "bias": float(error.mean())}
    dft = dft_test[:1500]
    result["dft_test_1500_mae"] = float(np.abs(predict_examples([model], dft)[0] - [e.e_form for e in dft]).mean())
    result["minutes"] = (time.perf_counter() - started) / 60
    print(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, **result}))


if __name__ == "__main__":
    main()
