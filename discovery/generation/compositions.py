"""Compositions under GNoME's relaxed oxidation-state rule, and their enumeration. Pure.

Strict oxidation-state balance (SMACT's states, integer charges summing to zero) forbids real compounds such as
Li15Si4, so GNoME relaxes it in two ways: metals and metalloids may also take 0 (their metallic form), and up to
two elements may sit strictly between two adjacent allowed states (a fractional, mixed-valence state). A
composition is admitted when some assignment of that kind is charge neutral. On SMACT's states alone, Li15Si4
passes through the second relaxation: Li at +1 and Si at -15/4, between Si's -4 and -3. With the metallic 0 it
also passes as an alloy (all charges 0); so does every composition of metals and metalloids only, which is what
admitting metallic forms means (intermetallics are a large part of GNoME's stable materials).

Allowed states. ``smact.Element.oxidation_states_icsd24``: the states reported more than five times in the 2024
ICSD (SMACT 4's default ``oxidation_states``). That is the "common" list in the sense that matters here: states
that occur in real crystals, without the rare ones of SMACT's hand-compiled 2014 list (every state ever seen,
``oxidation_states_smact14``). SMACT's single most common state per element (``oxidation_states_icsd24_common``
data file) is not used: it is no Element attribute, and with one state per element (Si: +4 only) no interval
would hold Li15Si4's -3.75. Metals and metalloids (pymatgen ``is_metal`` or ``is_metalloid``: Si, Ge, As, Sb,
Te, B ...) also get 0 unless ``metallic_zero=False``.
"""

from __future__ import annotations

import itertools
import json
import math
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import cache, lru_cache
from pathlib import Path

from pymatgen.core import Composition, Element

from .candidates import GenerationError

DEFAULT_MAX_ATOMS = 20  # atoms per reduced formula unit: GNoME's bound is not published, so it is an option

CompositionLike = Composition | str | Mapping[str, float]


@dataclass(frozen=True)
class ChargeAssignment:
    """Why a composition is admitted: a charge-neutral choice of oxidation states.

    ``assignment`` maps each element to an allowed state (int) or to the two adjacent allowed states it lies
    strictly between (``(low, high)``); ``states`` is one concrete neutral choice (exact fractions), with a point
    inside each interval.
    """

    assignment: dict[str, int | tuple[int, int]]
    states: dict[str, Fraction]

    @property
    def between(self) -> tuple[str, ...]:
        """The elements at fractional states (between two adjacent allowed states)."""
        return tuple(symbol for symbol, value in self.assignment.items() if isinstance(value, tuple))


@cache
def allowed_states(symbol: str, metallic_zero: bool = True) -> tuple[int, ...]:
    """The sorted allowed oxidation states of an element: SMACT's ICSD-2024 states, plus 0 for metals and
    metalloids when ``metallic_zero``. Empty for elements SMACT knows no state of (noble gases, Pm, At, Rn, Fr,
    Ra, Es and heavier) unless they are metals."""
    element = _element(symbol)
    import smact

    try:
        states = set(smact.Element(symbol).oxidation_states_icsd24 or ())
    except (KeyError, NameError) as exc:
        raise GenerationError(f"SMACT has no data for element {symbol!r}") from exc
    if metallic_zero and (element.is_metal or element.is_metalloid):
        states.add(0)
    return tuple(sorted(states))


def charge_assignment(composition: CompositionLike, *, max_between: int = 2,
                      metallic_zero: bool = True) -> ChargeAssignment | None:
    """A charge-neutral assignment that admits ``composition`` under the relaxed rule, or None if there is none.

    ``max_between=0, metallic_zero=False`` is strict balance on SMACT's states. Of the admitting assignments,
    one with the fewest fractional elements is returned, and among those the most conventional: each fixed state
    scores its rank in the element's ICSD-2024 report counts (0 for the most reported), each interval the rank
    of its better end, lowest total first (ties: first found). So Li3PS4 is explained as Li+ P5+ S2-, and
    Li15Si4 on SMACT's states alone as Li+ with Si between -4 and -3.
    """
    counts = _integer_counts(composition)
    solutions = _solutions(tuple(counts), tuple(counts.values()), _checked_max_between(max_between), metallic_zero)
    first = next(solutions, None)
    if first is None:
        return None
    fewest = first[0]
    best = min(itertools.chain([first], itertools.takewhile(lambda found: found[0] == fewest, solutions)),
               key=lambda found: found[1])
    return _explained(best[2], best[3], counts)


def is_admitted(composition: CompositionLike, *, max_between: int = 2, metallic_zero: bool = True) -> bool:
    """Whether ``composition`` passes the relaxed oxidation-state rule (see ``charge_assignment``)."""
    counts = _integer_counts(composition)
    solutions = _solutions(tuple(counts), tuple(counts.values()), _checked_max_between(max_between), metallic_zero)
    return next(solutions, None) is not None


def enumerate_compositions(elements: Iterable[str], *, max_atoms: int = DEFAULT_MAX_ATOMS,
                           min_elements: int | None = None, max_between: int = 2,
                           metallic_zero: bool = True) -> Iterator[Composition]:
    """The reduced compositions of ``elements`` that the relaxed rule admits, streamed in a fixed order.

    Each has integer amounts with gcd 1 and at most ``max_atoms`` atoms. Every given element is present, unless
    ``min_elements`` is given: then every subset of at least that many elements is enumerated. Order: by number
    of elements, then subsets in atomic-number order, then by atoms per formula unit, then amounts
    lexicographically (in atomic-number order of the elements).
    """
    symbols = _checked_symbols(elements)
    if not isinstance(max_atoms, int) or max_atoms < 1:
        raise GenerationError(f"max_atoms must be a positive integer, not {max_atoms!r}")
    smallest = len(symbols) if min_elements is None else min_elements
    if not isinstance(smallest, int) or not 1 <= smallest <= len(symbols):
        raise GenerationError(f"min_elements must be between 1 and {len(symbols)} (the number of elements given), "
                              f"not {min_elements!r}")
    return _enumerated(symbols, max_atoms, smallest, _checked_max_between(max_between), metallic_zero)


def _enumerated(symbols: list[str], max_atoms: int, smallest: int, max_between: int,
                metallic_zero: bool) -> Iterator[Composition]:
    """The enumeration itself, after the arguments were checked (so bad ones fail at the call, not later)."""
    for size in range(smallest, len(symbols) + 1):
        for subset in itertools.combinations(symbols, size):
            for total in range(size, max_atoms + 1):
                for amounts in _positive_splits(total, size):
                    if math.gcd(*amounts) == 1 and next(_solutions(subset, amounts, max_between, metallic_zero),
                                                        None) is not None:
                        yield Composition(dict(zip(subset, amounts, strict=True)))


Solution = tuple[int, int, dict[str, int], dict[str, tuple[int, int]]]  # (fractional count, score, fixed, between)


def _solutions(symbols: tuple[str, ...], counts: tuple[int, ...], max_between: int,
               metallic_zero: bool) -> Iterator[Solution]:
    """The admitting assignments of integer ``counts`` of ``symbols``, fewest fractional elements first.

    Interval feasibility: with a set B of fractional elements, each between adjacent states (a_j, b_j), and the
    others fixed with charge sum F, neutrality is possible exactly when -F lies in the open interval
    (sum n_j a_j, sum n_j b_j) (F == 0 when B is empty). The achievable F of each complement come from one
    sum-set, bisected per choice of intervals. Per set B and intervals, each feasible F is yielded once, with
    the best-scoring fixed states that reach it.
    """
    count_of = dict(zip(symbols, counts, strict=True))
    for k in range(min(max_between, len(symbols)) + 1):
        for between in itertools.combinations(symbols, k):
            fixed = [s for s in symbols if s not in between]
            sums = _fixed_sums([(count_of[s], _preferred_states(s, metallic_zero)) for s in fixed])
            if k == 0:
                if 0 in sums:
                    score, states = sums[0]
                    yield 0, score, dict(zip(fixed, states, strict=True)), {}
                continue
            ordered = sorted(sums)
            for intervals in itertools.product(*(_intervals(s, metallic_zero) for s in between)):
                low = sum(count_of[s] * a for s, (a, _) in zip(between, intervals, strict=True))
                high = sum(count_of[s] * b for s, (_, b) in zip(between, intervals, strict=True))
                interval_score = sum(_interval_rank(s, interval, metallic_zero)
                                     for s, interval in zip(between, intervals, strict=True))
                # fixed sums F with low < -F < high, i.e. -high < F < -low
                for total in itertools.takewhile(lambda f, low=low: f < -low, ordered[bisect_right(ordered, -high):]):
                    score, states = sums[total]
                    yield k, score + interval_score, dict(zip(fixed, states, strict=True)), dict(
                        zip(between, intervals, strict=True))


def _fixed_sums(elements: list[tuple[int, tuple[int, ...]]]) -> dict[int, tuple[int, tuple[int, ...]]]:
    """Every achievable charge sum of (count, preferred states) elements at allowed states, with the
    lowest-scoring states that reach it: sum -> (score, states)."""
    sums: dict[int, tuple[int, tuple[int, ...]]] = {0: (0, ())}
    for count, states in elements:
        grown: dict[int, tuple[int, tuple[int, ...]]] = {}
        for total, (score, chosen) in sums.items():
            for rank, state in enumerate(states):
                key = total + count * state
                if key not in grown or score + rank < grown[key][0]:
                    grown[key] = (score + rank, (*chosen, state))
        sums = grown
    return sums


@cache
def _preferred_states(symbol: str, metallic_zero: bool) -> tuple[int, ...]:
    """The allowed states, most reported in the ICSD 2024 first (SMACT's report counts; ties: lower state)."""
    counts = _icsd24_report_counts().get(symbol, {})
    return tuple(sorted(allowed_states(symbol, metallic_zero), key=lambda state: (-counts.get(state, 0), state)))


@cache
def _intervals(symbol: str, metallic_zero: bool) -> tuple[tuple[int, int], ...]:
    """Adjacent pairs of the sorted allowed states: where a fractional state may lie."""
    return tuple(itertools.pairwise(allowed_states(symbol, metallic_zero)))


def _interval_rank(symbol: str, interval: tuple[int, int], metallic_zero: bool) -> int:
    preferred = _preferred_states(symbol, metallic_zero)
    return min(preferred.index(interval[0]), preferred.index(interval[1]))


@lru_cache(maxsize=1)
def _icsd24_report_counts() -> dict[str, dict[int, int]]:
    """Element -> oxidation state -> number of ICSD 2024 reports (SMACT's data file), for ranking only."""
    import smact

    path = Path(smact.data_directory) / "oxidation_states_icsd24_counts.json"
    counts: dict[str, dict[int, int]] = {}
    for row in json.loads(path.read_text()):
        counts.setdefault(row["element"], {})[int(row["oxidation_state"])] = int(row["results_count"])
    return counts


def _explained(fixed: dict[str, int], between: dict[str, tuple[int, int]], counts: dict[str, int]) -> ChargeAssignment:
    """The assignment with concrete states: each fractional element at the same relative position t in its
    interval, t chosen for neutrality (t lies in (0, 1) because the interval test passed)."""
    states = {s: Fraction(v) for s, v in fixed.items()}
    if between:
        target = -sum(counts[s] * v for s, v in fixed.items())
        low = sum(counts[s] * a for s, (a, _) in between.items())
        high = sum(counts[s] * b for s, (_, b) in between.items())
        t = Fraction(target - low, high - low)
        states |= {s: a + t * (b - a) for s, (a, b) in between.items()}
    return ChargeAssignment({s: (fixed | between)[s] for s in counts}, {s: states[s] for s in counts})


def _positive_splits(total: int, parts: int) -> Iterator[tuple[int, ...]]:
    """Tuples of ``parts`` positive integers summing to ``total``, in lexicographic order."""
    if parts == 1:
        yield (total,)
        return
    for first in range(1, total - parts + 2):
        for rest in _positive_splits(total - first, parts - 1):
            yield (first, *rest)


def _integer_counts(composition: CompositionLike) -> dict[str, int]:
    """Element -> integer amount of a composition (oxidation-state decorations dropped), or GenerationError."""
    try:
        parsed = composition if isinstance(composition, Composition) else Composition(composition)
    except (ValueError, KeyError, TypeError) as exc:
        raise GenerationError(f"not a composition: {composition!r} ({exc})") from exc
    parsed = parsed.element_composition
    if len(parsed) == 0:
        raise GenerationError(f"empty composition: {composition!r}")
    counts = {}
    for element, amount in parsed.items():
        if amount <= 0 or abs(amount - round(amount)) > 1e-8:
            raise GenerationError(f"composition {composition!r}: amount of {element} must be a positive integer, "
                                  f"not {amount}")
        counts[element.symbol] = round(amount)
    return counts


def _element(symbol: str) -> Element:
    if not isinstance(symbol, str) or not Element.is_valid_symbol(symbol):
        raise GenerationError(f"not an element symbol: {symbol!r}")
    return Element(symbol)


def _checked_symbols(elements: Iterable[str]) -> list[str]:
    """Distinct element symbols in atomic-number order; GenerationError naming the first bad one."""
    if isinstance(elements, str):
        raise GenerationError(f"elements must be a collection of symbols, not the string {elements!r}")
    found = set()
    for symbol in elements:
        found.add(_element(symbol))
    if not found:
        raise GenerationError("no elements given")
    for element in found:
        allowed_states(element.symbol)  # elements SMACT does not know fail here, before enumeration starts
    return [element.symbol for element in sorted(found, key=lambda e: e.Z)]


def _checked_max_between(max_between: int) -> int:
    if not isinstance(max_between, int) or max_between < 0:
        raise GenerationError(f"max_between must be a non-negative integer, not {max_between!r}")
    return max_between
