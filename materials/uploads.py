"""Structure uploads over HTTP (staff only): the import_structures command's path behind one endpoint.

``POST /api/v1/materials/uploads/`` takes either multipart files (``file``, repeated for several) or a JSON
object ``{"structure": text, "format": "cif", ...}``; optional ``energy_ev`` (corrected total energy of the
cell, eV, MP2020-compatible), ``method`` and ``licence``. A request is all or nothing: the files go through the import
service in one transaction, and one bad file rolls it back and refuses the whole request with a 400 naming
each file's problem. The same file uploaded twice is the same material, stored once.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from . import api_schemas, importing, permissions, readers, rows
from .models import Licence, Material, Source
from .science import STRUCTURE_FORMATS, RowRejected, finite_or_none

MAX_FILES = 20


class StaffOnly(permissions.StaffOnly):
    message = "uploading structures needs a staff account"


class UploadRejected(Exception):
    def __init__(self, problems: list[dict]) -> None:
        super().__init__(problems)
        self.problems = problems


def _format_of(name: str, given: str | None) -> str | None:
    return STRUCTURE_FORMATS.get(given.lower()) if given else readers.structure_format_of(Path(name))


def _text(raw: bytes) -> str:
    if b"\x00" in raw:
        raise RowRejected("binary content (NUL bytes); structure files are text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RowRejected(f"not UTF-8 text (byte {exc.start})") from None


class MaterialUpload(APIView):
    """Upload CIF, POSCAR, extended XYZ or pymatgen JSON structures into the catalogue (staff only)."""

    permission_classes = [StaffOnly]
    parser_classes = [MultiPartParser, *api_settings.DEFAULT_PARSER_CLASSES]  # JSON, refusing too-deep nesting

    @extend_schema(operation_id="materials_upload",
                   request={"multipart/form-data": api_schemas.UploadFiles, "application/json": api_schemas.UploadText},
                   responses={201: api_schemas.UploadAnswer,
                              200: OpenApiResponse(api_schemas.UploadAnswer, description="Every file already stored")})
    def post(self, request):
        limit = settings.GNOME_UPLOAD_MAX_BYTES
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if declared.isdigit() and int(declared) > limit * MAX_FILES + 65536:
            return Response({"detail": f"request body of {int(declared)} bytes; at most {MAX_FILES} files of "
                                       f"{limit} bytes are taken"}, status=413)
        options = self._options(request)
        files = self._files(request, limit, options.pop("format"))
        records = []
        for number, (name, fmt, raw) in enumerate(files, start=1):
            record = {"file": name, "structure_format": fmt, "material_id": "", **options}
            try:
                if fmt is None:
                    raise RowRejected("unknown structure format (use .cif, .vasp/POSCAR, .extxyz or .json, or say "
                                      "format)")
                if len(raw) > limit:
                    raise RowRejected(f"{len(raw)} bytes; the limit is {limit}")
                text = _text(raw)
            except RowRejected as exc:
                record["error"] = str(exc)  # the import service reports it as the row's rejection
            else:
                record.update(structure_text=text, material_id=importing.upload_id(text))
            records.append((number, record))
        names = {number: record["file"] for number, record in records}
        try:
            # the import service parses and checks every file; one rejection rolls the whole request back
            with transaction.atomic():
                run = importing.run_import(self._spec(records, options), workers=1, progress=False,
                                           run_by=request.user.get_username())
                if run.rejected:
                    raise UploadRejected([{"file": names[issue["row"]], "message": f"{names[issue['row']]}: "
                                                                                    f"{issue['reason']}"}
                                          for issue in run.issues if issue["level"] == "rejected"])
        except UploadRejected as exc:
            raise ValidationError({"files": exc.problems}) from None
        ids = [record["material_id"] for _, record in records]
        stored = {m.material_id: m for m in Material.objects.filter(material_id__in=ids)}
        return Response({
            "data": [{"material_id": mid, "file": record["file"], "formula": stored[mid].formula_reduced,
                      "nsites": stored[mid].nsites, "url": f"/api/v1/materials/{mid}/"}
                     for mid, (_, record) in zip(ids, records, strict=True)],
            "meta": {"import_run": run.pk, "inserted": run.inserted, "updated": run.updated,
                     "unchanged": run.unchanged, "warnings": [i["reason"] for i in run.issues]},
        }, status=201 if run.inserted else 200)

    @staticmethod
    def _options(request) -> dict:
        data = request.data
        if not hasattr(data, "get"):
            raise ValidationError({"body": "send multipart files or a JSON object"})
        get = data.get
        options = {"format": get("format") or None, "method": get("method") or "User supplied",
                   "licence": get("licence") or Licence.UNSPECIFIED}
        for key in ("format", "method", "licence"):
            if options[key] is not None and not isinstance(options[key], str):
                raise ValidationError({key: "must be a string"})
        if options["format"] is not None and options["format"].lower() not in STRUCTURE_FORMATS:
            raise ValidationError({"format": f"unknown format {options['format']!r}; one of "
                                             f"{', '.join(sorted(set(STRUCTURE_FORMATS.values())))}"})
        if len(options["method"]) > 200:
            raise ValidationError({"method": "at most 200 characters"})
        if options["licence"] not in Licence.values:
            raise ValidationError({"licence": f"unknown licence {options['licence']!r}; one of {', '.join(Licence.values)}"})
        energy = get("energy_ev")
        if isinstance(energy, bool):
            raise ValidationError({"energy_ev": "must be a number (eV per cell)"})
        try:
            options["energy_ev"] = finite_or_none(energy)
        except RowRejected as exc:
            raise ValidationError({"energy_ev": f"{exc} (eV per cell, finite)"}) from None
        return options

    @staticmethod
    def _files(request, limit: int, fmt: str | None) -> list[tuple[str, str | None, bytes]]:
        uploaded = request.FILES.getlist("file") if hasattr(request.FILES, "getlist") else []
        structure = request.data.get("structure")
        if uploaded and structure is not None:
            raise ValidationError({"structure": "send files or a structure text, not both"})
        if structure is not None:
            if not isinstance(structure, str):
                raise ValidationError({"structure": "must be the file's text"})
            if fmt is None:
                raise ValidationError({"format": "say the format of the structure text (cif, poscar, extxyz, json)"})
            return [("structure", STRUCTURE_FORMATS[fmt.lower()], structure.encode())]
        if not uploaded:
            raise ValidationError({"file": "no file: send one or more 'file' parts, or JSON with 'structure'"})
        if len(uploaded) > MAX_FILES:
            raise ValidationError({"file": f"{len(uploaded)} files; at most {MAX_FILES} per request"})
        files = []
        for item in uploaded:
            if item.size > limit:  # refuse before reading it into memory
                raise ValidationError({"file": f"{item.name}: {item.size} bytes; the limit is {limit}"})
            files.append((item.name, _format_of(item.name, fmt), item.read()))
        return files

    @staticmethod
    def _spec(records: list[tuple[int, dict]], options: dict) -> importing.ImportSpec:
        return importing.ImportSpec(
            importer="upload_api", source=Source.UPLOAD, dataset="User structures", records=iter(records),
            process=rows.process_upload, licence=lambda _id: options["licence"],
            options={"files": [r["file"] for _, r in records], "method": options["method"]}, announce=True)
