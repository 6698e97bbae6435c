from __future__ import annotations

from django.db import connection
from django.db.models import Count
from django.http import JsonResponse
from django.shortcuts import render

from .models import ElementalReference, ImportRun, Material


def home(request):
    by_source = dict(Material.objects.values_list("source").annotate(n=Count("pk")).order_by())
    context = {
        "counts": [(label, by_source.get(value, 0)) for value, label in Material._meta.get_field("source").choices],
        "total": sum(by_source.values()),
        "references": ElementalReference.objects.count(),
        "last_import": ImportRun.objects.first(),
    }
    return render(request, "home.html", context)


def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})
