"""Machine-learned MD for Li-ion conductivity: speed, and a study of real sample crystals. No database needed.

    .venv/bin/python -u benchmarks/md.py [--ids 0ee8478064,953ab99c19] [--references Li2O,LiF,Li3N]
        [--production-ps 5] [--equilibration-ps 1] [--ramp-ps 0.5] [--temperature 1000] [--min-atoms 100]
        [--out var/md-bench]

Prints: MD steps/s of CHGNet 0.3.0 on a ~100-atom supercell on this CPU (and on CUDA when present); then,
for each material, an NVT run (Nose-Hoover chain, 2 fs) with its wall time, and the Li diffusivity,
conductivity (Nernst-Einstein, pymatgen-analysis-diffusion, smoothed="max") and superionic verdict
(sigma(1000 K) > 10^1.18 mS/cm), with the wall time a default study (discovery.md.simulation.MDSettings())
would take at the measured speed. Runs resume from their checkpoints in --out.

--references adds textbook crystals of known behaviour (discovery/md/references.py: Li2O and LiF, poor
conductors; Li3N, a fast one), which our data lacks, so that the screen is seen to separate the two kinds.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("GNOME_DATA_DIR") or ROOT.parent / "shared" / "data")  # as the settings

# sample crystals: Li5AlS4 (a thio-aluminate), LiNbSiO5 and Li2AlIO6 (oxides)
DEFAULT_IDS = "0ee8478064,953ab99c19,b2b75a094c"


def sample_structures(ids: list[str]) -> dict:
    from pymatgen.core import Structure

    found = {}
    with gzip.open(DATA / "gnome_materials_sample.jsonl.gz", "rt") as fh, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for line in fh:
            row = json.loads(line)
            if row["material_id"] in ids:
                found[row["material_id"]] = Structure.from_str(row["cif"], fmt="cif")
    missing = set(ids) - set(found)
    if missing:
        raise SystemExit(f"not in the sample: {', '.join(sorted(missing))}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ids", default=DEFAULT_IDS)
    parser.add_argument("--references", default="", help="names from discovery/md/references.py, comma-separated")
    parser.add_argument("--temperature", type=float, default=1000.0)
    parser.add_argument("--ramp-ps", type=float, default=0.5)
    parser.add_argument("--equilibration-ps", type=float, default=1.0)
    parser.add_argument("--production-ps", type=float, default=5.0)
    parser.add_argument("--min-atoms", type=int, default=100, help="smallest supercell of the study runs")
    parser.add_argument("--speed-steps", type=int, default=40)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "md-bench")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import torch

    from discovery.md.analysis import diffusion, is_superionic
    from discovery.md.simulation import MDRun, MDSettings, calculator

    torch.set_num_threads(2)
    from discovery.md.references import REFERENCES, reference

    ids = [i.strip() for i in args.ids.split(",") if i.strip()]
    structures = sample_structures(ids)
    names = [n.strip() for n in args.references.split(",") if n.strip()]
    for name in names:
        structures[name] = reference(name)
    known = {name: "known conductor" if REFERENCES[name].conductor else "known poor conductor" for name in names}
    ids += names
    calc = calculator("chgnet")

    # speed: a ~100-atom supercell of the first material, after 5 warm-up steps
    first = structures[ids[0]]
    import shutil

    shutil.rmtree(args.out / "speed", ignore_errors=True)  # a fresh run every time, whichever material is first
    speed_run = MDRun(first, MDSettings(ramp_ps=0, equilibration_ps=0, production_ps=1.0), args.out / "speed", calc=calc)
    speed_run.run(max_steps=5)
    start = time.perf_counter()
    speed_run.run(max_steps=args.speed_steps)
    rate = args.speed_steps / (time.perf_counter() - start)
    default = MDSettings()
    print(f"CHGNet 0.3.0 MD on {len(speed_run.supercell)} atoms ({first.composition.reduced_formula} x "
          f"{speed_run.multiples}), {torch.get_num_threads()} CPU threads: {rate:.2f} steps/s "
          f"({rate * default.timestep_fs * 86400 / 1e6:.2f} ns/day)")
    print(f"a default study (ramp {default.ramp_ps} ps + {default.equilibration_ps} ps discarded + "
          f"{default.production_ps} ps at {default.temperature_k:.0f} K = {default.total_steps} steps) at this speed: "
          f"{default.total_steps / rate / 60:.0f} min per material and temperature")
    if torch.cuda.is_available():
        print("CUDA is available: rerun with CUDA_VISIBLE_DEVICES set to time it there")

    settings = MDSettings(temperature_k=args.temperature, ramp_ps=args.ramp_ps, equilibration_ps=args.equilibration_ps,
                          production_ps=args.production_ps, min_atoms=args.min_atoms)
    print(f"study: {settings.temperature_k:.0f} K, ramp {settings.ramp_ps} ps from {settings.start_temperature_k:.0f} K, "
          f"{settings.equilibration_ps} ps discarded, {settings.production_ps} ps analysed, frames every "
          f"{settings.save_every * settings.timestep_fs:.0f} fs, >= {settings.min_atoms} atoms")
    for material_id in ids:
        run = MDRun(structures[material_id], settings, args.out / material_id, calc=calc)
        start = time.perf_counter()
        run.run()
        wall = time.perf_counter() - start
        frames = run.production_structures()
        result = diffusion(frames, "Li", settings.temperature_k, settings.save_every * settings.timestep_fs)
        verdict = "superionic" if is_superionic(result.conductivity_ms_cm) else "not superionic"
        # a molten framework would make any Li "diffuse": the other species' diffusivities say whether it held
        others = sorted({site.specie.symbol for site in frames[0]} - {"Li"})
        interval_fs = settings.save_every * settings.timestep_fs
        framework = ", ".join(f"{el} {diffusion(frames, el, settings.temperature_k, interval_fs).diffusivity_cm2_s:.1e}"
                              for el in others)
        temperatures = [atoms.get_temperature() for _, atoms in run.frames(settings.production_start)]
        print(f"  {material_id} {structures[material_id].composition.reduced_formula:12s} {len(run.supercell):4d} atoms: "
              f"D_Li {result.diffusivity_cm2_s:.2e} +- {result.diffusivity_std_cm2_s:.1e} cm2/s, sigma "
              f"{result.conductivity_ms_cm:.3g} +- {result.conductivity_std_ms_cm:.2g} mS/cm -> {verdict}; "
              f"wall {wall / 60:.1f} min this run ({settings.total_steps} steps); framework D {framework} cm2/s; "
              f"T {sum(temperatures) / len(temperatures):.0f} K mean over the production"
              + (f" [{known[material_id]}]" if material_id in known else ""), flush=True)


if __name__ == "__main__":
    main()
