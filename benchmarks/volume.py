"""Does scaling a substituted cell to the volume its new species imply help? Measured on the shipped evaluated
candidates (the structure as screened, the relaxed one, the evaluator's energy), without a database.

    .venv/bin/python benchmarks/volume.py [--split test]

For each candidate the seed (its parent, from the GNoME sample) gives the species counts, and the generator's
own rule (``discovery.generation.substitution.volume_ratio``: summed sphere volumes, Shannon ionic radii for
ions, atomic radii otherwise) the factor. Prints, seed cell against rescaled cell:
- how far the starting volume is from the relaxed one (median |ln(V_start / V_relaxed)|, share closer);
- the released ensemble's screening figures on the split (MAE, bias, and the classification at 50 meV/atom),
  as rounds screen (its default TTA setting).
Energies are the evaluator's (CHGNet 0.3.0, a machine-learned potential, not DFT).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import statistics
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("GNOME_DATA_DIR") or ROOT.parent / "shared" / "data")  # as the settings


def factor_of(record: dict, parent) -> float | None:
    """The generator's volume factor of this candidate from its parent crystal, or None when it cannot be
    recomputed (a mapping the parent's sites do not show)."""
    from pymatgen.core import Element, Species

    from discovery.generation.substitution import seed_sites, volume_ratio

    detail = record.get("detail") or {}
    if record["generator"] == "neighbour":
        sites = [Element(site.specie.symbol) for site in parent]
    else:
        sites, _ = seed_sites(parent, record["parent"])
    counts: dict = {}
    for site in sites:
        counts[site] = counts.get(site, 0) + 1

    def parse(text):
        return Species.from_str(text) if any(c in text for c in "+-") else Element(text)

    if record["generator"] == "saps":
        old, new, k = parse(detail["from"]), parse(detail["to"]), detail["k"]
        if counts.get(old, 0) < k:
            return None
        after = {**counts, old: counts[old] - k}
        after[new] = after.get(new, 0) + k
        return volume_ratio(counts, after)
    mapping = {parse(a): parse(b) for a, b in detail.get("map", {}).items()}
    if not mapping or any(a not in counts for a in mapping):
        return None
    after: dict = {}
    for site, n in counts.items():
        target = mapping.get(site, site)
        after[target] = after.get(target, 0) + n
    return volume_ratio(counts, after)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="test", choices=["train", "validation", "test"])
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gnome_site.settings")
    import torch
    from pymatgen.core import Structure

    from discovery.gnn.__main__ import released_members
    from discovery.gnn.data import candidate_examples, read_evaluated, structure_of
    from discovery.gnn.predict import load_model
    from discovery.screening import ensemble_screening

    torch.set_num_threads(2)
    records = read_evaluated(ROOT / "discovery" / "data" / "evaluated_candidates.jsonl.gz", splits=(args.split,))
    wanted = {r["parent"] for r in records}
    parents = {}
    with gzip.open(DATA / "gnome_materials_sample.jsonl.gz", "rt") as fh:
        for line in fh:
            row = json.loads(line)
            if row["material_id"] in wanted:
                parents[row["material_id"]] = Structure.from_str(row["cif"], fmt="cif")
    seed_rows, scaled_rows, closer, seed_err, scaled_err = [], [], 0, [], []
    for r in records:
        parent = parents.get(r["parent"])
        factor = factor_of(r, parent) if parent is not None else None
        if factor is None:
            continue
        start = structure_of(r["structure"])
        relaxed = structure_of(r["relaxed_structure"])
        scaled = start.copy()
        scaled.scale_lattice(start.volume * factor)
        e0, e1 = abs(math.log(start.volume / relaxed.volume)), abs(math.log(scaled.volume / relaxed.volume))
        seed_err.append(e0)
        scaled_err.append(e1)
        closer += e1 < e0
        seed_rows.append(r)
        scaled_rows.append({**r, "structure": scaled.as_dict()})
    n = len(seed_rows)
    print(f"{args.split} split: {n} of {len(records)} evaluated candidates with a recomputable factor "
          f"(parents from the GNoME sample)")
    print(f"starting volume vs relaxed, median |ln(V0/V)|: seed cell {statistics.median(seed_err):.4f}, "
          f"rescaled {statistics.median(scaled_err):.4f}; rescaled closer for {closer} of {n} "
          f"({100 * closer / n:.0f}%)")
    models = [load_model(p)[0] for p in released_members()]
    tta = models[0].config.extra.get("screen_tta", True)
    for name, rows in (("seed cell", seed_rows), ("rescaled", scaled_rows)):
        unrelaxed, _ = candidate_examples(rows, relaxed=False)
        m = ensemble_screening(models, rows, unrelaxed, tta=tta)
        t = m["at_threshold"]
        print(f"{name:9s}: n {m['n']}, MAE {m['mae_ev_per_atom']:.4f}, bias {m['bias_ev_per_atom']:+.4f} eV/atom; "
              f"at 50 meV/atom passed {t['passed']}, precision {100 * t['precision']:.1f}%, recall "
              f"{100 * t['recall']:.1f}%, F1 {t['f1']:.3f} (released ensemble, {'TTA' if tta else 'no TTA'})")


if __name__ == "__main__":
    main()
