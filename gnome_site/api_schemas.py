"""Declared response schemas of the discovery API (rounds, candidates, conductivity), attached from here.

``discovery/api.py`` builds its answers as plain dicts; drf-spectacular's view extensions give those views
these schemas for ``/api/schema/`` without touching the views (``target_class`` names them, so nothing here
imports ``discovery``). ``tests/site/test_api_schema.py`` pins every field and checks real answers against
these declarations. Energies of candidates are the GNN ensemble's and the evaluator's (a machine-learned
potential by default): none is DFT, and the field descriptions say so.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers as s

from materials.api_schemas import _flag, _free, _integer, _number, _text

__all__ = ["CandidatePage", "ConductivityAnswer", "RoundAnswer", "RoundListAnswer"]


class RoundSummary(s.Serializer):
    id = _integer("Round (id)")
    name = _text("Name given when it was started", allow_blank=True)
    status = _text("pending, running, succeeded, failed or cancelled")
    stage = _text("Latest stage reached: created, generated, screened, selected, evaluated, ingested, hull, measured, "
                  "retrained")
    progress = _text("What the current stage is doing", allow_blank=True)
    counts = s.DictField(child=s.JSONField(), help_text="Counts per stage: generated, screened, selected, evaluated, "
                                                        "stable, ... (count)")
    hit_rate = _number("Stable among the evaluated filtered candidates (fraction, 0 to 1)")
    prevalence = _number("Stable among the evaluated control (random) candidates (fraction, 0 to 1)")
    daf = _number("Discovery acceleration factor: hit_rate / prevalence (ratio)")
    created_at = s.DateTimeField(help_text="When it was created (ISO 8601)")
    started_at = s.DateTimeField(help_text="When it started (ISO 8601)", allow_null=True)
    finished_at = s.DateTimeField(help_text="When it finished (ISO 8601)", allow_null=True)


class RoundEnergies(s.Serializer):
    predicted = _text("What the predicted energies are (the GNN ensemble's: machine-learned)")
    evaluated = _text("What the evaluated energies are (the evaluator's relaxation: a machine-learned potential, not "
                      "DFT, unless it says otherwise)")


class RoundDetail(RoundSummary):
    config = _free("Settings of the round (discovery.rounds.DEFAULTS: thresholds in eV/atom, counts, evaluator)")
    metrics = _free("Hit rates, prevalence, DAF (fractions and ratios) overall and by hull completeness")
    timings = s.DictField(child=s.JSONField(), help_text="Seconds spent in each stage (s)")
    error = _text("Why the round failed, if it did", allow_blank=True)
    screened_with = _text("Which GNN checkpoint screened the candidates")
    energies = RoundEnergies(help_text="What the energies are")


class RoundListAnswer(s.Serializer):
    data = RoundSummary(many=True, help_text="The latest 200 rounds, newest first")


class RoundAnswer(s.Serializer):
    data = RoundDetail(help_text="The round")


class CandidatePrediction(s.Serializer):
    e_form_ev_per_atom = _number("Predicted formation energy (eV/atom; machine-learned)")
    iqr_ev_per_atom = _number("Spread of the ensemble's predictions: interquartile range (eV/atom)")
    e_above_hull_ev_per_atom = _number("Predicted energy above the 'all' hull (eV/atom)")
    method = _text("Which model predicted it")
    error = _text("Why it could not be predicted, if it could not", allow_null=True)


class CandidateEvaluation(s.Serializer):
    status = _text("done or failed")
    method = _text("The evaluator (a machine-learned potential unless it names DFT)", allow_blank=True)
    e_form_ev_per_atom = _number("Evaluated formation energy (eV/atom)")
    e_above_hull_ev_per_atom = _number("Evaluated energy above the 'all' hull (eV/atom)")
    is_stable = _flag("At most 5e-5 eV/atom above the hull after evaluation", allow_null=True)
    material_id = _text("Material it became (gnx-<hex>), if ingested", allow_null=True)
    detail = _free("Evaluator details: steps, convergence, relaxed volume (Å³), ...")


class CandidateDoc(s.Serializer):
    id = _integer("Candidate (id)")
    key = _text("Hash of the structure: its identity within the round")
    formula = _text("Reduced formula")
    method = _text("Generator: substitution, swap, random structure search, ...")
    parent = _text("Seed it was made from (material id or formula)", allow_blank=True)
    detail = _free("Generator details (substitutions made, probabilities)")
    arm = _text("filtered (chosen by the GNN) or control (chosen at random); null if not chosen", allow_null=True)
    predicted = CandidatePrediction(help_text="The GNN ensemble's prediction")
    hull_completeness = _free("When it was screened: which binaries of its system held a compound on the 'all' hull "
                              "(binaries, covered: counts; missing: A-B list; complete)", allow_null=True)
    evaluated = CandidateEvaluation(allow_null=True, help_text="The evaluator's verdict; null before evaluation")


class CandidateMeta(s.Serializer):
    total = _integer("Candidates matching (count)")
    page = _integer("Page number (from 1)")
    per_page = _integer("Candidates per page (count)")


class CandidatePage(s.Serializer):
    data = CandidateDoc(many=True, help_text="The page of candidates")
    meta = CandidateMeta(help_text="Counts and paging")


class SuperionicThreshold(s.Serializer):
    log10_ms_cm = _number("Threshold on the conductivity (log10 of mS/cm)")
    temperature_k = _number("Temperature of the threshold (K)")
    source = _text("Where the threshold comes from")


class MDRun(s.Serializer):
    study = _integer("MD study (id)")
    temperature_k = _number("Temperature (K)")
    status = _text("queued, running, succeeded or failed")
    step = _integer("Steps done (count)")
    total_steps = _integer("Steps planned (count)")
    atoms = _integer("Atoms in the supercell (count)", allow_null=True)
    error = _text("Why it failed, if it did", allow_blank=True)
    wall_seconds = _number("Wall time (s)")
    method = _text("The potential (machine-learned MD, not AIMD)")
    settings = _free("Run settings: potential, time step (fs), steps, supercell, temperature (K)")
    diffusivity_cm2_s = _number("Li diffusivity (cm²/s)", required=False)
    diffusivity_std_cm2_s = _number("Its standard deviation (cm²/s)", required=False)
    conductivity_ms_cm = _number("Li-ion conductivity, Nernst-Einstein (mS/cm)", required=False)
    conductivity_std_ms_cm = _number("Its standard deviation (mS/cm)", required=False)
    time_ps = _number("Production time analysed (ps)", required=False)
    frames = _integer("Frames analysed (count)", required=False)
    msd_time_ps = s.ListField(child=s.FloatField(), required=False, help_text="Times of the MSD curve (ps)")
    msd_a2 = s.ListField(child=s.FloatField(), required=False, help_text="Li mean squared displacement (Å²)")


class Verdict(s.Serializer):
    superionic = _flag("Conductivity at 1000 K above the threshold")
    conductivity_1000k_ms_cm = _number("Conductivity at 1000 K (mS/cm)")
    study = _integer("MD study (id)")
    method = _text("The potential")


class ArrheniusFit(s.Serializer):
    study = _integer("MD study (id)")
    activation_energy_ev = _number("Activation energy (eV)", required=False)
    activation_energy_std_ev = _number("Its standard deviation (eV)", required=False)
    conductivity_300k_ms_cm = _number("Conductivity extrapolated to 300 K (mS/cm)", required=False)
    temperatures_k = s.ListField(child=s.FloatField(), required=False, help_text="Temperatures fitted (K)")
    note = _text("How the value was obtained", required=False)
    error = _text("Why no fit could be made", required=False)


class ConductivityDoc(s.Serializer):
    material_id = _text("Our material id")
    specie = _text("The diffusing species (Li)")
    superionic_threshold = SuperionicThreshold(help_text="The superionic criterion")
    runs = MDRun(many=True, help_text="Every MD run of the material")
    verdict = Verdict(allow_null=True, help_text="Superionic at 1000 K; null without a run there")
    arrhenius = ArrheniusFit(many=True, help_text="Per study with 3+ temperatures")


class ConductivityMeta(s.Serializer):
    api_version = _text("Version of this API")


class ConductivityAnswer(s.Serializer):
    data = ConductivityDoc(help_text="Ionic conductivity from machine-learned MD")
    meta = ConductivityMeta(help_text="Version")


PAGING = [OpenApiParameter("arm", str, enum=["filtered", "control", "any"]), OpenApiParameter("_page", int),
          OpenApiParameter("_per_page", int)]


def _extension(path: str, **methods) -> type:
    """A view extension giving ``path``'s methods these schemas (the served view itself is untouched)."""

    def view_replacement(self):
        return extend_schema_view(**methods)(type(self.target_class.__name__, (self.target_class,), {}))

    return type(f"{path.rsplit('.', 1)[1]}Schema", (OpenApiViewExtension,),
                {"target_class": path, "view_replacement": view_replacement})


EXTENSIONS = [
    _extension("discovery.api.RoundList",
               get=extend_schema(operation_id="discovery_rounds_list", responses={200: RoundListAnswer}),
               post=extend_schema(operation_id="discovery_rounds_create", request=OpenApiTypes.OBJECT,
                                  responses={202: RoundAnswer})),
    _extension("discovery.api.RoundDetail",
               get=extend_schema(operation_id="discovery_round_retrieve", responses={200: RoundAnswer})),
    _extension("discovery.api.RoundCandidates",
               get=extend_schema(operation_id="discovery_round_candidates", responses={200: CandidatePage},
                                 parameters=PAGING)),
    _extension("discovery.api.MaterialConductivity",
               get=extend_schema(operation_id="material_conductivity", responses={200: ConductivityAnswer})),
]
