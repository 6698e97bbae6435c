"""Try a candidate generator on seeds or a chemical system: candidates to a jsonl(.gz) or a folder of CIFs.

    manage.py generate --method saps --seed 0a1b2c3d4e --limit 100 --out var/saps.jsonl
    manage.py generate --method substitution --chemsys Li-P-S --max-seeds 20 --out var/cifs/
    manage.py generate --method compositional --chemsys Li-Si --n-structures 10 --out var/li-si.jsonl.gz

Candidates of compositions already in the catalogue are dropped unless --include-known.
"""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from discovery.generating import GENERATORS, generate, known_formulas, seed_materials
from discovery.generation.candidates import GenerationError
from discovery.generation.streams import StreamStats, pipeline


class _Writer:
    """Candidates to a jsonl(.gz) file (one record per line) or to a folder (one CIF per candidate)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        name = out.name
        if name.endswith((".jsonl", ".jsonl.gz")):
            out.parent.mkdir(parents=True, exist_ok=True)
            self.fh = (gzip.open if name.endswith(".gz") else open)(out, "wt")
            self.folder = None
        elif out.suffix:
            raise CommandError(f"--out {out}: give a .jsonl / .jsonl.gz file or a folder for CIFs")
        else:
            out.mkdir(parents=True, exist_ok=True)
            self.fh, self.folder = None, out

    def write(self, candidate) -> None:
        if self.fh is not None:
            self.fh.write(json.dumps(candidate.as_record()) + "\n")
        else:
            candidate.structure.to(filename=str(self.folder / f"{candidate.reduced_formula}-{candidate.key}.cif"))

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--method", choices=GENERATORS, required=True)
        parser.add_argument("--seed", action="append", default=[], help="Seed material id (repeatable).")
        parser.add_argument("--chemsys", action="append", default=[],
                            help="Chemical system, e.g. Li-P-S: its stable crystals are the seeds (repeatable).")
        parser.add_argument("--max-seeds", type=int, default=None)
        parser.add_argument("--limit", type=int, default=1000, help="Candidates to write (default 1000).")
        parser.add_argument("--out", type=Path, required=True, help="A .jsonl(.gz) file, or a folder for CIFs.")
        parser.add_argument("--include-known", action="store_true", help="Keep compositions already catalogued.")
        parser.add_argument("--dedup", choices=["none", "exact", "structure"], default="exact")
        parser.add_argument("--threshold", type=float, default=1e-3, help="Substitution probability threshold.")
        parser.add_argument("--charge-balance", action="store_true", help="Keep charge-balanced products only.")
        parser.add_argument("--max-per-seed", type=int, default=None, help="SAPS: configurations per seed.")
        parser.add_argument("--sign-change", action="store_true",
                            help="Substitution, SAPS: allow a cation to be replaced by an anion or back.")
        parser.add_argument("--allow-elements", default="",
                            help="Elements without a stable isotope to switch on, comma-separated (e.g. Th,U).")
        parser.add_argument("--volume", choices=["seed", "rescaled"], default="rescaled",
                            help="Substituted cells: scaled to the new species' radii (default; measured to screen "
                                 "better), or the seed's.")
        parser.add_argument("--n-structures", type=int, default=100, help="Compositional: random structures each.")
        parser.add_argument("--max-atoms", type=int, default=12, help="Compositional: atoms per formula unit.")
        parser.add_argument("--hull-threshold", type=float, default=0.05,
                            help="Compositional: keep compositions predicted below this, eV/atom above the hull.")
        parser.add_argument("--random-seed", type=int, default=0)

    def handle(self, *args, **o):
        from tqdm import tqdm

        if o["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        if o["method"] != "compositional" and not (o["seed"] or o["chemsys"]):
            raise CommandError(f"--method {o['method']} needs --seed or --chemsys")
        options = {}
        allow = [x.strip() for x in o["allow_elements"].split(",") if x.strip()]
        if o["method"] in {"substitution", "saps", "neighbour"}:
            from discovery.generation.candidates import UNSTABLE_ELEMENTS

            if set(allow) - UNSTABLE_ELEMENTS:
                raise CommandError(f"--allow-elements switches on elements without a stable isotope; "
                                   f"{', '.join(sorted(set(allow) - UNSTABLE_ELEMENTS))} not among them")
            options = {"volume": o["volume"], "allow_elements": allow}
        if o["method"] in {"substitution", "saps"}:
            options.update(threshold=o["threshold"], charge_balance=o["charge_balance"], sign_change=o["sign_change"])
            if o["method"] == "saps" and o["max_per_seed"]:
                options["max_per_seed"] = o["max_per_seed"]
        elif o["method"] == "compositional":
            options = {"n_structures": o["n_structures"], "max_atoms": o["max_atoms"], "seed": o["random_seed"],
                       "include_known": o["include_known"], "threshold_ev_per_atom": o["hull_threshold"]}
        skipped: dict[str, str] = {}
        try:
            seeds = [] if o["method"] == "compositional" else seed_materials(
                material_ids=o["seed"], chemsys=o["chemsys"], max_seeds=o["max_seeds"])
            if o["method"] != "compositional" and not seeds:
                raise CommandError(f"no seed crystals in {', '.join(o['chemsys'])} (stable on the 'all' hull)")
            known = known_formulas()
            stats = StreamStats()
            stream = pipeline(generate(o["method"], seeds=seeds, chemsys=o["chemsys"], options=options,
                                       on_skip=skipped.__setitem__),
                              known_formulas=known, include_known=o["include_known"], dedup=o["dedup"],
                              limit=o["limit"], stats=stats)
            writer = _Writer(o["out"])
            started = time.perf_counter()
            try:
                for candidate in tqdm(stream, total=o["limit"], unit="cand", disable=o["verbosity"] < 1,
                                      mininterval=1.0):
                    writer.write(candidate)
            finally:
                writer.close()
        except GenerationError as exc:
            raise CommandError(str(exc)) from None
        seconds = time.perf_counter() - started
        self.stdout.write(
            f"{stats.passed} candidates -> {o['out']} in {seconds:.1f} s ({stats.passed / max(seconds, 1e-9):.0f}/s) "
            f"from {len(seeds) or 'no'} seed(s); generated {stats.seen}, known composition {stats.known_composition}, "
            f"duplicates {stats.exact_duplicate + stats.structural_duplicate}")
        for seed_id, reason in skipped.items():
            self.stdout.write(f"skipped seed {seed_id}: {reason}")
