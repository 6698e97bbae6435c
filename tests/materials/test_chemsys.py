"""Chemical systems, subsystems and query-formula tokens (``materials.chemsys``), without a database; and the one
definition of each reaching the REST API, the hull engine and the discovery generators."""

from __future__ import annotations

import itertools

import pytest
from pymatgen.core import Composition

from discovery.generating import parse_chemsys as generation_chemsys
from discovery.generation.candidates import GenerationError
from hullapi.engine import affected_chemsys
from materials.chemsys import (
    ChemsysError,
    chemsys_elements,
    chemsys_parts,
    formula_tokens,
    normalise_chemsys,
    subsystems,
    subsystems_of,
)
from materials.science import hull_completeness


def test_it_reads_a_system_in_any_order_as_sorted_distinct_elements():
    assert chemsys_elements("O-Li-Fe") == ["Fe", "Li", "O"]
    assert chemsys_elements(" Li - O ") == ["Li", "O"]
    assert chemsys_elements("Li-O-Li") == ["Li", "O"]
    assert chemsys_elements("Fe") == ["Fe"]
    assert normalise_chemsys("P-O-Li-Fe") == "Fe-Li-O-P"
    # the stored form is what pymatgen writes for a composition
    assert normalise_chemsys("O-P-Li-Fe") == Composition("LiFePO4").chemical_system


@pytest.mark.parametrize("text, fragment", [
    ("Li-Qq", "has unknown element(s): Qq"),
    ("Xx-O-Yy-Xx", "has unknown element(s): Xx, Yy"),
    ("li-o", "has unknown element(s): li, o"),
    ("Li--O", "malformed chemical system 'Li--O'; write it like Li-Fe-O"),
    ("-Li", "malformed chemical system '-Li'"),
    ("Li,Fe,O", "malformed chemical system 'Li,Fe,O'"),
    ("Li-*-O", "malformed chemical system 'Li-*-O'"),
    ("Li2-O", "malformed chemical system"),
    ("", "empty chemical system"),
    ("  ", "empty chemical system"),
])
def test_it_names_what_is_wrong_with_a_system(text, fragment):
    with pytest.raises(ChemsysError) as caught:
        chemsys_elements(text)
    assert fragment in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_it_shortens_a_long_bad_value_in_the_message():
    with pytest.raises(ChemsysError) as caught:
        chemsys_elements("Li-" + "Q" * 500)
    assert len(str(caught.value)) < 200


def test_it_keeps_wildcards_only_where_asked_in_the_order_written():
    assert chemsys_parts("Li-*-O", wildcards=True) == ["Li", "*", "O"]
    assert chemsys_parts("*-*", wildcards=True) == ["*", "*"]
    with pytest.raises(ChemsysError, match="unknown element"):
        chemsys_parts("Qq-*", wildcards=True)
    with pytest.raises(ChemsysError, match="Li-\\*-O"):  # the hint shows the wildcard form
        chemsys_parts("Li-**", wildcards=True)


def test_a_system_of_three_elements_has_seven_subsystems_smallest_first():
    assert subsystems_of("O-Li-Fe") == ["Fe", "Li", "O", "Fe-Li", "Fe-O", "Li-O", "Fe-Li-O"]
    assert subsystems_of(("O", "Li", "Fe")) == subsystems_of("Fe-Li-O")
    assert subsystems_of("Fe-Li-O", sizes=(2,)) == ["Fe-Li", "Fe-O", "Li-O"]
    assert subsystems_of("Li", sizes=(2,)) == []


@pytest.mark.parametrize("n", range(1, 7))
def test_a_system_of_n_elements_has_two_to_the_n_minus_one_subsystems(n):
    elements = ["Ba", "Ca", "Fe", "Li", "O", "P"][:n]
    found = subsystems_of("-".join(reversed(elements)))
    assert len(found) == len(set(found)) == 2**n - 1
    assert all(normalise_chemsys(s) == s for s in found)  # every one as stored


def test_the_subsystems_of_several_systems_are_their_union():
    assert subsystems(["Li-O", "O-Fe"]) == {"Li", "O", "Fe", "Li-O", "Fe-O"}
    assert subsystems([]) == set()
    with pytest.raises(ChemsysError, match="Qq"):
        subsystems(["Li-O", "Li-Qq"])
    with pytest.raises(ChemsysError, match="Qq"):
        subsystems_of(["Li", "Qq"])


def test_it_tokenises_anonymous_and_wildcard_formulas_and_rejects_the_rest():
    assert formula_tokens("Si*O3") == [("Si", ""), ("*", ""), ("O", "3")]
    assert formula_tokens("ABC3") == [("A", ""), ("B", ""), ("C", "3")]
    assert formula_tokens("Li0.5CoO2") == [("Li", "0.5"), ("Co", ""), ("O", "2")]
    for bad in ("Li2O)", "(LiO)2", "Li2 O", "li2O", ""):
        with pytest.raises(ChemsysError, match="malformed formula"):
            formula_tokens(bad)


def test_the_engine_the_completeness_and_the_generators_read_systems_alike():
    assert affected_chemsys(["O-Li"], ["Li-O-P", "Fe-O", "O-Li"]) == {"Li-O", "Li-O-P"}
    with pytest.raises(ValueError, match="unknown element\\(s\\): Qq"):
        affected_chemsys(["Li-Qq"], [])
    completeness = hull_completeness("Se-O-Li", covered={"Li-O"})
    assert completeness == {"binaries": 3, "covered": 1, "missing": ["Li-Se", "O-Se"], "complete": False}
    with pytest.raises(ValueError, match="unknown element\\(s\\): Qq"):
        hull_completeness("Li-Qq", covered=())
    assert generation_chemsys("S-P-Li") == ["Li", "P", "S"]
    with pytest.raises(GenerationError, match="unknown element\\(s\\): Xx"):
        generation_chemsys("Li-Xx")


def test_every_pair_order_gives_the_same_system():
    for order in itertools.permutations(["Mn", "Li", "O"]):
        assert normalise_chemsys("-".join(order)) == "Li-Mn-O"
