"""A round's settings as one typed value: every bad field named with its value, defaults filled in, and a stored
configuration read back as it was written (older rounds, written before a setting existed, included)."""

from __future__ import annotations

import json
import re

import pytest

from discovery import rounds
from discovery.models import DiscoveryRound
from discovery.rounds import DEFAULTS, RoundConfig, RoundError


@pytest.mark.parametrize(("field", "value", "message"), [
    ("candidate_budget", "lots", "candidate_budget must be an integer from 1 to 10000000 (got 'lots')"),
    ("evaluation_budget", True, "evaluation_budget must be an integer from 1 to 10000000 (got 'True')"),
    ("max_steps", -1, "max_steps must be an integer from 0 to 10000000 (got '-1')"),
    ("threshold_ev_per_atom", 7, "threshold_ev_per_atom must be a number from -1 to 5 (got '7')"),
    ("fmax", 0, "fmax must be a number from 0.001 to 10 (got '0')"),
    ("retrain", "no", "retrain must be true or false (got 'no')"),
    ("volume", "cubic", "volume must be one of seed, rescaled (got 'cubic')"),
    ("precision", "float16", "precision must be float32 or bfloat16 (got 'float16')"),
    ("evaluator", 3, "evaluator must be a name (got '3')"),
    ("generators", ["compositional"], "generators must be among substitution, saps, neighbour (got ['compositional'])"),
    ("seeds", [1, 2], "seeds must be a list of strings (got '[1, 2]')"),
    ("allow_elements", ["Fe"], "allow_elements lists elements without a stable isotope to switch on; Fe is not"),
])
def test_it_names_the_bad_field_and_its_value(field, value, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        RoundConfig.from_dict({"chemsys": ["Li-O"], field: value})


def test_it_names_every_bad_field_at_once_and_no_good_one():
    with pytest.raises(RoundError) as caught:
        RoundConfig.from_dict({"chemsys": ["Li-O"], "screen_chunk": 0, "cluster": 1, "tta": "auto"})
    problems = str(caught.value).split("; ")
    assert [p.split(" ")[0] for p in problems] == ["cluster", "screen_chunk", "tta"]
    assert "chemsys" not in str(caught.value)


def test_it_fills_the_defaults_and_keeps_what_was_given():
    config = RoundConfig.from_dict({"seeds": ["mp-1"], "evaluation_budget": 7, "tta": False})
    assert config.seeds == ["mp-1"] and config.evaluation_budget == 7 and config.tta is False
    assert config.candidate_budget == DEFAULTS["candidate_budget"] == 10000
    assert config.generators == ["substitution", "saps"] and config.volume == "rescaled"
    # each configuration has its own lists: the defaults are never shared and changed through one of them
    config.chemsys.append("Li-O")
    assert RoundConfig.from_dict({"seeds": ["mp-1"]}).chemsys == [] == DEFAULTS["chemsys"]


def test_a_stored_configuration_round_trips_through_the_json_field():
    stored = rounds.validate_config({"chemsys": ["Co-Li-O"], "threshold_ev_per_atom": 0.02, "precision": "bfloat16",
                                     "allow_elements": ["Tc"], "tta": None})
    assert set(stored) == set(DEFAULTS)
    again = json.loads(json.dumps(stored))
    assert RoundConfig.from_dict(again).as_dict() == stored == RoundConfig.stored(again).as_dict()
    assert RoundConfig.stored(again) == RoundConfig.from_dict(stored)


def test_a_round_stored_before_newer_settings_existed_still_loads(db):
    # written before volume, sign_change, allow_elements, precision and tta were settings
    old = {key: value for key, value in rounds.validate_config({"chemsys": ["Li-O"], "screen_chunk": 7}).items()
           if key not in {"volume", "sign_change", "allow_elements", "precision", "tta"}}
    rnd = DiscoveryRound.objects.create(config=old)
    config = RoundConfig.stored(DiscoveryRound.objects.get(pk=rnd.pk).config)
    assert config.screen_chunk == 7 and config.volume == "rescaled" and config.precision == "float32"
    assert config.tta is None and config.allow_elements == [] and config.sign_change is False
    assert rounds.screen_chunks(rnd.pk) == []  # the stage functions read it


def test_a_bad_configuration_is_refused_before_a_round_is_stored(db):
    with pytest.raises(RoundError, match="control_fraction must be a number from 0 to 1"):
        rounds.create_round({"chemsys": ["Li-O"], "control_fraction": 2})
    assert not DiscoveryRound.objects.exists()
