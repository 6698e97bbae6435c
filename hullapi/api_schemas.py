"""Declared response schemas of the hull and screens APIs (see ``materials.api_schemas``: the views build plain
dicts; these describe them, with units, for ``/api/schema/``; ``tests/site/test_api_schema.py`` pins them)."""

from __future__ import annotations

from rest_framework import serializers as s

from materials.api_schemas import ScreenStageResult, _flag, _free, _integer, _number, _text, _texts

__all__ = [
    "HullDetailAnswer", "HullFigureAnswer", "ScreenDetailAnswer", "ScreenListAnswer", "ScreenMaterialAnswer",
    "ScreenPreviewAnswer", "ScreenResultsAnswer", "StabilityAnswer", "StabilityRequest",
]


class DecompositionProduct(s.Serializer):
    material_id = _text("Id of the product; ref:<El> for a bare elemental reference")
    formula = _text("Reduced formula of the product", allow_blank=True)
    fraction = _number("Atomic fraction of the product (0 to 1)")


class HullPhase(s.Serializer):
    material_id = _text("Our material id")
    formula = _text("Reduced formula")
    source = _text("gnome, mp, discovery, upload or scale")
    licence = _text("Licence of the record (SPDX id)")
    is_member = _flag("Whether it builds this hull (otherwise it is placed against it)")
    energy_method = _text("Method of the energy (DFT unless it names a model)", allow_blank=True)
    e_form_ev_per_atom = _number("Formation energy (eV/atom)")
    e_above_hull_ev_per_atom = _number("Energy above the hull (eV/atom); negative for a non-member below it")
    is_stable = _flag("At most 5e-5 eV/atom above the hull")
    phase_separation_ev_per_atom = _number("Stable members: energy relative to the hull without it (eV/atom)")
    decomposition = DecompositionProduct(many=True, help_text="Products on the hull")
    published_e_above_hull_ev_per_atom = _number("The dataset's own value (eV/atom)")
    published_column = _text("Column of the published value", allow_blank=True)
    disagrees_with_published = _flag("Published value more than 25 meV/atom from ours")
    note = _text("Why it is not placed, if it is not", allow_blank=True)
    fractions = s.ListField(child=s.FloatField(), help_text="Atomic fraction of each element of the system (0 to 1), "
                                                            "in the order of 'elements'")


class SystemCompleteness(s.Serializer):
    binary_systems_without_phases = _texts("Binary subsystems with no compound among the hull's phases")
    note = _text("What an incomplete hull means", allow_blank=True)


class HullDetailAnswer(s.Serializer):
    chemsys = _text("The chemical system, sorted")
    hull = _text("Hull set: all or mp")
    hull_version = _integer("Hull run these values come from (id)", allow_null=True)
    energies = _text("What the energies are")
    elements = _texts("Elements of the system, sorted")
    stable = _texts("Ids of the stable members")
    entries = HullPhase(many=True, help_text="Every phase of the system and its subsystems, lowest above hull first")
    completeness = SystemCompleteness(help_text="Which binaries hold no phase")
    figure = _text("URL of the plotly figure; null above 4 elements", allow_null=True)


class HullFigureAnswer(s.Serializer):
    data = s.ListField(child=s.JSONField(), help_text="plotly traces (compositions as fractions, energies in eV/atom)")
    layout = _free("plotly layout (axes, title, annotations)")


class StabilityEntry(s.Serializer):
    formula = _text("Formula of the hypothetical entry")
    energy_ev = _number("Corrected total energy of the formula as written, MP2020 scale (eV); give this or "
                        "energy_ev_per_atom", required=False)
    energy_ev_per_atom = _number("Corrected total energy per atom, MP2020 scale (eV/atom)", required=False)


class StabilityRequest(s.Serializer):
    hull = _text("Hull set: all (default) or mp", required=False)
    entries = StabilityEntry(many=True, help_text="At most 1000 entries of at most 10 elements each")


class StabilityResult(s.Serializer):
    formula = _text("The formula as given")
    chemsys = _text("Its chemical system")
    e_form_ev_per_atom = _number("Formation energy (eV/atom)")
    e_above_hull_ev_per_atom = _number("Energy above the current hull (eV/atom); negative below it")
    is_stable = _flag("At most 5e-5 eV/atom above the hull")
    decomposition = DecompositionProduct(many=True, help_text="Products on the hull")


class StabilityAnswer(s.Serializer):
    hull = _text("Hull set: all or mp")
    hull_version = _integer("Hull run compared with (id)", allow_null=True)
    energies = _text("What the energies are")
    results = StabilityResult(many=True, help_text="One result per entry, in order")


# ---- screens -------------------------------------------------------------------------------------------

class StageDescription(s.Serializer):
    name = _text("Stage name")
    description = _text("What the stage tests, with its thresholds")


class StageCount(s.Serializer):
    name = _text("Stage name")
    description = _text("What the stage tests")
    input = _integer("Materials reaching the stage (count)")
    passed = _integer("Materials passing it (count)")
    failed = _integer("Materials failing it (count)")
    unknown = _integer("Materials it cannot judge, passed on as unknown (count)")
    output = _integer("Materials going on: passed + unknown (count)")


class ScreenSummary(s.Serializer):
    candidates = _integer("Materials passing every stage (count)")
    passed_with_unknowns = _integer("Materials passing with at least one unknown (count)")
    candidates_by_source = s.DictField(child=s.IntegerField(), help_text="Candidates by source (count)")
    passed_with_unknowns_by_source = s.DictField(child=s.IntegerField(), help_text="Passed with unknowns by source "
                                                                                   "(count)")


class ScreenRunDoc(s.Serializer):
    id = _integer("Screen run (id)")
    criteria = _free("Criteria of the run (thresholds in eV/atom, V and fractions, as in default_criteria)")
    stages = StageCount(many=True, help_text="Count at every stage")
    summary = ScreenSummary(help_text="Outcome counts")
    hull_version = _integer("Hull run the stabilities came from (id)", allow_null=True)
    finished_at = s.DateTimeField(help_text="When the run finished (ISO 8601)", allow_null=True)
    seconds = _number("Run time (s)")


class ScreenDescription(s.Serializer):
    name = _text("Screen name")
    title = _text("What the screen looks for")
    default_criteria = _free("Default thresholds: max_e_above_hull (eV/atom), min_li_fraction (fraction), "
                             "min_band_gap_ev (eV), max_reduction_v and min_oxidation_v (V vs Li/Li+), flags")
    stages = StageDescription(many=True, help_text="The funnel's stages in order")
    latest_run = ScreenRunDoc(allow_null=True, help_text="The latest finished run; null before the first")


class ScreenListAnswer(s.Serializer):
    data = ScreenDescription(many=True, help_text="Every screen")


class ScreenDetailAnswer(s.Serializer):
    data = ScreenDescription(help_text="The screen")


class ScreenResultRow(s.Serializer):
    material_id = _text("Our material id")
    formula_pretty = _text("Reduced formula")
    source = _text("gnome, mp, discovery, upload or scale")
    failed_stage = _text("First stage failed", allow_blank=True)
    stages = ScreenStageResult(many=True, help_text="Every stage reached, with its result and reason")


class ScreenResultsMeta(s.Serializer):
    run = _integer("Screen run (id)")
    outcome = _text("candidate, unknown or failed")
    total_doc = _integer("Materials with this outcome (count)")
    page = _integer("Page number (from 1)")
    per_page = _integer("Results per page (count)")


class ScreenResultsAnswer(s.Serializer):
    data = ScreenResultRow(many=True, help_text="The page of materials")
    meta = ScreenResultsMeta(help_text="Counts and paging")


class ScreenMaterialDoc(s.Serializer):
    material_id = _text("Our material id")
    screen = _text("Screen name")
    run = _integer("Screen run (id)")
    outcome = _text("candidate, unknown or failed")
    failed_stage = _text("First stage failed", allow_blank=True)
    stages = ScreenStageResult(many=True, help_text="Every stage reached")


class ScreenMaterialAnswer(s.Serializer):
    data = ScreenMaterialDoc(help_text="How the material fares in the latest run")


class ScreenPreviewDoc(s.Serializer):
    screen = _text("Screen name")
    criteria = _free("The criteria applied (units as default_criteria)")
    stages = StageCount(many=True, help_text="Count at every stage under these criteria")
    summary = ScreenSummary(help_text="Outcome counts")


class ScreenPreviewAnswer(s.Serializer):
    data = ScreenPreviewDoc(help_text="The funnel under the given criteria (nothing stored)")

