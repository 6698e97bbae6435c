"""A real active-learning campaign on the embedded default (the SQLite catalogue `make run` bootstraps: the GNoME
sample, the MP snapshot, both hulls and the shipped evaluated candidates), run in this process as
`manage.py run_campaign` runs it, resumable round by round and stage by stage.

    .venv/bin/python -u benchmarks/campaign.py [--rounds 4] [--candidates 1500] [--evaluate 50] [--control 1.0]
        [--base catalogue-only] [--training campaign] [--dft-limit 3000] [--workers 2]
    .venv/bin/python -u benchmarks/campaign.py --resume 3      # after an interruption, or to add nothing

The chemical space: the catalogue's stable Li-containing oxides, sulfides, selenides and halides of at most
--max-sites sites and --max-elements elements (their ids are the seeds; the rounds' new stable crystals join
them). Round 1 screens with the catalogue-only ensemble (trained on DFT crystals only, as GNoME's first round
started from a model trained on the Materials Project alone); after each round the ensemble is fine-tuned on the
campaign's own evaluations (and DFT) and, with --adopt always (the default here), screens the next round; the
activation rule's verdict is printed beside it. Prints, per round: hit rate
and prevalence with Wilson 95 % intervals and their counts, DAF with Katz's 95 % interval, the screening MAE on
the round's evaluated candidates before they were trained on, new stable materials by hull completeness; then
the scaling points (test MAE on the held-out candidates against candidates trained on). Writes the campaign's
document (what /api/v1/discovery/campaigns/{id}/ serves) to --out. Energies: CHGNet 0.3.0 relaxations, a
machine-learned potential, not DFT.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ANIONS = ("O", "S", "Se", "F", "Cl", "Br", "I")


def li_space(max_sites: int, max_elements: int = 3) -> list[str]:
    """Ids of the stable Li-containing oxides, sulfides, selenides and halides of the catalogue ("all" hull) of at
    most ``max_elements`` elements."""
    from materials.chemsys import chemsys_elements
    from materials.models import Material

    rows = (Material.objects.filter(structure__isnull=False, nsites__lte=max_sites, stabilities__hull_set="all",
                                    stabilities__is_stable=True, nelements__gte=2, nelements__lte=max_elements)
            .order_by("material_id").values_list("material_id", "chemsys"))
    return [m for m, system in rows if "Li" in (els := chemsys_elements(system)) and set(els) & set(ANIONS)]


def pct(value, ci) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:5.1f}%" + (f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else "")


def report(doc: dict) -> None:
    print(f"\ncampaign {doc['id']} ({doc['status']}): {doc['rounds_done']} of {doc['rounds_planned']} rounds; "
          f"base {doc['base_model']}; now {doc['current_model']}")
    print(doc["energies"])
    print("round  hit rate [95%] (stable/n)        prevalence [95%] (stable/n)     DAF [95%]            "
          "screen MAE [95%] (n)       new stable (complete/incomplete hull)  fine-tune after it")
    for r in doc["rounds"]:
        daf, ci = r["daf"], r["daf_ci95"]
        mae, mci = r["screening_mae_ev_per_atom"], r["screening_mae_ci95"]
        t = r["retrained"] or {}
        tune = ("—" if not t else f"skipped: {t.get('skipped')}" if t.get("checkpoint_id") is None else
                f"{t['candidates_trained']} trained; test MAE {t['test_mae_ev_per_atom']:.4f} "
                f"[{t['test_mae_ci95'][0]:.4f}, {t['test_mae_ci95'][1]:.4f}] (n={t['test_n']}); validation "
                f"{t['validation_mae_ev_per_atom']:.4f} vs {t['base_validation_mae_ev_per_atom']:.4f}; "
                f"{'adopted' if t['activated'] else 'not adopted'}, rule: {'better' if t.get('rule') else 'not better'} "
                f"({t['wall_seconds']:.0f} s)")
        print(f"{r['index']:>5}  {pct(r['hit_rate'], r['hit_rate_ci95'])} ({r['stable_filtered']}/"
              f"{r['evaluated_filtered']})   {pct(r['prevalence'], r['prevalence_ci95'])} ({r['stable_control']}/"
              f"{r['evaluated_control']})   "
              f"{'n/a' if daf is None else f'{daf:.2f}'}{'' if not ci else f' [{ci[0]:.2f}, {ci[1]:.2f}]'}   "
              f"{'n/a' if mae is None else f'{mae:.3f}'}{'' if not mci else f' [{mci[0]:.3f}, {mci[1]:.3f}]'} "
              f"({r['screening_mae_n']})   {r['new_stable']} ({r['new_stable_complete']}/{r['new_stable_incomplete']})"
              f"   {tune}")
    if doc["scaling"]:
        print("scaling: candidates trained on -> test MAE (eV/atom) [95%], n")
        for p in doc["scaling"]:
            ci = p["test_mae_ci95"]
            print(f"  {p['training_candidates']:>6} -> {p['test_mae_ev_per_atom']:.4f} [{ci[0]:.4f}, {ci[1]:.4f}], "
                  f"{p['test_n']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resume", type=int, default=None, help="Campaign id to resume.")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--candidates", type=int, default=1500, help="Candidates generated per round.")
    parser.add_argument("--evaluate", type=int, default=50, help="The model's arm per round.")
    parser.add_argument("--control", type=float, default=1.0, help="The control arm, share of --evaluate.")
    parser.add_argument("--max-sites", type=int, default=24, help="Seeds of at most this many sites.")
    parser.add_argument("--max-elements", type=int, default=3,
                        help="Seeds of at most this many elements (3: ternaries, whose candidates' hulls are more often "
                             "complete; with quaternaries nearly every candidate is judged on a hull missing a binary).")
    parser.add_argument("--max-steps", type=int, default=300)
    parser.add_argument("--base", default="catalogue-only", choices=["released", "catalogue-only", "active"])
    parser.add_argument("--training", default="campaign", choices=["all", "campaign"])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--adopt", default="always", choices=["if-better", "always"],
                        help="always (default here): each round screens with the newest fine-tune, as GNoME's did; the "
                             "activation rule's verdict is still recorded and printed.")
    parser.add_argument("--dft-limit", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2, help="Members fine-tuned at once.")
    parser.add_argument("--random-seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="Write the campaign's document here (JSON).")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gnome_site.settings")
    import django

    django.setup()
    from discovery import campaigns
    from discovery.management.commands.run_campaign import StageBars, round_line
    from discovery.services import campaign_document

    if args.resume is None:
        seeds = li_space(args.max_sites, args.max_elements)
        print(f"{len(seeds)} seed crystals: stable Li-containing {', '.join(ANIONS)} compounds of <= {args.max_sites} "
              f"sites and <= {args.max_elements} elements")
        config = {"rounds": args.rounds, "base": args.base, "training": args.training, "adopt": args.adopt,
                  "finetune_epochs": args.epochs, "dft_limit": args.dft_limit, "finetune_workers": args.workers,
                  "round": {"seeds": seeds, "candidate_budget": args.candidates, "evaluation_budget": args.evaluate,
                            "control_fraction": args.control, "max_steps": args.max_steps,
                            "random_seed": args.random_seed}}
        campaign_id = campaigns.create_campaign(config, name="Li oxides, chalcogenides and halides",
                                                user="benchmarks/campaign.py").pk
        print(f"campaign {campaign_id} created")
    else:
        campaign_id = args.resume
        campaigns.resume(campaign_id)
    started = time.perf_counter()
    bars = StageBars()

    def said(rnd):
        bars.close()
        print(round_line(rnd), flush=True)
        print(f"  wall so far {time.perf_counter() - started:.0f} s; stage timings (s): "
              + ", ".join(f"{k} {v:.0f}" for k, v in rnd.timings.items() if not k.startswith("_")), flush=True)

    campaigns.run_inline(campaign_id, progress=bars, on_round=said)
    bars.close()
    doc = campaign_document(campaign_id)
    report(doc)
    if args.out:
        args.out.write_text(json.dumps(doc, default=str, indent=1))
        print(f"document written to {args.out}")


if __name__ == "__main__":
    main()
