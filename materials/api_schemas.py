"""Declared response schemas of the catalogue's APIs (REST, uploads, OPTIMADE and the mp-api routes).

These serializers describe the JSON the views write (the views build plain dicts, which is faster than
serializing through DRF); drf-spectacular publishes them at ``/api/schema/`` and ``/api/docs/``. Every field
says what it is and its unit. ``tests/site/test_api_schema.py`` pins each schema's field list and checks real
answers against these schemas, so a field cannot be added or disappear without the schema saying so.
"""

from __future__ import annotations

from rest_framework import serializers as s

__all__ = [
    "MPCorePage", "MPHeartbeat", "MPSummaryPage", "MPThermoPage", "MaterialRecordPage", "MaterialSearchPage",
    "OptimadeEntryPage", "OptimadeInfoPage", "OptimadeLinksPage", "OptimadeSingleEntry", "OptimadeStructuresInfoPage",
    "PymatgenStructure", "SimilarAnswer", "UploadAnswer", "UploadFiles", "UploadText",
]


def _text(help_text: str, **kw) -> s.CharField:
    return s.CharField(help_text=help_text, **kw)


def _number(help_text: str, **kw) -> s.FloatField:
    return s.FloatField(help_text=help_text, allow_null=True, **kw)


def _integer(help_text: str, **kw) -> s.IntegerField:
    return s.IntegerField(help_text=help_text, **kw)


def _flag(help_text: str, **kw) -> s.BooleanField:
    return s.BooleanField(help_text=help_text, **kw)


def _free(help_text: str, **kw) -> s.JSONField:
    return s.JSONField(help_text=help_text, **kw)


def _texts(help_text: str, **kw) -> s.ListField:
    return s.ListField(child=s.CharField(), help_text=help_text, **kw)


# ---- the REST API: /api/v1/materials/ -------------------------------------------------------------------

class MaterialDocument(s.Serializer):
    """One material as the search lists it: the fields chosen with ``_fields`` (all with ``_all_fields``)."""

    material_id = _text("Our id: GNoME's 10-digit hex id, an mp-id, upl-<hex> (upload) or gnx-<hex> (discovery)",
                       required=False)
    mp_alias = _text("Materials Project-style alias of the id, as the mp-api client takes it (docs/mp_api.md): an "
                     "mp-id as it is, gnome-<letters> for a GNoME hex id", required=False)
    formula_pretty = _text("Reduced formula, e.g. LiFePO4", required=False)
    formula_anonymous = _text("Anonymous formula, e.g. ABC4D", required=False)
    composition = _text("Cell formula with counts, e.g. 'Li4 Fe4 P4 O16'", required=False)
    chemsys = _text("Chemical system: sorted elements joined by '-', e.g. Fe-Li-O-P", required=False)
    elements = _texts("Element symbols, sorted", required=False)
    nelements = _integer("Number of elements (count)", required=False)
    nsites = _integer("Number of sites in the cell (count)", required=False)
    volume = _number("Cell volume (Å³); null for energy-only hull phases", required=False)
    density = _number("Density (g/cm³); null for energy-only hull phases", required=False)
    spacegroup_number = _integer("Space group number, 1 to 230 (spglib, symprec 0.1 Å)", allow_null=True, required=False)
    spacegroup_symbol = _text("Space group symbol (Hermann-Mauguin)", allow_blank=True, required=False)
    crystal_system = _text("Crystal system, lower case; blank without a structure", allow_blank=True, required=False)
    point_group = _text("Point group (international symbol)", allow_blank=True, required=False)
    band_gap = _number("Band gap (eV); null where never computed", required=False)
    dimensionality = _text("Cheon dimensionality (tolerance 0.45 Å): 0D, 1D, 2D (layered), 3D, ...", allow_blank=True,
                          required=False)
    formation_energy_per_atom = _number("Formation energy (eV/atom) against the fixed elemental references",
                                       required=False)
    energy_per_atom_corrected = _number("Corrected total energy per atom on the MP2020 scale (eV/atom)", required=False)
    energy_method = _text("Method of the energies (DFT unless it names a model)", allow_blank=True, required=False)
    energy_note = _text("Why an energy is missing, if it is", allow_blank=True, required=False)
    energy_above_hull = _number("Energy above the chosen hull (eV/atom); negative below it for a phase that does not "
                               "build it; null when not placed", required=False)
    is_stable = _flag("At most 5e-5 eV/atom above the chosen hull", allow_null=True, required=False)
    decomposes_to = s.ListField(child=s.ListField(child=s.JSONField()), allow_null=True, required=False,
                                help_text="Decomposition on the chosen hull: [material id, atomic fraction (0 to 1)] pairs")
    phase_separation_energy_per_atom = _number("Stable phases: energy relative to the hull without the phase (eV/atom)",
                                              required=False)
    hull_version = _integer("Hull run the stability fields come from (id)", allow_null=True, required=False)
    source = _text("Where the material comes from: gnome, mp, discovery, upload, scale", required=False)
    license = _text("Licence of the record: CC-BY-NC-4.0 (GNoME), CC-BY-4.0 (Materials Project), unspecified",
                   required=False)
    dataset = _text("Dataset the record was imported from", required=False)


class SearchMeta(s.Serializer):
    api_version = _text("Version of this API")
    time_stamp = s.DateTimeField(help_text="When the answer was made (ISO 8601)")
    total_doc = _integer("Number of matches (count); PostgreSQL's estimate when total_doc_is_estimate")
    total_doc_is_estimate = _flag("Whether total_doc is the planner's estimate rather than an exact count")
    page = _integer("Page number from 1; null on keyset (_cursor) pages", allow_null=True)
    per_page = _integer("Results per page (count)")
    max_page = _integer("Last page at this page size (count)")
    next_cursor = _text("Pass as _cursor (same filters and sort) for the next page; null on the last page",
                       allow_null=True)
    hull = _text("Hull set of the stability fields: all or mp")
    energies = _text("What the energies are (DFT unless energy_method says otherwise)")


class MaterialSearchPage(s.Serializer):
    data = MaterialDocument(many=True, help_text="The page of matches")
    meta = SearchMeta(help_text="Counts and paging")


class CalculationRecord(s.Serializer):
    method = _text("Method and version, e.g. 'GNoME PBE/PBE+U', 'CHGNet 0.3.0 relax'")
    kind = _text("dft, model (machine-learned), user or synthetic")
    energy_ev = _number("Total energy of the cell as published (eV)")
    energy_corrected_ev = _number("Corrected total energy of the cell on the hull's scale (eV)")
    correction_ev = _number("Correction this project applied (eV)")
    correction_scheme = _text("Correction scheme and its adjustments", allow_blank=True)
    e_form_ev_per_atom = _number("Formation energy (eV/atom)")
    note = _text("Why an energy is missing, if it is", allow_blank=True)


class HullCompleteness(s.Serializer):
    binaries = _integer("Binary subsystems of the chemical system (count)")
    covered = _integer("Binaries holding a compound of this hull set (count)")
    missing = _texts("Binaries with no compound (A-B)")
    complete = _flag("Every binary holds a compound; null for an element", allow_null=True)


class StabilityRecord(s.Serializer):
    is_member = _flag("Whether the material is one of the phases that build this hull")
    energy_above_hull = _number("Energy above the hull (eV/atom); negative for a non-member below it")
    is_stable = _flag("At most 5e-5 eV/atom above the hull")
    decomposes_to = s.ListField(child=s.ListField(child=s.JSONField()),
                                help_text="[material id, atomic fraction (0 to 1)] pairs; ref:<El> = a bare reference")
    phase_separation_energy_per_atom = _number("Stable members: energy relative to the hull without it (eV/atom)")
    published_energy_above_hull = _number("The dataset's own value (eV/atom), shown beside ours")
    published_column = _text("Column of the published value", allow_blank=True)
    disagrees_with_published = _flag("Published value more than 25 meV/atom from ours")
    note = _text("Why the material is not placed, if it is not", allow_blank=True)
    hull_version = _integer("Hull run of these values (id)")
    hull_completeness = HullCompleteness(help_text="Which binaries of its system hold a compound (this material left out)")


class StabilityByHull(s.Serializer):
    all = StabilityRecord(required=False, help_text="Against every known phase (GNoME, Materials Project, discoveries)")
    mp = StabilityRecord(required=False, help_text="Against the Materials Project phases only")


class WindowRecord(s.Serializer):
    reduction_v = _number("Lower limit (V vs Li/Li+): Li is taken up below it")
    oxidation_v = _number("Upper limit (V vs Li/Li+): Li is given up above it")
    shifted_ev_per_atom = _number("How far a phase above the hull was lowered onto it first (eV/atom)")
    reduction_products = _free("Phases at the lower limit")
    oxidation_products = _free("Phases at the upper limit")
    note = _text("Why there is no window, if there is none", allow_blank=True)
    hull_version = _integer("Hull run of this window (id)")
    unit = _text("Unit of the limits: V vs Li/Li+")


class WindowsByHull(s.Serializer):
    all = WindowRecord(required=False, help_text="On the hull of every known phase")
    mp = WindowRecord(required=False, help_text="On the Materials Project hull")


class ScreenStageResult(s.Serializer):
    stage = _text("Stage name")
    result = _text("pass, fail or unknown")
    why = _text("The reason, with the value and the threshold")


class ScreenOutcome(s.Serializer):
    outcome = _text("candidate, unknown (passed with unknowns) or failed")
    failed_stage = _text("First stage failed", allow_blank=True)
    run = _integer("Screen run (id)")
    stages = ScreenStageResult(many=True, help_text="Every stage reached, in funnel order")


class MaterialRecord(MaterialDocument):
    structure = _free("pymatgen Structure.as_dict() (lengths in Å, fractional coordinates); null for energy-only phases",
                     allow_null=True)
    citation = _text("What to cite for this record", allow_blank=True)
    calculations = CalculationRecord(many=True, help_text="Every energy record of the material")
    stability = StabilityByHull(help_text="Stability on each hull set")
    judged_hull_completeness = _free("Hull completeness when a discovery judged it (as stored); null otherwise",
                                    allow_null=True)
    published = _free("Values as the dataset published them (units as the dataset's columns)")
    dimensionality_method = _text("How the dimensionality was found", allow_blank=True)
    electrochemical_windows = WindowsByHull(help_text="Electrochemical window of a Li-containing phase per hull set")
    screens = s.DictField(child=ScreenOutcome(), help_text="Outcome in the latest run of each screen, by screen name")


class RecordMeta(s.Serializer):
    api_version = _text("Version of this API")
    total_doc = _integer("Number of documents (count): 1")


class MaterialRecordPage(s.Serializer):
    data = MaterialRecord(many=True, help_text="The material (one document)")
    meta = RecordMeta(help_text="Counts")


class SimilarMaterial(s.Serializer):
    material_id = _text("Id of the similar material")
    formula = _text("Its reduced formula, e.g. LiFePO4")
    distance = s.FloatField(help_text="Distance between the two structure fingerprints (unitless; 0 = the same "
                                      "fingerprint, smaller is more similar)")
    e_above_hull_ev_per_atom = _number("Its energy above the 'all' hull (eV/atom); null when not placed")
    source = _text("Where it comes from: gnome, mp, discovery, upload or scale")


class SimilarMeta(s.Serializer):
    api_version = _text("Version of this API")
    material_id = _text("The material the others are similar to (left out of the list)")
    k = _integer("Number of similar materials asked for (count, 1 to 50)")
    fingerprint = _text("Fingerprint definition and version the distances come from, e.g. gnx-rdf-1")


class SimilarAnswer(s.Serializer):
    data = SimilarMaterial(many=True, help_text="The most similar materials, closest first; empty for a material "
                                                "without a structure")
    meta = SimilarMeta(help_text="The query")


class PymatgenStructure(s.Serializer):
    """pymatgen ``Structure.as_dict()``: the structure download with fmt=json."""

    _module = _text("pymatgen module: pymatgen.core.structure")
    _class = _text("Always Structure")
    charge = _number("Total charge of the cell (e)")
    lattice = _free("matrix (three lattice vectors as rows, Å), pbc, a, b, c (Å), alpha, beta, gamma (°), volume (Å³)")
    properties = _free("Structure-level properties (none here)")
    sites = s.ListField(child=s.JSONField(), help_text="Each site: species [{element, occu (0 to 1)}], abc "
                                                       "(fractional), xyz (Å), label, properties")

    def get_fields(self):
        fields = super().get_fields()
        fields["@module"] = fields.pop("_module")
        fields["@class"] = fields.pop("_class")
        return fields


class UploadedMaterial(s.Serializer):
    material_id = _text("Id of the stored material: upl- + 12 hex of the file's SHA-256")
    file = _text("Name of the uploaded file (or 'structure' for a JSON body)")
    formula = _text("Reduced formula")
    nsites = _integer("Sites in the cell (count)")
    url = _text("Its record in the REST API")


class UploadMeta(s.Serializer):
    import_run = _integer("Import run that stored it (id; the admin lists it)")
    inserted = _integer("New materials (count)")
    updated = _integer("Materials whose content changed (count)")
    unchanged = _integer("Materials already stored unchanged (count)")
    warnings = _texts("Warnings of the import")


class UploadFiles(s.Serializer):
    file = s.ListField(child=s.FileField(), help_text="Structure files (CIF, POSCAR/.vasp, extended XYZ, pymatgen JSON): "
                                                      "up to 20, each at most GNOME_UPLOAD_MAX_BYTES (bytes)")
    format = _text("Format of every file, when the file names do not say it: cif, poscar, extxyz, json", required=False)
    energy_ev = _number("Corrected total energy of the cell, MP2020-compatible (eV)", required=False)
    method = _text("Method of the energy (at most 200 characters; default 'User supplied')", required=False)
    licence = _text("Licence of the data (SPDX id; default unspecified)", required=False)


class UploadText(s.Serializer):
    structure = _text("The structure file's text")
    format = _text("Its format: cif, poscar, extxyz or json")
    energy_ev = _number("Corrected total energy of the cell, MP2020-compatible (eV)", required=False)
    method = _text("Method of the energy (at most 200 characters)", required=False)
    licence = _text("Licence of the data (SPDX id)", required=False)


class UploadAnswer(s.Serializer):
    data = UploadedMaterial(many=True, help_text="Each uploaded structure, in the order sent")
    meta = UploadMeta(help_text="The import run")


# ---- OPTIMADE ------------------------------------------------------------------------------------------

class OptimadeProvider(s.Serializer):
    name = _text("Provider name")
    description = _text("What the provider serves")
    prefix = _text("Provider prefix of the database-specific fields (_gnx_)")
    homepage = _text("Provider homepage", allow_null=True)


class OptimadeImplementation(s.Serializer):
    name = _text("Implementation name")
    version = _text("Implementation version")
    source_url = _text("Source code", allow_null=True)
    maintainer = _free("Maintainer", allow_null=True)


class OptimadeWarning(s.Serializer):
    type = _text("Always 'warning'")
    detail = _text("What was ignored or left out")


class OptimadeQuery(s.Serializer):
    representation = _text("The query as received (path and query string)")


class OptimadeMeta(s.Serializer):
    query = OptimadeQuery(help_text="The query")
    api_version = _text("OPTIMADE specification version served (1.2.0)")
    more_data_available = _flag("Whether another page follows")
    time_stamp = _text("When the answer was made (ISO 8601, UTC)")
    provider = OptimadeProvider(help_text="Who serves it")
    implementation = OptimadeImplementation(help_text="Which software")
    schema = _text("URL of the info endpoint")
    data_returned = _integer("Matches (count)", required=False)
    data_available = _integer("Entries available (count)", required=False)
    warnings = OptimadeWarning(many=True, required=False, help_text="Parameters ignored, fields left out")
    _gnx_data_returned_is_estimate = _flag("data_returned is PostgreSQL's estimate", required=False)


def _optimade_attribute(prop) -> s.Field:
    unit = prop.unit or ("1 to 230" if "space_group" in prop.name else "count" if prop.type == "integer" else None)
    described = prop.description + (f" ({unit})" if unit else "")
    kinds = {"string": s.CharField, "timestamp": s.DateTimeField, "integer": s.IntegerField, "float": s.FloatField,
             "boolean": s.BooleanField}
    if prop.type == "list":
        return s.ListField(child=s.JSONField(), help_text=described, required=False, allow_null=True)
    return kinds[prop.type](help_text=described, required=False, allow_null=True)


def _optimade_attributes() -> type:
    from .optimade.properties import PROPERTIES

    fields = {name: _optimade_attribute(prop) for name, prop in PROPERTIES.items() if name not in ("id", "type")}
    return type("OptimadeStructureAttributes", (s.Serializer,), {
        "__doc__": "The served properties (all unless response_fields chooses); units as /optimade/v1/info/structures "
                   "gives them.", **fields})


OptimadeStructureAttributes = _optimade_attributes()


class OptimadeEntry(s.Serializer):
    id = _text("Entry id (our material id)")
    type = _text("Always 'structures'")
    attributes = OptimadeStructureAttributes(help_text="The structure's properties")


class OptimadeLinks(s.Serializer):
    next = _text("URL of the next page; null on the last", allow_null=True)


class OptimadeEntryPage(s.Serializer):
    data = OptimadeEntry(many=True, help_text="The page of structures")
    links = OptimadeLinks(help_text="Paging links")
    meta = OptimadeMeta(help_text="Counts and provenance")


class OptimadeSingleEntry(s.Serializer):
    data = OptimadeEntry(help_text="The structure")
    links = OptimadeLinks(help_text="Paging links (none)")
    meta = OptimadeMeta(help_text="Provenance")


class OptimadeInfoAttributes(s.Serializer):
    api_version = _text("OPTIMADE version served")
    available_api_versions = _free("[{url, version}] of each version served")
    formats = _texts("Response formats: json")
    entry_types_by_format = _free("Entry types per format")
    available_endpoints = _texts("Endpoints served")
    is_index = _flag("Whether this is an index meta-database (no)")
    license = _free("Licence link of the database")
    available_licenses = _texts("SPDX ids of the licences of the data")


class OptimadeInfoData(s.Serializer):
    type = _text("Always 'info'")
    id = _text("Always '/'")
    attributes = OptimadeInfoAttributes(help_text="What this database serves")


class OptimadeInfoPage(s.Serializer):
    data = OptimadeInfoData(help_text="The base info")
    meta = OptimadeMeta(help_text="Provenance")


class OptimadeStructuresInfo(s.Serializer):
    id = _text("Always 'structures'")
    type = _text("Always 'info'")
    description = _text("What a structure entry is here")
    properties = _free("Each property: description, unit, type, sortable, queryable")
    formats = _texts("Response formats: json")
    output_fields_by_format = _free("Fields per format")


class OptimadeStructuresInfoPage(s.Serializer):
    data = OptimadeStructuresInfo(help_text="The structures entry type")
    meta = OptimadeMeta(help_text="Provenance")


class OptimadeLinksPage(s.Serializer):
    data = s.ListField(child=s.JSONField(), help_text="Links to other databases (none)")
    meta = OptimadeMeta(help_text="Counts and provenance")


# ---- the mp-api routes: /api/mp/ (emmet-core document models) ------------------------------------------

class MPHeartbeat(s.Serializer):
    db_version = _text("Data version: date of the latest finished import and its run id (YYYY.MM.DD.postN)")
    version = _text("emmet-core version whose document models these documents follow")
    access_controlled_batch_ids = _texts("Batches behind access control (none)")
    message = _text("What this server is and which energies it serves")


class MPEmmetMeta(s.Serializer):
    emmet_version = _text("emmet-core version of the document model")
    license = _text("emmet licence: BY-C (CC BY 4.0, Materials Project) or BY-NC (CC BY-NC 4.0, GNoME); null for "
                   "user data of unspecified licence", allow_null=True)


class MPSymmetry(s.Serializer):
    crystal_system = _text("Crystal system, capitalised (emmet CrystalSystem)", allow_null=True)
    symbol = _text("Space group symbol (Hermann-Mauguin)")
    number = _integer("Space group number (1 to 230)")
    point_group = _text("Point group", allow_null=True)
    symprec = _number("Symmetry tolerance of spglib (Å)")


class MPDecompositionProduct(s.Serializer):
    material_id = _text("Alias of the product; null for a bare elemental reference", allow_null=True)
    formula = _text("Reduced formula of the product", allow_null=True)
    amount = _number("Atomic fraction of the product (0 to 1)")


def _metadata_fields() -> dict:
    """The fields every emmet document here shares (emmet's StructureMetadata, PropertyDoc)."""
    return {
        "material_id": _text("Materials Project-style alias of the material (docs/mp_api.md): an mp-id as it is, "
                            "gnome-<letters> for a GNoME hex id, upl-/gnx-<letters> for uploads and discoveries"),
        "database_IDs": s.DictField(child=_texts("ids"), required=False,
                                    help_text="Our own id of the material under 'gnome_explorer'"),
        "formula_pretty": _text("Reduced formula", required=False),
        "formula_anonymous": _text("Anonymous formula", required=False),
        "chemsys": _text("Chemical system, sorted elements joined by '-'", required=False),
        "elements": _texts("Element symbols, sorted", required=False),
        "nelements": _integer("Number of elements (count)", required=False),
        "nsites": _integer("Sites in the cell (count)", required=False),
        "composition": s.DictField(child=s.FloatField(), required=False,
                                   help_text="Cell composition: element -> atoms in the cell (count)"),
        "composition_reduced": s.DictField(child=s.FloatField(), required=False,
                                           help_text="Reduced composition: element -> amount (count)"),
        "volume": _number("Cell volume (Å³); null for energy-only phases", required=False),
        "density": _number("Density (g/cm³); null for energy-only phases", required=False),
        "density_atomic": _number("Volume per atom (Å³/atom); null for energy-only phases", required=False),
        "symmetry": MPSymmetry(required=False, allow_null=True, help_text="Symmetry (spglib); null without a structure"),
        "deprecated": _flag("Whether the document is deprecated (never here)", required=False),
        "last_updated": s.DateTimeField(help_text="When the record last changed (ISO 8601)", required=False),
        "builder_meta": MPEmmetMeta(help_text="emmet version and licence (always present)"),
        "warnings": _texts("What to know about these values (machine-learned energies, energy-only phases, ...)",
                          required=False),
        "license": _text("Licence of the record, SPDX id: CC-BY-NC-4.0 (GNoME), CC-BY-4.0 (Materials Project), "
                        "unspecified (always present; not an emmet field)"),
        "source": _text("gnome, mp, discovery, upload or scale (not an emmet field)", required=False),
        "energy_method": _text("Method of the energies: DFT unless it names a model (not an emmet field)",
                              allow_blank=True, required=False),
    }


def _energy_fields() -> dict:
    return {
        "energy_per_atom": _number("Corrected total energy on the MP2020 GGA/GGA+U scale (eV/atom)", required=False),
        "formation_energy_per_atom": _number("Formation energy against the fixed elemental references (eV/atom)",
                                            required=False),
        "energy_above_hull": _number("Energy above the chosen hull (eV/atom)", required=False),
        "is_stable": _flag("At most 5e-5 eV/atom above the chosen hull", required=False),
        "equilibrium_reaction_energy_per_atom": _number("Stable phases: energy relative to the hull without the phase "
                                                       "(eV/atom, negative); null otherwise", required=False),
        "decomposes_to": MPDecompositionProduct(many=True, required=False, allow_null=True,
                                                help_text="Unstable phases: the products on the hull; null otherwise"),
    }


MPSummaryDoc = type("MPSummaryDoc", (s.Serializer,), {
    "__doc__": "emmet SummaryDoc of one material (the fields asked for, and material_id, builder_meta, license).",
    **_metadata_fields(), **_energy_fields(),
    "structure": _free("pymatgen Structure.as_dict() (Å); null for energy-only phases", allow_null=True, required=False),
    "band_gap": _number("Band gap (eV); null where never computed", required=False),
    "theoretical": _flag("A prediction with no experimental match recorded (GNoME, discoveries); null for Materials "
                        "Project phases", allow_null=True, required=False),
})
MPCoreDoc = type("MPCoreDoc", (s.Serializer,), {
    "__doc__": "emmet MaterialsDoc of one material (structure and metadata).",
    **{k: v for k, v in _metadata_fields().items() if k != "database_IDs"},
    "structure": _free("pymatgen Structure.as_dict() (Å); null for energy-only phases", allow_null=True, required=False),
})


class MPComputedEntry(s.Serializer):
    """pymatgen ComputedStructureEntry.as_dict(): PhaseDiagram of these entries is the catalogue's hull."""

    _module = _text("pymatgen module")
    _class = _text("Always ComputedStructureEntry")
    energy = _number("Total energy of the cell before the energy adjustments (eV)")
    composition = s.DictField(child=s.FloatField(), help_text="Cell composition: element -> atoms (count)")
    entry_id = _text("<material_id>-GGA_GGA+U")
    correction = _number("Sum of the energy adjustments (eV)")
    energy_adjustments = _free("The MP2020 correction applied here, as one ConstantEnergyAdjustment (eV); empty where "
                              "the published energy is already corrected (GNoME)")
    parameters = _free("Calculation parameters (none recorded)")
    data = _free("material_id (alias), license, energy_method, gnome_explorer (our id), structure_is_placeholder and "
                "its note")
    structure = _free("pymatgen Structure.as_dict() (Å); for energy-only phases a placeholder carrying the "
                     "composition only (data.structure_is_placeholder)")

    def get_fields(self):
        fields = super().get_fields()
        fields["@module"] = fields.pop("_module")
        fields["@class"] = fields.pop("_class")
        return fields


class MPEntries(s.Serializer):
    """The material's entries keyed by thermo type: one here, GGA_GGA+U."""

    def get_fields(self):
        return {"GGA_GGA+U": MPComputedEntry(help_text="The entry on the MP2020 GGA/GGA+U scale")}


MPThermoDoc = type("MPThermoDoc", (s.Serializer,), {
    "__doc__": "emmet ThermoDoc of a phase that builds the chosen hull.",
    **{k: v for k, v in _metadata_fields().items() if k != "database_IDs"}, **_energy_fields(),
    "thermo_id": _text("<material_id>_GGA_GGA+U", required=False),
    "thermo_type": _text("Always GGA_GGA+U: MP2020-corrected GGA/GGA+U energies", required=False),
    "energy_type": _text("Method of the energy (DFT unless it names a model)", allow_blank=True, required=False),
    "entry_types": _texts("Methods of the entries", required=False),
    "uncorrected_energy_per_atom": _number("Published total energy before the MP2020 correction (eV/atom); null where "
                                          "only corrected energies are published (GNoME)", required=False),
    "entries": MPEntries(required=False, help_text="The entry, keyed by thermo type"),
})


class MPMeta(s.Serializer):
    api_version = _text("Version of this API")
    time_stamp = s.DateTimeField(help_text="When the answer was made (ISO 8601)")
    total_doc = _integer("Matches (count): the client pages until it has read them")
    total_doc_is_estimate = _flag("Whether total_doc is PostgreSQL's estimate")
    max_limit = _integer("Largest _limit accepted (count)")
    skip = _integer("Documents skipped (count)")
    limit = _integer("Documents asked for (count)")
    hull = _text("Hull set of the stability fields: all or mp")
    energies = _text("What the energies are")
    licenses = s.DictField(child=s.CharField(), help_text="Licence of the data, by SPDX id")


def _page(name: str, doc) -> type:
    return type(name, (s.Serializer,), {"data": doc(many=True, help_text="The documents"),
                                        "meta": MPMeta(help_text="Counts, paging and licences")})


MPSummaryPage = _page("MPSummaryPage", MPSummaryDoc)
MPCorePage = _page("MPCorePage", MPCoreDoc)
MPThermoPage = _page("MPThermoPage", MPThermoDoc)
