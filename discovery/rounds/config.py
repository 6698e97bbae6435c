"""The settings of a discovery round as one typed value that checks itself.

``RoundConfig.from_dict(raw)`` is the way in from a form, the REST API or ``manage.py run_round``: it fills the
defaults and raises a ``RoundError`` (a ``ValueError``) naming every bad field and its value. ``as_dict()`` is
what ``DiscoveryRound.config`` stores; ``RoundConfig.stored(config)`` reads a stored one back without judging it
again (a round created before a setting existed gets that setting's default).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = ["DEFAULTS", "MAX_COUNT", "RoundConfig", "RoundError", "validate_config"]

MAX_COUNT = 10_000_000


class RoundError(ValueError):
    """A round configuration or state that cannot go on (the message says why)."""


# ---- the checks of single fields: each returns what is wrong with a value, or "" --------------------------


def _shown(value: object, most: int = 40) -> str:
    return repr(str(value)[:most])


def _strings(most: int) -> Callable[[str, Any], str]:
    """A list of at most ``most`` strings of at most 100 characters."""

    def check(name: str, value: Any) -> str:
        if not isinstance(value, list) or not all(isinstance(v, str) and len(v) <= 100 for v in value):
            return f"{name} must be a list of strings (got {_shown(value, 80)})"
        if len(value) > most:
            return f"{name}: {len(value)} given; at most {most}"
        return ""

    return check


def _integer(low: int) -> Callable[[str, Any], str]:
    def check(name: str, value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_COUNT:
            return f"{name} must be an integer from {low} to {MAX_COUNT} (got {_shown(value)})"
        return ""

    return check


def _number(low: float, high: float) -> Callable[[str, Any], str]:
    def check(name: str, value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            return f"{name} must be a number from {low} to {high} (got {_shown(value)})"
        return ""

    return check


def _flag(name: str, value: Any) -> str:
    return "" if isinstance(value, bool) else f"{name} must be true or false (got {_shown(value)})"


def _optional_flag(name: str, value: Any) -> str:
    return "" if value is None or isinstance(value, bool) else f"{name} must be true, false or null (got {_shown(value)})"


def _one_of(*choices: str, said: str = "") -> Callable[[str, Any], str]:
    def check(name: str, value: Any) -> str:
        if value in choices:
            return ""
        return f"{name} must be {said or 'one of ' + ', '.join(choices)} (got {_shown(value)})"

    return check


def _name(name: str, value: Any) -> str:
    return "" if isinstance(value, str) else f"{name} must be a name (got {_shown(value)})"


def _generators(name: str, value: Any) -> str:
    from ..generating import GENERATORS

    if not value or any(g not in GENERATORS or g == "compositional" for g in value):
        return f"generators must be among substitution, saps, neighbour (got {value})"
    return ""


def _volumes(name: str, value: Any) -> str:
    from ..generation.substitution import VOLUMES

    return _one_of(*VOLUMES)(name, value)


def _unstable_elements(name: str, value: Any) -> str:
    from ..generation.candidates import UNSTABLE_ELEMENTS

    others = sorted(set(value) - UNSTABLE_ELEMENTS)
    if not others:
        return ""
    return (f"allow_elements lists elements without a stable isotope to switch on; "
            f"{', '.join(e[:10] for e in others[:10])} {'is' if len(others) == 1 else 'are'} not among them")


def _setting(default: Any, check: Callable[[str, Any], str], *then: Callable[[str, Any], str], doc: str = ""):
    """A field with its default and its checks, in order (a later one runs only on a value the earlier passed)."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"checks": (check, *then), "doc": doc})
    return field(default=default, metadata={"checks": (check, *then), "doc": doc})


@dataclass(frozen=True)
class RoundConfig:
    """Every setting of a round; units in the names (eV/atom, eV/Å)."""

    chemsys: list[str] = _setting([], _strings(50), doc="seeds: stable crystals within these systems")
    seeds: list[str] = _setting([], _strings(1000), doc="and/or these material ids")
    generators: list[str] = _setting(["substitution", "saps"], _strings(5), _generators)
    candidate_budget: int = _setting(10000, _integer(1))
    max_seeds: int = _setting(50, _integer(1))
    threshold_ev_per_atom: float = _setting(0.05, _number(-1, 5), doc="GNoME's screening threshold, 'all' hull")
    evaluation_budget: int = _setting(50, _integer(1))
    control_fraction: float = _setting(0.5, _number(0, 1), doc="random unfiltered candidates evaluated as a "
                                                                  "control arm, share of the budget: half, so that "
                                                                  "at a prevalence of 10 % a budget of 50 has a "
                                                                  "control arm of 25 that finds a stable one 93 % "
                                                                  "of the time (a tenth, 5: 41 %)")
    evaluator: str = _setting("chgnet", _name)
    fmax: float = _setting(0.05, _number(0.001, 10))
    max_steps: int = _setting(300, _integer(0))
    cluster: bool = _setting(False, _flag, doc="StructureMatcher deduplication while generating")
    retrain: bool = _setting(False, _flag)
    random_seed: int = _setting(0, _integer(0))
    screen_chunk: int = _setting(500, _integer(1))
    evaluate_chunk: int = _setting(4, _integer(1))
    saps_max_per_seed: int = _setting(200, _integer(1))
    precision: str = _setting("float32", _one_of("float32", "bfloat16", said="float32 or bfloat16"),
                              doc="of the GNN at screening; bfloat16 is 1.4x faster on CPUs with AVX-512 BF16")
    tta: bool | None = _setting(None, _optional_flag, doc="test-time augmentation at screening: None = as the "
                                                          "ensemble was measured to screen better")
    volume: str = _setting("rescaled", _volumes, doc="substituted cells: scaled to the new species' radii "
                                                      "(measured better), or 'seed'")
    sign_change: bool = _setting(False, _flag, doc="allow a cation to be replaced by an anion or back")
    allow_elements: list[str] = _setting([], _strings(30), _unstable_elements,
                                         doc="elements without a stable isotope (Tc, Pm, Po onwards) a generator "
                                              "may bring in")

    @classmethod
    def from_dict(cls, raw: object) -> RoundConfig:
        """The configuration with defaults filled in; a RoundError names each bad field and its value."""
        if not isinstance(raw, dict):
            raise RoundError("the configuration must be an object of settings")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise RoundError(f"unknown setting(s): {', '.join(str(u)[:50] for u in unknown)}")
        values = {**cls().as_dict(), **raw}  # fresh default lists, never the ones DEFAULTS holds
        problems, bad = [], set()
        for name, spec in known.items():
            for check in spec.metadata["checks"]:
                if problem := check(name, values[name]):
                    problems.append(problem)
                    bad.add(name)
                    break
        problems += _seed_problems(*(values[name] if name not in bad else [] for name in ("chemsys", "seeds")),
                                   given_but_bad=bool(bad & {"chemsys", "seeds"}))
        if problems:
            raise RoundError("; ".join(problems))
        config = cls(**values)
        config._check_evaluator()
        return config

    @classmethod
    def stored(cls, config: dict) -> RoundConfig:
        """A configuration as a round stored it (checked when the round was created), with the defaults of
        settings added since; not judged again."""
        known = {f.name for f in fields(cls)}
        return cls(**{**cls().as_dict(), **{k: v for k, v in config.items() if k in known}})

    def as_dict(self) -> dict:
        """What ``DiscoveryRound.config`` stores (every field, plain JSON values)."""
        return asdict(self)

    def _check_evaluator(self) -> None:
        from ..evaluation import evaluator_named

        try:
            evaluator_named(self.evaluator, fmax=self.fmax, max_steps=self.max_steps)
        except (ValueError, TypeError) as exc:
            raise RoundError(str(exc)) from None


def _seed_problems(chemsys: list[str], seeds: list[str], *, given_but_bad: bool) -> list[str]:
    """Across fields: each chemical system must parse, and a round needs seeds to start from."""
    from ..generating import parse_chemsys

    found = []
    for system in chemsys:
        try:
            parse_chemsys(system)
        except ValueError as exc:
            found.append(str(exc))
    if not chemsys and not seeds and not given_but_bad:
        found.append("give chemical systems or seed material ids")
    return found


def validate_config(raw: object) -> dict:
    """The full configuration (defaults filled in) as a round stores it; a RoundError names each bad field."""
    return RoundConfig.from_dict(raw).as_dict()


DEFAULTS: dict = RoundConfig().as_dict()  # every setting's default, by name
