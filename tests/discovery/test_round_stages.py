"""The stages of a round, declared once (``discovery.rounds.STAGES``): both drivers, the inline runner and the
Celery canvas, go through them in the table's order; ``manage.py run_round`` shows one bar per stage, with rates
in candidates per second, and nothing a library prints on its own."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db.models.signals import post_save

from discovery import rounds, tasks
from discovery.models import DiscoveryRound
from hullapi import services
from hullapi.models import HullSet

TINY = {"chemsys": ["Co-Li-O"], "candidate_budget": 12, "evaluation_budget": 1, "control_fraction": 0.0,
        "max_steps": 2, "screen_chunk": 5, "evaluate_chunk": 1}
NAMES = [stage.name for stage in rounds.STAGES]


@pytest.fixture
def hull(catalogue):
    services.recompute(HullSet.ALL)
    services.recompute(HullSet.MP)
    return catalogue


def test_the_table_reaches_every_stage_of_a_round_once_in_order():
    assert [stage.reaches for stage in rounds.STAGES] == rounds.ORDER[1:]
    assert len(set(NAMES)) == len(NAMES)
    for stage in rounds.STAGES:
        if stage.fans_out:
            assert stage.run is None and stage.run_chunk and stage.finish and stage.doing and stage.unit == "cand"
        else:
            assert stage.run is not None and stage.run_chunk is None and stage.finish is None
        assert rounds.stage_named(stage.name) is stage
    with pytest.raises(rounds.RoundError, match="no round stage 'relax': one of generate, screen, select"):
        rounds.stage_named("relax")


def stages_reached(run) -> list[str]:
    """The stages a round's record went through while ``run`` ran, in order."""
    seen: list[str] = []

    def record(sender, instance, **kwargs):
        if not seen or seen[-1] != instance.stage:
            seen.append(instance.stage)

    post_save.connect(record, sender=DiscoveryRound)
    try:
        run()
    finally:
        post_save.disconnect(record, sender=DiscoveryRound)
    return seen


def test_the_inline_runner_and_the_celery_canvas_run_the_stages_of_the_table_in_its_order(hull):
    reaches = [stage.reaches for stage in rounds.STAGES]

    told: list[tuple[str, int, int]] = []
    inline = rounds.create_round(TINY, name="inline")
    assert stages_reached(lambda: rounds.run_inline(inline.pk, progress=lambda *event: told.append(event))) == reaches
    opened = [name for i, (name, _, _) in enumerate(told) if i == 0 or told[i - 1][0] != name]
    assert opened == NAMES  # each stage told once, in order, never coming back
    screening = [(done, total) for name, done, total in told if name == "screen"]
    assert screening == [(0, 12), (5, 12), (10, 12), (12, 12)]  # candidates, chunk by chunk (5, 5, 2)

    canvas = rounds.create_round(TINY, name="celery")
    assert stages_reached(lambda: tasks.advance_round.delay(canvas.pk)) == reaches  # eager here: the whole canvas
    for rnd in (inline, canvas):
        rnd.refresh_from_db()
        assert rnd.status == DiscoveryRound.Status.SUCCEEDED and rnd.counts["generated"] == 12
        assert set(rnd.timings) >= set(reaches)


def final_lines(text: str) -> list[str]:
    """What a terminal shows at the end: each line as its last carriage return left it."""
    return [line.rsplit("\r", 1)[-1] for line in text.split("\n") if line.rsplit("\r", 1)[-1].strip()]


def test_run_round_shows_one_bar_per_stage_and_nothing_from_the_libraries(hull, capfd, recwarn):
    call_command("run_round", "--chemsys", "Co-Li-O", "--candidates", "12", "--evaluate", "1", "--control", "0",
                 "--max-steps", "2")
    out, err = capfd.readouterr()
    # what CHGNet and the cell filter warn at every relaxation, whatever the structure
    assert not [w for w in recwarn if "requires_grad" in str(w.message) or "logm result" in str(w.message)]
    bars = final_lines(err)
    assert [line.split(":")[0].strip() for line in bars] == NAMES, err
    by_name = dict(zip(NAMES, bars, strict=True))
    assert "12/12 cand" in by_name["generate"] and "12/12 cand" in by_name["screen"]
    assert "1/1 cand" in by_name["evaluate"] and "cand/s" in by_name["screen"]
    assert "CHGNet will run on" not in out + err and "spglib" not in out + err
    rnd = DiscoveryRound.objects.get()
    assert out.startswith(f"round {rnd.pk}: succeeded; generated 12")

    # resumed when every stage is done: the stages that count candidates say so, with no rate at all (a bar
    # told "all 12 done" a moment after it opened once showed tens of millions of candidates per second)
    call_command("run_round", "--resume", str(rnd.pk))
    out, err = capfd.readouterr()
    bars = dict(zip(NAMES, final_lines(err), strict=True))
    for name in ("generate", "screen", "evaluate"):
        assert bars[name].split(":", 1)[1].strip() == "done before"
    assert "/s" not in err


def test_spglib_says_nothing_in_a_process_with_the_settings_unless_asked():
    # a cell whose symmetry spglib's C core searches hard; without the switch it writes its retries to stderr
    script = (
        "import django; django.setup(); import spglib\n"
        "cell = ([[4.0223, 0.2174, -0.1197], [0.1481, 5.4832, 0.2915], [0.0700, 0.4949, 6.1558]],"
        " [[0.3507, 0.0917, 0.0399], [0.1713, 0.2452, 0.0734]], [1, 1])\n"
        "spglib.get_symmetry_dataset(cell, symprec=0.9293)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "gnome_site.settings"}
    env.pop("SPGLIB_WARNING", None)

    def run(**extra) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", script], env={**env, **extra}, cwd=settings.BASE_DIR,
                              capture_output=True, text=True, timeout=120, check=True)

    quiet = run()
    assert "spglib" not in quiet.stdout + quiet.stderr
    asked = run(SPGLIB_WARNING="ON")
    assert "spglib: ssm_get_exact_positions failed." in asked.stderr
