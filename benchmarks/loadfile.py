"""Locust users for the load tests (benchmarks/scale.py): a mix of REST API, OPTIMADE and explorer requests.

    .venv/bin/locust -f benchmarks/loadfile.py --headless -u 50 -r 50 -t 60s --host http://127.0.0.1:8000

Every user picks requests by weight, without think time (a closed loop: 50 users = 50 concurrent requests).
The material ids come from the API itself on start, so the file works on any catalogue.
"""

from __future__ import annotations

import random

from locust import FastHttpUser, between, events, task

IDS: list[str] = []


@events.test_start.add_listener
def _ids(environment, **_) -> None:
    import json
    import urllib.request

    url = f"{environment.host}/api/v1/materials/?has_structure=true&_per_page=200&_fields=material_id"
    with urllib.request.urlopen(url, timeout=30) as response:
        IDS.extend(doc["material_id"] for doc in json.load(response)["data"])


class PortalUser(FastHttpUser):
    wait_time = between(0, 0)

    def _get(self, path: str, name: str) -> None:
        with self.client.get(path, name=name, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")

    @task(4)
    def search_chemsys(self) -> None:
        system = random.choice(["Li-Mn-O", "Li-P-S", "Fe-O", "Na-Cl", "Li-Co-O", "Mg-Si-O"])
        self._get(f"/api/v1/materials/?chemsys={system}", "api chemsys")

    @task(3)
    def search_elements(self) -> None:
        elements = random.choice(["Li,O", "Li,P,S", "Fe,O", "Na", "Co,Li"])
        self._get(f"/api/v1/materials/?elements={elements}&is_stable=true&_per_page=50", "api elements + stable")

    @task(2)
    def search_range(self) -> None:
        self._get("/api/v1/materials/?formation_energy_per_atom_max=-2&nelements_min=3&_per_page=50", "api ranges")

    @task(3)
    def material(self) -> None:
        self._get(f"/api/v1/materials/{random.choice(IDS)}/", "api material")

    @task(1)
    def structure(self) -> None:
        self._get(f"/api/v1/materials/{random.choice(IDS)}/structure?fmt=cif", "api structure cif")

    @task(1)
    def hull(self) -> None:
        self._get(f"/api/v1/hull/{random.choice(['Li-Mn-O', 'Fe-O', 'Li-P-S'])}/", "api hull")

    @task(3)
    def optimade(self) -> None:
        query = random.choice(['elements HAS ALL "Li","O" AND nelements=3', 'elements HAS ONLY "Li","Fe","P","O"',
                               'nsites < 10 AND elements HAS "Si"'])
        self._get(f"/optimade/v1/structures?filter={query}", "optimade filter")

    @task(1)
    def optimade_entry(self) -> None:
        self._get(f"/optimade/v1/structures/{random.choice(IDS)}", "optimade entry")

    @task(1)
    def explorer(self) -> None:
        self._get("/explorer/", "explorer page")

    @task(1)
    def explorer_search(self) -> None:
        # what the explorer's search callback asks of the query module, through the same API
        self._get("/api/v1/materials/?chemsys=Li-*-O&is_stable=true&_sort_fields=energy_above_hull&_per_page=25",
                  "explorer search")
