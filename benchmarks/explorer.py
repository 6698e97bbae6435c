"""The explorer in a real browser on the full sample: time to first render of the search page, and time of a
filter change (from the input to the new result count on screen).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gnome_bench .venv/bin/python benchmarks/explorer.py [--repeats 10]

Serves gnome_site.wsgi (Django + the Dash explorer) from a threaded werkzeug server in this process and drives
Debian's chromium with Playwright. Targets: first render under 2 s, filter change p95 under 500 ms.
Baseline in the same run: the same search as one REST API call (the part of a filter change that is the query).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Playwright's sync API keeps an asyncio loop in this thread; the ORM calls here are synchronous
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

FILTERS = [("ehull", v) for v in ("0", "5", "25", "100", "1", "50", "10", "200")] + \
          [("nel_min", v) for v in ("3", "4", "5", "2")]


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10, help="First renders to time.")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gnome_site.settings")
    import django

    django.setup()
    import logging

    from django.test import Client
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from gnome_site.wsgi import application
    from materials.models import Material

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, application, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    print(f"{Material.objects.count()} materials; explorer at {base}/explorer/")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        warm = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = warm.new_page()
        page.goto(f"{base}/explorer/")  # warm-up: first import of the page's code paths
        page.wait_for_selector("#result-count")
        for label, cold in (("new visitor, empty browser cache", True), ("returning visitor, new tab", False)):
            renders = []
            for _ in range(args.repeats):
                context = browser.new_context(viewport={"width": 1400, "height": 1000}) if cold else None
                fresh = context.new_page() if cold else warm.new_page()
                start = time.perf_counter()
                fresh.goto(f"{base}/explorer/?q=Li,O&stable=1")
                fresh.wait_for_selector("#result-count")
                renders.append((time.perf_counter() - start) * 1e3)
                fresh.close()
                if context:
                    context.close()
            print(f"first render of a search page ({label}; to the result count on screen): median "
                  f"{statistics.median(renders):.0f} ms, p95 {p95(renders):.0f} ms (target < 2000 ms)")

        page.goto(f"{base}/explorer/?q=Li,O")
        page.wait_for_selector("#result-count")
        changes = []
        for field, value in FILTERS:
            before = page.inner_text("#message")
            start = time.perf_counter()
            page.fill(f"#{field}", value)
            page.press(f"#{field}", "Enter")
            page.wait_for_function("(before) => { const m = document.querySelector('#message'); "
                                   "return m && m.innerText !== before && !document.querySelector('._dash-loading'); }",
                                   arg=before)
            changes.append((time.perf_counter() - start) * 1e3)
        print(f"filter change ({len(changes)} changes of max E above hull and number of elements): median "
              f"{statistics.median(changes):.0f} ms, p95 {p95(changes):.0f} ms (target < 500 ms)")
        browser.close()

    client = Client(HTTP_HOST="127.0.0.1")
    api = []
    for value in ("0.025", "0.1", "0.005"):
        for _ in range(3):
            start = time.perf_counter()
            client.get("/api/v1/materials/", {"elements": "Li,O", "energy_above_hull_max": value, "_per_page": 25})
            api.append((time.perf_counter() - start) * 1e3)
    print(f"baseline, the same searches as REST API calls (in-process): median {statistics.median(api):.0f} ms")
    server.shutdown()


if __name__ == "__main__":
    main()
