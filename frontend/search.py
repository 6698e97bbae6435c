"""The explorer's search state: form values <-> URL query string <-> catalogue query parameters. Pure.

The URL holds the whole search (so a search can be shared): ``?q=Li-P-S&stable=1&ehull=25&sort=-nsites&page=2``.
The catalogue parameters are those of the REST API (Materials Project names), parsed by materials.query.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

# form field -> default value; the URL carries only what differs from the default
DEFAULTS: dict[str, object] = {
    "q": "",  # formula (Fe2O3, ABC3, Si*O3), chemical system (Li-P-S, Li-*-O) or elements (Li,O)
    "elements": [],  # periodic-table picker: contains all of these
    "hull": "all",
    "stable": False,
    "ehull": None,  # max energy above hull, meV/atom
    "eform_min": None,
    "eform_max": None,
    "nel_min": None,
    "nel_max": None,
    "crystal_system": [],
    "spacegroup": "",
    "gap_min": None,
    "source": [],
    "license": "All",
    "layered": False,
    "li_conductor": False,
    "sort": "",
    "page": 1,
}
LISTS = {"elements", "crystal_system", "source"}
FLAGS = {"stable", "layered", "li_conductor"}
NUMBERS = {"ehull", "eform_min", "eform_max", "gap_min"}
INTEGERS = {"nel_min", "nel_max", "page"}
PAGE_SIZE = 25


class SearchError(ValueError):
    """A value of the form that cannot be searched; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def from_url(search: str | None) -> dict:
    """Form values from a URL query string (unknown keys ignored, bad numbers dropped)."""
    values = {k: (list(v) if isinstance(v, list) else v) for k, v in DEFAULTS.items()}
    for key, raw in parse_qsl((search or "").lstrip("?"), keep_blank_values=False):
        if key not in DEFAULTS:
            continue
        if key in LISTS:
            values[key] = [x for x in raw.split(",") if x]
        elif key in FLAGS:
            values[key] = raw in {"1", "true", "yes"}
        elif key in NUMBERS or key in INTEGERS:
            try:
                values[key] = int(raw) if key in INTEGERS else float(raw)
            except ValueError:
                continue
        else:
            values[key] = raw
    return values


def to_url(values: dict) -> str:
    """The query string of form values (``""`` for the default search)."""
    out = {}
    for key, default in DEFAULTS.items():
        value = values.get(key, default)
        if value in (None, "", []) or value == default:
            continue
        if key in LISTS:
            out[key] = ",".join(value)
        elif key in FLAGS:
            out[key] = "1" if value else None
        else:
            out[key] = str(value)
    return "?" + urlencode({k: v for k, v in out.items() if v is not None}) if out else ""


def query_params(values: dict) -> dict[str, str]:
    """REST API parameters of form values; raises SearchError for what cannot be turned into one."""
    params: dict[str, str] = {"hull": values.get("hull") or "all"}
    q = (values.get("q") or "").strip().replace(" ", "")
    if q:
        if "-" in q:
            params["chemsys"] = q
        elif "," in q:
            params["elements"] = q
        else:
            params["formula"] = q
    picked = list(values.get("elements") or [])
    if picked:
        params["elements"] = ",".join(sorted(set(picked) | set(params.get("elements", "").split(",")) - {""}))
    if values.get("stable"):
        params["is_stable"] = "true"
    if values.get("ehull") is not None:
        params["energy_above_hull_max"] = repr(float(values["ehull"]) / 1000.0)
    for key, name in (("eform_min", "formation_energy_per_atom_min"), ("eform_max", "formation_energy_per_atom_max"),
                      ("gap_min", "band_gap_min")):
        if values.get(key) is not None:
            params[name] = repr(float(values[key]))
    for key, name in (("nel_min", "nelements_min"), ("nel_max", "nelements_max")):
        if values.get(key) is not None:
            params[name] = str(int(values[key]))
    if values.get("crystal_system"):
        params["crystal_system"] = ",".join(values["crystal_system"])
    spacegroup = (values.get("spacegroup") or "").strip()
    if spacegroup:
        params["spacegroup_number" if spacegroup.isdigit() else "spacegroup_symbol"] = spacegroup
    if values.get("source"):
        params["source"] = ",".join(values["source"])
    if values.get("license") and values["license"] != "All":
        params["license"] = values["license"]
    if values.get("layered"):
        params["dimensionality"] = "2D"
    if values.get("li_conductor"):
        params["screen"] = "li_conductor"
        params["screen_outcome"] = "candidate,unknown"
    if values.get("sort"):
        params["_sort_fields"] = values["sort"]
    return params


FIELD_OF_PARAM = {"formula": "q", "chemsys": "q", "elements": "q", "energy_above_hull_max": "ehull",
                  "formation_energy_per_atom_min": "eform_min", "formation_energy_per_atom_max": "eform_max",
                  "nelements_min": "nel_min", "nelements_max": "nel_max", "spacegroup_number": "spacegroup",
                  "spacegroup_symbol": "spacegroup", "band_gap_min": "gap_min", "screen": "li_conductor"}
