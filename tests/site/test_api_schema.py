"""The OpenAPI schema declares every response: it validates, every JSON answer has named properties whose
descriptions give their units, each schema's field list is pinned (a field cannot disappear or appear unnoticed),
and real answers of every endpoint on a real slice match their declared schemas exactly."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db

JSON_TYPES = ("application/json", "application/vnd.api+json")

# Every response schema and its public fields, in order (emmet's habit: tests/test_model_fields.py). A change here
# is a change of the public API: say so in the changelog of the release.
PINNED = {
    "ArrheniusFit": (
        "study activation_energy_ev activation_energy_std_ev conductivity_300k_ms_cm temperatures_k "
        "note error"
    ),
    "CalculationRecord": (
        "method kind energy_ev energy_corrected_ev correction_ev correction_scheme "
        "e_form_ev_per_atom note"
    ),
    "CampaignAnswer": "data",
    "CampaignDoc": (
        "id name status progress created_at started_at finished_at error created_by config rounds_planned "
        "rounds_done base_model current_model energies intervals licence rounds scaling"
    ),
    "CampaignFineTune": (
        "checkpoint_id checkpoint skipped candidates_trained candidates_by_round test_mae_ev_per_atom test_mae_ci95 "
        "test_n test_tta validation_mae_ev_per_atom base_validation_mae_ev_per_atom dft_test_mae_ev_per_atom "
        "activated rule reasons wall_seconds"
    ),
    "CampaignListAnswer": "data",
    "CampaignRound": (
        "index round_id status stage progress screened_with hit_rate hit_rate_ci95 stable_filtered "
        "evaluated_filtered prevalence prevalence_ci95 stable_control evaluated_control daf daf_ci95 "
        "screening_mae_ev_per_atom screening_mae_ci95 screening_mae_n new_stable new_stable_complete "
        "new_stable_incomplete complete_hulls retrained"
    ),
    "CampaignScalingPoint": "round training_candidates test_mae_ev_per_atom test_mae_ci95 test_n checkpoint activated",
    "CandidateDoc": "id key formula method parent detail arm predicted hull_completeness evaluated",
    "CandidateEvaluation": (
        "status method e_form_ev_per_atom e_above_hull_ev_per_atom is_stable material_id "
        "detail"
    ),
    "CandidateMeta": "total page per_page",
    "CandidatePage": "data meta",
    "CandidatePrediction": "e_form_ev_per_atom iqr_ev_per_atom e_above_hull_ev_per_atom method error",
    "ConductivityAnswer": "data meta",
    "ConductivityDoc": "material_id specie superionic_threshold runs verdict arrhenius",
    "ConductivityMeta": "api_version",
    "DecompositionProduct": "material_id formula fraction",
    "HullCompleteness": "binaries covered missing complete",
    "HullDetailAnswer": "chemsys hull hull_version energies elements stable entries completeness figure",
    "HullFigureAnswer": "data layout",
    "HullPhase": (
        "material_id formula source licence is_member energy_method e_form_ev_per_atom "
        "e_above_hull_ev_per_atom is_stable phase_separation_ev_per_atom decomposition "
        "published_e_above_hull_ev_per_atom published_column disagrees_with_published note fractions"
    ),
    "MDRun": (
        "study temperature_k status step total_steps atoms error wall_seconds method settings "
        "diffusivity_cm2_s diffusivity_std_cm2_s conductivity_ms_cm conductivity_std_ms_cm time_ps frames "
        "msd_time_ps msd_a2"
    ),
    "MPComputedEntry": (
        "energy composition entry_id correction energy_adjustments parameters data structure "
        "@module @class"
    ),
    "MPCoreDoc": (
        "material_id formula_pretty formula_anonymous chemsys elements nelements nsites "
        "composition composition_reduced volume density density_atomic symmetry deprecated last_updated "
        "builder_meta warnings license source energy_method structure"
    ),
    "MPCorePage": "data meta",
    "MPDecompositionProduct": "material_id formula amount",
    "MPEmmetMeta": "emmet_version license",
    "MPEntries": "GGA_GGA+U",
    "MPHeartbeat": "db_version version access_controlled_batch_ids message",
    "MPMeta": (
        "api_version time_stamp total_doc total_doc_is_estimate max_limit skip limit hull energies "
        "licenses"
    ),
    "MPSummaryDoc": (
        "material_id database_IDs formula_pretty formula_anonymous chemsys elements nelements nsites "
        "composition composition_reduced volume density density_atomic symmetry deprecated "
        "last_updated builder_meta warnings license source energy_method energy_per_atom "
        "formation_energy_per_atom energy_above_hull is_stable equilibrium_reaction_energy_per_atom "
        "decomposes_to structure band_gap theoretical"
    ),
    "MPSummaryPage": "data meta",
    "MPSymmetry": "crystal_system symbol number point_group symprec",
    "MPThermoDoc": (
        "material_id formula_pretty formula_anonymous chemsys elements nelements nsites "
        "composition composition_reduced volume density density_atomic symmetry deprecated "
        "last_updated builder_meta warnings license source energy_method energy_per_atom "
        "formation_energy_per_atom energy_above_hull is_stable equilibrium_reaction_energy_per_atom "
        "decomposes_to thermo_id thermo_type energy_type entry_types uncorrected_energy_per_atom "
        "entries"
    ),
    "MPThermoPage": "data meta",
    "MaterialDocument": (
        "material_id mp_alias formula_pretty formula_anonymous composition chemsys elements nelements "
        "nsites volume density spacegroup_number spacegroup_symbol crystal_system point_group "
        "band_gap dimensionality formation_energy_per_atom energy_per_atom_corrected "
        "energy_method energy_note energy_above_hull is_stable decomposes_to "
        "phase_separation_energy_per_atom hull_version source license dataset"
    ),
    "MaterialRecord": (
        "material_id mp_alias formula_pretty formula_anonymous composition chemsys elements nelements "
        "nsites volume density spacegroup_number spacegroup_symbol crystal_system point_group "
        "band_gap dimensionality formation_energy_per_atom energy_per_atom_corrected energy_method "
        "energy_note energy_above_hull is_stable decomposes_to phase_separation_energy_per_atom "
        "hull_version source license dataset structure citation calculations stability "
        "judged_hull_completeness published dimensionality_method electrochemical_windows screens"
    ),
    "MaterialRecordPage": "data meta",
    "MaterialSearchPage": "data meta",
    "OptimadeEntry": "id type attributes",
    "OptimadeEntryPage": "data links meta",
    "OptimadeImplementation": "name version source_url maintainer",
    "OptimadeInfoAttributes": (
        "api_version available_api_versions formats entry_types_by_format "
        "available_endpoints is_index license available_licenses"
    ),
    "OptimadeInfoData": "type id attributes",
    "OptimadeInfoPage": "data meta",
    "OptimadeLinks": "next",
    "OptimadeLinksPage": "data meta",
    "OptimadeMeta": (
        "query api_version more_data_available time_stamp provider implementation schema "
        "data_returned data_available warnings _gnx_data_returned_is_estimate"
    ),
    "OptimadeProvider": "name description prefix homepage",
    "OptimadeQuery": "representation",
    "OptimadeSingleEntry": "data links meta",
    "OptimadeStructureAttributes": (
        "last_modified elements nelements elements_ratios "
        "chemical_formula_descriptive chemical_formula_reduced "
        "chemical_formula_anonymous dimension_types nperiodic_dimensions "
        "lattice_vectors cartesian_site_positions nsites species species_at_sites "
        "structure_features space_group_it_number _gnx_spacegroup_symbol "
        "_gnx_crystal_system _gnx_formation_energy_per_atom _gnx_energy_above_hull "
        "_gnx_is_stable _gnx_energy_method _gnx_band_gap _gnx_dimensionality "
        "_gnx_license _gnx_source"
    ),
    "OptimadeStructuresInfo": "id type description properties formats output_fields_by_format",
    "OptimadeStructuresInfoPage": "data meta",
    "OptimadeWarning": "type detail",
    "PredictAnswer": "data meta",
    "PredictDoc": "input prediction stability known similar",
    "PredictInput": "format format_detected formula composition chemsys nsites volume_a3",
    "PredictKnownMatch": "is_known matches compared method",
    "PredictMaterialLink": "material_id formula source url",
    "PredictMeta": "api_version seconds",
    "PredictModel": "name version checkpoint_id members energy_scale dft_test_mae_ev_per_atom",
    "PredictRelaxJob": "id status formula nsites evaluator created_at started_at finished_at error result url",
    "PredictRelaxJobAnswer": "data",
    "PredictRelaxResult": (
        "method kind energy_ev energy_ev_per_atom energy_raw_ev correction e_form_ev_per_atom converged steps "
        "seconds volume_change stability relaxed_structure"
    ),
    "PredictRequest": "structure format",
    "PredictSimilarMaterial": "material_id formula distance e_above_hull_ev_per_atom source url",
    "PredictedEnergy": "e_form_ev_per_atom iqr_ev_per_atom members_ev_per_atom tta tta_volumes method model seconds",
    "PredictedStability": (
        "hull_version e_form_ev_per_atom e_above_hull_ev_per_atom is_stable decomposition hull_completeness"
    ),
    "PredictedStabilityByHull": "all mp",
    "PymatgenStructure": "charge lattice properties sites @module @class",
    "RecordMeta": "api_version total_doc",
    "RoundAnswer": "data",
    "RoundDetail": (
        "id name status stage progress counts hit_rate prevalence daf created_at started_at "
        "finished_at config metrics timings error screened_with energies"
    ),
    "RoundEnergies": "predicted evaluated",
    "RoundListAnswer": "data",
    "RoundSummary": (
        "id name status stage progress counts hit_rate prevalence daf created_at started_at "
        "finished_at"
    ),
    "ScreenDescription": "name title default_criteria stages latest_run",
    "ScreenDetailAnswer": "data",
    "ScreenListAnswer": "data",
    "ScreenMaterialAnswer": "data",
    "ScreenMaterialDoc": "material_id screen run outcome failed_stage stages",
    "ScreenOutcome": "outcome failed_stage run stages",
    "ScreenPreviewAnswer": "data",
    "ScreenPreviewDoc": "screen criteria stages summary",
    "ScreenResultRow": "material_id formula_pretty source failed_stage stages",
    "ScreenResultsAnswer": "data meta",
    "ScreenResultsMeta": "run outcome total_doc page per_page",
    "ScreenRunDoc": "id criteria stages summary hull_version finished_at seconds",
    "ScreenStageResult": "stage result why",
    "ScreenSummary": "candidates passed_with_unknowns candidates_by_source passed_with_unknowns_by_source",
    "SearchMeta": (
        "api_version time_stamp total_doc total_doc_is_estimate page per_page max_page next_cursor "
        "hull energies"
    ),
    "SimilarAnswer": "data meta",
    "SimilarMaterial": "material_id formula distance e_above_hull_ev_per_atom source",
    "SimilarMeta": "api_version material_id k fingerprint",
    "StabilityAnswer": "hull hull_version energies results",
    "StabilityByHull": "all mp",
    "StabilityEntry": "formula energy_ev energy_ev_per_atom",
    "StabilityRecord": (
        "is_member energy_above_hull is_stable decomposes_to phase_separation_energy_per_atom "
        "published_energy_above_hull published_column disagrees_with_published note hull_version "
        "hull_completeness"
    ),
    "StabilityRequest": "hull entries",
    "StabilityResult": "formula chemsys e_form_ev_per_atom e_above_hull_ev_per_atom is_stable decomposition",
    "StageCount": "name description input passed failed unknown output",
    "StageDescription": "name description",
    "SuperionicThreshold": "log10_ms_cm temperature_k source",
    "SystemCompleteness": "binary_systems_without_phases note",
    "UploadAnswer": "data meta",
    "UploadFiles": "file format energy_ev method licence",
    "UploadMeta": "import_run inserted updated unchanged warnings",
    "UploadText": "structure format energy_ev method licence",
    "UploadedMaterial": "material_id file formula nsites url",
    "Verdict": "superionic conductivity_1000k_ms_cm study method",
    "WindowRecord": (
        "reduction_v oxidation_v shifted_ev_per_atom reduction_products oxidation_products note "
        "hull_version unit"
    ),
    "WindowsByHull": "all mp",
}


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    from drf_spectacular.generators import SchemaGenerator

    with django_db_blocker.unblock():
        return json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), default=str))


def resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node or ("allOf" in node and len(node["allOf"]) == 1):
        node = node["allOf"][0] if "allOf" in node else node
        if "$ref" in node:
            node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def json_responses(schema: dict):
    """(method, path, status, schema) of every JSON success response."""
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                for content_type, content in response.get("content", {}).items():
                    if status.startswith("2") and content_type in JSON_TYPES:
                        yield method, path, status, content["schema"]


def test_it_validates_without_a_warning(tmp_path):
    # drf-spectacular's own validation (the OpenAPI 3.0 JSON schema), warnings as errors
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"),
                 stdout=io.StringIO(), stderr=io.StringIO())
    assert (tmp_path / "schema.yaml").stat().st_size > 50_000


def test_every_json_answer_has_named_properties_down_to_its_documents(schema):
    seen = 0
    for method, path, status, declared in json_responses(schema):
        top = resolve(schema, declared)
        assert top.get("type") == "object" and top.get("properties"), (method, path, status)
        data = top["properties"].get("data")
        if data is not None:
            data = resolve(schema, data)
            item = resolve(schema, data["items"]) if data.get("type") == "array" and "items" in data else data
            assert item.get("properties") or path.endswith(("/links", "/figure/")), (method, path, "data")
        seen += 1
    assert seen >= 27  # every JSON operation of the REST, hull, screens, discovery, OPTIMADE and mp-api routes
    # the file downloads declare their media types
    structure = schema["paths"]["/api/v1/materials/{material_id}/structure"]["get"]["responses"]["200"]["content"]
    assert {"chemical/x-cif", "text/plain", "application/json", "chemical/x-xyz"} <= set(structure)


def test_every_field_says_what_it_is_and_every_number_its_unit(schema):
    for name, component in schema["components"]["schemas"].items():
        for field, declared in component.get("properties", {}).items():
            text = declared.get("description", "")
            assert len(text) > 3, (name, field)
            if declared.get("type") in ("number", "integer"):
                assert re.search(r"\([^)]+\)", text), (name, field, text)  # e.g. (eV/atom), (Å³), (count), (id)


def test_it_pins_the_public_fields_of_every_response(schema):
    declared = {name: " ".join(c["properties"]) for name, c in schema["components"]["schemas"].items()
                if "properties" in c}
    pinned = {name: " ".join(fields.split()) for name, fields in PINNED.items()}
    assert declared == pinned


def test_the_mp_documents_carry_only_emmet_fields_besides_licence_source_and_method(schema):
    from emmet.core.summary import SummaryDoc
    from emmet.core.thermo import ThermoDoc
    from emmet.core.vasp.material import MaterialsDoc

    ours = {"license", "source", "energy_method"}
    for component, model in (("MPSummaryDoc", SummaryDoc), ("MPCoreDoc", MaterialsDoc), ("MPThermoDoc", ThermoDoc)):
        fields = set(schema["components"]["schemas"][component]["properties"]) - ours
        assert fields <= set(model.model_fields) | {"thermo_id"}, (component, fields - set(model.model_fields))


# ---- real answers against their declared schemas ------------------------------------------------------

def strict(schema: dict, node: dict) -> dict:
    """A JSON Schema of ``node`` that also refuses undeclared fields (OpenAPI's nullable made explicit)."""
    nullable = node.get("nullable", False)
    node = resolve(schema, node)
    nullable = nullable or node.get("nullable", False)
    out = {k: v for k, v in node.items() if k not in ("nullable", "readOnly", "writeOnly", "format", "description")}
    if "properties" in out:
        out["properties"] = {k: strict(schema, v) for k, v in out["properties"].items()}
        out.setdefault("additionalProperties", False)
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = strict(schema, out["additionalProperties"])
    if "items" in out:
        out["items"] = strict(schema, out["items"])
    for key in ("oneOf", "anyOf", "allOf"):
        if key in out:
            out[key] = [strict(schema, sub) for sub in out[key]]
    return {"anyOf": [out, {"type": "null"}]} if nullable else out


def response_schema(schema: dict, path: str, method: str = "get", status: str = "200") -> dict:
    content = schema["paths"][path][method]["responses"][status]["content"]
    return strict(schema, next(c["schema"] for t, c in content.items() if t in JSON_TYPES))


@pytest.fixture
def served(catalogue, db):
    """The slice with both hulls, a screen run, an upload, a discovery round with an evaluated candidate, a campaign."""
    from discovery.models import Candidate, DiscoveryRound
    from hullapi import services
    from hullapi.models import HullSet
    from materials.models import Material

    services.recompute(HullSet.ALL)
    services.recompute(HullSet.MP)
    call_command("run_screen", "li_mn_oxides", stdout=io.StringIO(), stderr=io.StringIO())
    gnome = Material.objects.filter(source="gnome", elements__contains=["Li"]).order_by("material_id").first()
    rnd = DiscoveryRound.objects.create(name="schema", config={"evaluator": "chgnet"}, counts={"generated": 1},
                                        metrics={"hit_rate": 1.0, "prevalence": 0.5, "daf": 2.0})
    Candidate.objects.create(round=rnd, key="0123456789abcdef", method="substitution", parent=gnome.material_id,
                             formula_reduced=gnome.formula_reduced, chemsys=gnome.chemsys, nsites=gnome.nsites,
                             structure=gnome.structure, e_form_pred_ev_per_atom=-1.5, e_form_iqr_ev_per_atom=0.01,
                             e_above_hull_pred_ev_per_atom=0.02, screened=True, arm="filtered", evaluation="done",
                             evaluator="CHGNet 0.3.0 relax", energy_ev=-100.0, e_form_ev_per_atom=-1.49,
                             e_above_hull_ev_per_atom=0.01, is_stable=False, material=gnome,
                             hull_completeness={"binaries": 3, "covered": 3, "missing": [], "complete": True})
    # a campaign with one measured and fine-tuned round, and one not started
    from discovery import campaigns

    campaign = campaigns.create_campaign({"rounds": 3, "round": {"chemsys": ["Co-Li-O"]}}, name="schema")
    tuned = campaigns.catalogue_only_checkpoint()
    measured = {"hit_rate": 0.5, "hit_rate_ci95": [0.2, 0.8], "stable_filtered": 2, "evaluated_filtered": 4,
                "prevalence": 0.25, "prevalence_ci95": [0.05, 0.7], "stable_control": 1, "evaluated_control": 4,
                "daf": 2.0, "daf_ci95": [0.3, 13.0], "ensemble_mae_ev_per_atom": 0.1, "ensemble_mae_ci95": [0.05, 0.2],
                "ensemble_mae_n": 8, "new_stable": [{"material_id": gnome.material_id, "hull_completeness": {
                    "complete": True}}], "complete_hulls": {"hit_rate": 0.5},
                "retrained": {**campaigns._retrain_outcome(None), "checkpoint_id": tuned.pk, "checkpoint": tuned.name,
                              "candidates_trained": 6, "candidates_by_round": {"1": 6}, "test_mae_ev_per_atom": 0.09,
                              "test_mae_ci95": [0.08, 0.1], "test_n": 50, "test_tta": False, "activated": True,
                              "rule": True, "reasons": ["better"], "wall_seconds": 12.0}}
    DiscoveryRound.objects.create(name="schema 1", config={"evaluator": "chgnet"}, campaign=campaign,
                                  campaign_index=1, status="succeeded", stage="retrained", metrics=measured)
    DiscoveryRound.objects.create(name="schema 2", config={"evaluator": "chgnet"}, campaign=campaign,
                                  campaign_index=2)
    return {"gnome": gnome, "mp": Material.objects.filter(source="mp", chemsys="Li-O").first(), "round": rnd,
            "campaign": campaign}


def test_real_answers_match_their_declared_schemas_exactly(schema, served, client, admin_client, monkeypatch):
    from jsonschema import Draft7Validator
    from pymatgen.core import Lattice, Structure
    from rest_framework.throttling import AnonRateThrottle

    from materials.mp_ids import mp_alias

    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "100000/min"})
    gnome, mp, rnd = served["gnome"], served["mp"], served["round"]
    gets = [
        ("/api/v1/materials/", "/api/v1/materials/", {"chemsys": "Co-Li-O", "_all_fields": "true"}),
        ("/api/v1/materials/", "/api/v1/materials/", {"elements": "Li", "_per_page": 3}),
        ("/api/v1/materials/{material_id}/", f"/api/v1/materials/{gnome.material_id}/", {}),
        ("/api/v1/materials/{material_id}/", f"/api/v1/materials/{mp.material_id}/", {}),
        ("/api/v1/materials/{material_id}/conductivity/", f"/api/v1/materials/{gnome.material_id}/conductivity/", {}),
        ("/api/v1/materials/{material_id}/similar/", f"/api/v1/materials/{gnome.material_id}/similar/", {"k": 3}),
        ("/api/v1/materials/{material_id}/similar/", f"/api/v1/materials/{mp.material_id}/similar/", {}),
        ("/api/v1/hull/{chemsys}/", "/api/v1/hull/Li-Mn-O/", {}),
        ("/api/v1/hull/{chemsys}/", "/api/v1/hull/Co-Li-O/", {"hull": "mp"}),
        ("/api/v1/hull/{chemsys}/figure/", "/api/v1/hull/Li-Mn-O/figure/", {}),
        ("/api/v1/screens/", "/api/v1/screens/", {}),
        ("/api/v1/screens/{name}/", "/api/v1/screens/li_mn_oxides/", {}),
        ("/api/v1/screens/{name}/results", "/api/v1/screens/li_mn_oxides/results", {"outcome": "candidate"}),
        ("/api/v1/screens/{name}/results", "/api/v1/screens/li_mn_oxides/results", {"outcome": "failed"}),
        ("/api/v1/screens/{name}/materials/{material_id}",
         f"/api/v1/screens/li_mn_oxides/materials/{gnome.material_id}", {}),
        ("/api/v1/screens/{name}/preview", "/api/v1/screens/li_mn_oxides/preview", {"max_e_above_hull": "0.05"}),
        ("/api/v1/discovery/rounds/", "/api/v1/discovery/rounds/", {}),
        ("/api/v1/discovery/rounds/{id}/", f"/api/v1/discovery/rounds/{rnd.pk}/", {}),
        ("/api/v1/discovery/rounds/{id}/candidates", f"/api/v1/discovery/rounds/{rnd.pk}/candidates", {"arm": "any"}),
        ("/api/v1/discovery/campaigns/", "/api/v1/discovery/campaigns/", {}),
        ("/api/v1/discovery/campaigns/{id}/", f"/api/v1/discovery/campaigns/{served['campaign'].pk}/", {}),
        ("/optimade/v1/info", "/optimade/v1/info", {}),
        ("/optimade/v1/info/structures", "/optimade/v1/info/structures", {}),
        ("/optimade/v1/links", "/optimade/v1/links", {}),
        ("/optimade/v1/structures", "/optimade/v1/structures", {"page_limit": 3}),
        ("/optimade/v1/structures", "/optimade/v1/structures", {"filter": 'elements HAS "Li"', "page_limit": 2,
                                                                 "response_fields": "nsites,_gnx_energy_above_hull"}),
        ("/optimade/v1/structures/{entry_id}", f"/optimade/v1/structures/{gnome.material_id}", {}),
        ("/api/mp/heartbeat", "/api/mp/heartbeat", {}),
        ("/api/mp/materials/summary/", "/api/mp/materials/summary/", {"chemsys": "Co-Li-O", "_all_fields": "True"}),
        ("/api/mp/materials/summary/", "/api/mp/materials/summary/", {"elements": "Li", "_limit": 2}),
        ("/api/mp/materials/core/", "/api/mp/materials/core/", {"material_ids": mp_alias(gnome.material_id),
                                                                "_all_fields": "True"}),
        ("/api/mp/materials/thermo/", "/api/mp/materials/thermo/", {"chemsys": "Li-Mn-O,Li-O", "_all_fields": "True"}),
    ]
    covered = set()
    for declared, url, params in gets:
        response = client.get(url, params)
        assert response.status_code == 200, (url, response.content[:300])
        errors = sorted(Draft7Validator(response_schema(schema, declared)).iter_errors(response.json()), key=str)
        assert not errors, (url, [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5]])
        covered.add(("get", declared))
    structure = client.get(f"/api/v1/materials/{gnome.material_id}/structure", {"fmt": "json"})
    assert not list(Draft7Validator(strict(schema, schema["paths"]["/api/v1/materials/{material_id}/structure"]["get"]
                                           ["responses"]["200"]["content"]["application/json"]["schema"]))
                    .iter_errors(json.loads(structure.content)))
    covered.add(("get", "/api/v1/materials/{material_id}/structure"))
    posts = [
        ("/api/v1/hull/stability/", client, {"entries": [{"formula": "LiMnO2", "energy_ev_per_atom": -6.5},
                                                         {"formula": "Li2O", "energy_ev": -14.3}]}, "200"),
        ("/api/v1/materials/uploads/", admin_client,
         {"structure": Structure(Lattice.cubic(5.69), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]).to(fmt="cif"),
          "format": "cif", "energy_ev": -6.9}, "201"),
    ]
    posts.append(("/api/v1/predict/", client, {"structure": gnome.get_structure().to(fmt="cif")}, "200"))
    for declared, who, body, status in posts:
        response = who.post(declared, body, content_type="application/json")
        assert response.status_code == int(status), (declared, response.content[:300])
        errors = list(Draft7Validator(response_schema(schema, declared, "post", status)).iter_errors(response.json()))
        assert not errors, (declared, [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5]])
        covered.add(("post", declared))
    # a relaxation job as it is queued and as it stands once run (the run itself is tests/discovery/test_predict.py's)
    from discovery.models import RelaxJob

    queued = RelaxJob.objects.create(structure=gnome.structure, formula_reduced=gnome.formula_reduced,
                                     nsites=gnome.nsites, evaluator="chgnet")
    placed = response.json()["data"]["stability"]
    done = RelaxJob.objects.create(
        structure=gnome.structure, formula_reduced=gnome.formula_reduced, nsites=gnome.nsites, evaluator="chgnet",
        status="succeeded", method="CHGNet 0.3.0 relax (FIRE, fmax 0.05 eV/Å, cell + positions, <= 300 steps)",
        result={"method": "CHGNet 0.3.0 relax", "kind": "machine-learned potential, not DFT", "energy_ev": -100.0,
                "energy_ev_per_atom": -5.0, "energy_raw_ev": -100.0, "correction": "none", "e_form_ev_per_atom": -1.5,
                "converged": True, "steps": 12, "seconds": 1.5, "volume_change": 0.01, "stability": placed,
                "relaxed_structure": gnome.structure})
    for job in (queued, done):
        answer = admin_client.get(f"/api/v1/predict/relax/{job.pk}/")
        assert answer.status_code == 200, answer.content[:300]
        errors = list(Draft7Validator(response_schema(schema, "/api/v1/predict/relax/{id}/")).iter_errors(answer.json()))
        assert not errors, (job.status, [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5]])
    covered.add(("get", "/api/v1/predict/relax/{id}/"))
    # pausing a campaign answers with the campaign
    paused = admin_client.post(f"/api/v1/discovery/campaigns/{served['campaign'].pk}/", {"action": "pause"},
                               content_type="application/json")
    assert paused.status_code == 202 and paused.json()["data"]["status"] == "paused"
    errors = list(Draft7Validator(response_schema(schema, "/api/v1/discovery/campaigns/{id}/", "post", "202"))
                  .iter_errors(paused.json()))
    assert not errors, [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5]]
    covered.add(("post", "/api/v1/discovery/campaigns/{id}/"))
    # every JSON operation was tried but starting a discovery round, a campaign and a relaxation (each would run one)
    every = {(m, p) for m, p, _, _ in json_responses(schema)}
    assert every - covered == {("post", "/api/v1/discovery/rounds/"), ("post", "/api/v1/discovery/campaigns/"),
                               ("post", "/api/v1/predict/relax/")}
