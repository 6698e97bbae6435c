"""Declared request and response schemas of the predict API (``discovery.predict_api``): the views build plain dicts
(``discovery.predicting``); these describe them, with units, for ``/api/schema/``. ``tests/site/test_api_schema.py``
pins every field and checks real answers against them. Every energy is a model's (the GNN ensemble's prediction or
the evaluator's relaxation, a machine-learned potential by default); the descriptions say so."""

from __future__ import annotations

from rest_framework import serializers as s

from hullapi.api_schemas import DecompositionProduct
from materials.api_schemas import (
    HullCompleteness,
    PymatgenStructure,
    SimilarMaterial,
    _flag,
    _integer,
    _number,
    _text,
)

from .structure_input import FORMATS, MAX_BYTES, MAX_SITES

__all__ = ["PredictAnswer", "PredictRelaxJobAnswer", "PredictRequest"]


class PredictRequest(s.Serializer):
    structure = _text(f"The crystal as text: CIF, POSCAR, extended XYZ or pymatgen JSON; ordered, at most {MAX_SITES} "
                      f"sites and {MAX_BYTES} bytes (count)")
    format = s.ChoiceField(choices=FORMATS, required=False,
                           help_text="Format of the text; detected when left out and the text is unambiguous")


class PredictInput(s.Serializer):
    format = _text("Format the text was read as: cif, poscar, extxyz or json")
    format_detected = _flag("Whether the format was detected (not given)")
    formula = _text("Reduced formula, e.g. LiMnO2")
    composition = _text("Cell formula with counts, e.g. 'Li4 Mn4 O8'")
    chemsys = _text("Chemical system: sorted elements joined by '-'")
    nsites = _integer("Sites in the cell (count)")
    volume_a3 = _number("Cell volume (Å³)")


class PredictModel(s.Serializer):
    name = _text("Which ensemble: the active checkpoint discovery rounds screen with, else the released one")
    version = _text("Its version: the model card's release and a digest of the member files, or the checkpoint id")
    checkpoint_id = _integer("Checkpoint of the ensemble (id); null for the released one", allow_null=True)
    members = _integer("Models in the ensemble (count)")
    energy_scale = _text("What the predicted energy is measured against (a learned scale, not a calculation)")
    dft_test_mae_ev_per_atom = _number("The ensemble's mean absolute error on its held-out test crystals against "
                                       "their DFT formation energies (eV/atom)")


class PredictedEnergy(s.Serializer):
    e_form_ev_per_atom = _number("Predicted formation energy: the median of the ensemble (eV/atom; machine-learned, "
                                 "not DFT)")
    iqr_ev_per_atom = _number("Spread of the members' predictions: interquartile range (eV/atom)")
    members_ev_per_atom = s.ListField(child=s.FloatField(), help_text="Each member's prediction (eV/atom)")
    tta = _flag("Whether test-time augmentation was used (each member's minimum over scaled cells), as in screening")
    tta_volumes = _integer("Scaled cells per member with TTA (count); null without", allow_null=True)
    method = _text("What made the number: the GNN ensemble (a machine-learned prediction)")
    model = PredictModel(help_text="The ensemble and its version")
    seconds = _number("Time spent predicting (s)")


class PredictedStability(s.Serializer):
    hull_version = _integer("Hull run compared with (id)", allow_null=True)
    e_form_ev_per_atom = _number("Predicted formation energy used (eV/atom; machine-learned)")
    e_above_hull_ev_per_atom = _number("Predicted energy above the current hull (eV/atom); negative below it; the "
                                       "crystal is not added to the hull")
    is_stable = _flag("At most 5e-5 eV/atom above the hull (GNoME's tolerance)")
    decomposition = DecompositionProduct(many=True, help_text="Hull phases at this composition, with their atomic "
                                                              "fractions")
    hull_completeness = HullCompleteness(allow_null=True, help_text="How complete the hull of its system is; null "
                                                                    "for an element")


class PredictedStabilityByHull(s.Serializer):
    all = PredictedStability(help_text="Against the hull of every phase (GNoME, Materials Project, discoveries)")
    mp = PredictedStability(help_text="Against the hull of the Materials Project phases only")


class PredictMaterialLink(s.Serializer):
    material_id = _text("Our material id")
    formula = _text("Reduced formula")
    source = _text("gnome, mp, discovery, upload or scale")
    url = _text("The material's REST record")


class PredictKnownMatch(s.Serializer):
    is_known = _flag("Whether the catalogue holds this crystal")
    matches = PredictMaterialLink(many=True, help_text="Catalogue crystals StructureMatcher finds equal to it")
    compared = _integer("Catalogue crystals of the same formula compared (count)")
    method = _text("How they were compared (tolerances: fractions of the lattice, Å-normalised, degrees)")


class PredictSimilarMaterial(SimilarMaterial):
    url = _text("The material's REST record")


class PredictDoc(s.Serializer):
    input = PredictInput(help_text="The crystal as read")
    prediction = PredictedEnergy(help_text="The ensemble's predicted formation energy (machine-learned, not DFT)")
    stability = PredictedStabilityByHull(help_text="Where the predicted energy puts it on both hulls")
    known = PredictKnownMatch(help_text="Whether the catalogue already holds this structure")
    similar = PredictSimilarMaterial(many=True, help_text="Nearest known structures by fingerprint, nearest first")


class PredictMeta(s.Serializer):
    api_version = _text("Version of the API")
    seconds = _number("Time to answer (s)")


class PredictAnswer(s.Serializer):
    data = PredictDoc(help_text="The answer")
    meta = PredictMeta(help_text="About the answer")


class PredictRelaxResult(s.Serializer):
    method = _text("The evaluator's method, e.g. 'CHGNet 0.3.0 relax (FIRE, fmax 0.05 eV/Å, ...)'")
    kind = _text("What the evaluator is: a machine-learned potential (not DFT) unless it says DFT")
    energy_ev = _number("Corrected total energy of the relaxed cell on the hull's scale (eV)")
    energy_ev_per_atom = _number("The same per atom (eV/atom)")
    energy_raw_ev = _number("The evaluator's own total energy before any correction (eV)")
    correction = _text("Correction applied to put it on the hull's scale")
    e_form_ev_per_atom = _number("Formation energy of the relaxed cell (eV/atom)")
    converged = _flag("Whether the relaxation reached the force threshold")
    steps = _integer("Optimiser steps taken (count)")
    seconds = _number("Time the relaxation took (s)")
    volume_change = _number("Relaxed over uploaded cell volume, minus 1 (fraction)")
    stability = PredictedStabilityByHull(help_text="Where the relaxed energy puts it on both hulls")
    relaxed_structure = PymatgenStructure(help_text="The relaxed crystal (pymatgen Structure.as_dict())")


class PredictRelaxJob(s.Serializer):
    id = _integer("Relaxation job (id)")
    status = _text("queued, running, succeeded or failed")
    formula = _text("Reduced formula of the crystal")
    nsites = _integer("Sites in the cell (count)")
    evaluator = _text("The evaluator (its method once it ran)")
    created_at = s.DateTimeField(help_text="When it was asked for (ISO 8601)")
    started_at = s.DateTimeField(help_text="When it started (ISO 8601)", allow_null=True)
    finished_at = s.DateTimeField(help_text="When it finished (ISO 8601)", allow_null=True)
    error = _text("Why it failed, if it did", allow_null=True)
    result = PredictRelaxResult(allow_null=True, help_text="The relaxed energy and hull placement; null until it succeeds")
    url = _text("Where to poll it")


class PredictRelaxJobAnswer(s.Serializer):
    data = PredictRelaxJob(help_text="The job")

