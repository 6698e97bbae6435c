"""Streaming exports of any filtered set of materials (the API's export and the dump command)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import replace

from .query import MaterialQuery, document, value_paths

CHUNK = 2000
LICENCE_NOTE = (
    "GNoME data: CC BY-NC 4.0, non-commercial use only, cite Merchant et al., Nature 624, 80-85 (2023); "
    "Materials Project data: CC BY 4.0. Each row carries its own licence."
)


def export_fields(query: MaterialQuery) -> tuple[str, ...]:
    fields = query.fields if "license" in query.fields else (*query.fields, "license")  # licences travel with data
    return fields if "material_id" in fields else ("material_id", *fields)


def documents(query: MaterialQuery, with_structure: bool = False) -> Iterator[dict]:
    """Every matching material (no paging), read in keyset chunks: each chunk is a short query that starts
    where the last one ended (no offset, no cursor or transaction held open while a slow client reads)."""
    fields = export_fields(query)
    paths = sorted({*value_paths(fields), query.sort_path, "material_id"}) + (["structure"] if with_structure else [])
    chunk = replace(query, per_page=CHUNK)
    while True:
        rows = list(chunk.queryset().filter(chunk.keyset()).values(*paths)[:CHUNK])
        for row in rows:
            doc = document(row, fields)
            if with_structure:
                doc["structure"] = row["structure"]
            yield doc
        if len(rows) < CHUNK:
            return
        chunk = replace(chunk, after=(rows[-1][query.sort_path], rows[-1]["material_id"]))


def jsonl_lines(query: MaterialQuery, with_structure: bool = False) -> Iterator[str]:
    for doc in documents(query, with_structure):
        yield json.dumps(doc, allow_nan=False) + "\n"


def csv_lines(query: MaterialQuery) -> Iterator[str]:
    fields = export_fields(query)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(fields)
    for doc in documents(query):
        writer.writerow([json.dumps(v) if isinstance(v, list | dict) else ("" if v is None else v) for v in doc.values()])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
