"""Declared response schemas of the discovery API (rounds, candidates, campaigns, conductivity), attached from here.

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

__all__ = ["CampaignAnswer", "CampaignListAnswer", "CandidatePage", "ConductivityAnswer", "RoundAnswer",
           "RoundListAnswer"]


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


def _interval(help_text: str) -> s.ListField:
    return s.ListField(child=s.FloatField(), allow_null=True, help_text=help_text)


class CampaignFineTune(s.Serializer):
    checkpoint_id = _integer("Checkpoint fine-tuned after the round (id); null when it was skipped", allow_null=True)
    checkpoint = _text("Its name", allow_null=True)
    skipped = _text("Why no fine-tune ran (nothing to learn from yet); null when one ran", allow_null=True)
    candidates_trained = _integer("Evaluated candidates (structures) it was trained on (count)", allow_null=True)
    candidates_by_round = s.DictField(child=s.IntegerField(), allow_null=True,
                                      help_text="Of those, how many each discovery round evaluated (round id -> count)")
    test_mae_ev_per_atom = _number("MAE on every held-out test candidate, as it screens (eV/atom, against the "
                                   "evaluator: a machine-learned potential)")
    test_mae_ci95 = _interval("Its 95 % percentile-bootstrap interval (eV/atom)")
    test_n = _integer("Test candidates (count)", allow_null=True)
    test_tta = _flag("Whether it screens with test-time augmentation", allow_null=True)
    validation_mae_ev_per_atom = _number("Screening MAE on the validation candidates (eV/atom)")
    base_validation_mae_ev_per_atom = _number("The same of the ensemble it started from (eV/atom)")
    dft_test_mae_ev_per_atom = _number("MAE on the DFT test crystals (eV/atom)")
    activated = _flag("Whether it screens the next round")
    rule = _flag("Whether the activation rule found it better (lower validation MAE, not worse on DFT)")
    reasons = s.ListField(child=s.CharField(), help_text="The rule's reasons, with both figures")
    wall_seconds = _number("Wall time of the fine-tune (s)")


class CampaignRound(s.Serializer):
    index = _integer("Position in the campaign (1 for the first)")
    round_id = _integer("Discovery round (id)")
    status = _text("pending, running, succeeded, failed or cancelled")
    stage = _text("Latest stage reached")
    progress = _text("What it is doing", allow_blank=True)
    screened_with = _text("The GNN ensemble that screened it (machine-learned)")
    hit_rate = _number("Stable among the model's evaluated picks (fraction)")
    hit_rate_ci95 = _interval("Wilson 95 % interval (fraction)")
    stable_filtered = _integer("Stable picks (count)", allow_null=True)
    evaluated_filtered = _integer("Evaluated picks (count)", allow_null=True)
    prevalence = _number("Stable among the evaluated random control (fraction)")
    prevalence_ci95 = _interval("Wilson 95 % interval (fraction)")
    stable_control = _integer("Stable control candidates (count)", allow_null=True)
    evaluated_control = _integer("Evaluated control candidates (count)", allow_null=True)
    daf = _number("Discovery acceleration factor: hit rate / prevalence (ratio); null without a stable control")
    daf_ci95 = _interval("Katz's log 95 % interval (ratio; 0.5 added to each count when an arm has no stable one)")
    screening_mae_ev_per_atom = _number("MAE of the screening ensemble on the round's evaluated candidates, before it "
                                        "was trained on them (eV/atom)")
    screening_mae_ci95 = _interval("Its 95 % percentile-bootstrap interval (eV/atom)")
    screening_mae_n = _integer("Candidates in that MAE (count)", allow_null=True)
    new_stable = _integer("New stable materials (count)", allow_null=True)
    new_stable_complete = _integer("Of those, in systems whose binaries all held a compound (count)", allow_null=True)
    new_stable_incomplete = _integer("Of those, in systems whose hull missed a binary (count)", allow_null=True)
    complete_hulls = _free("The same arms over complete-hull candidates only", allow_null=True)
    retrained = CampaignFineTune(allow_null=True, help_text="The fine-tune after the round; null before it")


class CampaignScalingPoint(s.Serializer):
    round = _integer("The round it followed (position in the campaign)")
    training_candidates = _integer("Evaluated candidates trained on (count)")
    test_mae_ev_per_atom = _number("Test MAE on the held-out candidates (eV/atom)")
    test_mae_ci95 = _interval("Its 95 % interval (eV/atom)")
    test_n = _integer("Test candidates (count)")
    checkpoint = _text("The fine-tuned checkpoint")
    activated = _flag("Whether it screened the next round")


class CampaignDoc(s.Serializer):
    id = _integer("Campaign (id)")
    name = _text("Name", allow_blank=True)
    status = _text("pending, running, paused, succeeded, failed or cancelled")
    progress = _text("What it is doing", allow_blank=True)
    created_at = s.DateTimeField(help_text="When it was created (ISO 8601)")
    started_at = s.DateTimeField(help_text="When it started (ISO 8601)", allow_null=True)
    finished_at = s.DateTimeField(help_text="When it ended (ISO 8601)", allow_null=True)
    error = _text("Why it failed, if it did", allow_blank=True)
    created_by = _text("Who started it", allow_blank=True)
    config = _free("Its settings (discovery.campaigns.DEFAULTS; the round's under 'round')")
    rounds_planned = _integer("Rounds it will run (count)")
    rounds_done = _integer("Rounds that succeeded (count)")
    base_model = _text("The ensemble its first round screened with")
    current_model = _text("The ensemble its next round screens with")
    energies = _text("What the energies are (the evaluator's: a machine-learned potential, not DFT)")
    intervals = _text("How the 95 % intervals are computed")
    licence = _text("Licence of what it produces")
    rounds = CampaignRound(many=True, help_text="Its rounds, first first")
    scaling = CampaignScalingPoint(many=True, help_text="Test MAE against candidates trained on, one per fine-tune")


class CampaignListAnswer(s.Serializer):
    data = CampaignDoc(many=True, help_text="The latest 200 campaigns, newest first")


class CampaignAnswer(s.Serializer):
    data = CampaignDoc(help_text="The campaign")


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
    _extension("discovery.api.CampaignList",
               get=extend_schema(operation_id="discovery_campaigns_list", responses={200: CampaignListAnswer}),
               post=extend_schema(operation_id="discovery_campaigns_create", request=OpenApiTypes.OBJECT,
                                  responses={202: CampaignAnswer})),
    _extension("discovery.api.CampaignDetail",
               get=extend_schema(operation_id="discovery_campaign_retrieve", responses={200: CampaignAnswer}),
               post=extend_schema(operation_id="discovery_campaign_action", request=OpenApiTypes.OBJECT,
                                  responses={202: CampaignAnswer})),
    _extension("discovery.api.MaterialConductivity",
               get=extend_schema(operation_id="material_conductivity", responses={200: ConductivityAnswer})),
]
