from __future__ import annotations

import os
import secrets

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from materials.models import Material
from materials.screens import SCREENS


class Command(BaseCommand):
    help = (
        "First start of the embedded default: load the sample data, compute the hulls, the dimensionality and "
        "the screens, and load the shipped evaluated candidates, if the catalogue is empty and, when no "
        "superuser exists, create 'admin' (password from GNOME_ADMIN_PASSWORD, else generated and written to "
        "var/admin-password.txt)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--limit",
            type=int,
            default=int(os.environ.get("GNOME_SAMPLE_LIMIT") or 0) or None,
            help="Load only the first N rows of each dataset (default: all; env GNOME_SAMPLE_LIMIT).",
        )

    def handle(self, *args, **options):
        if Material.objects.exists():
            self.stdout.write(f"Catalogue holds {Material.objects.count()} materials; no data loaded.")
        else:
            limit = options["limit"]
            self.stdout.write(f"Empty catalogue: loading the sample data from {settings.GNOME_DATA_DIR}")
            extra = {"limit": limit} if limit else {}
            call_command("import_references", verbosity=options["verbosity"])
            call_command("import_gnome", verbosity=options["verbosity"], **extra)
            call_command("import_mp_hull", verbosity=options["verbosity"], **extra)
            call_command("recompute_hull", verbosity=options["verbosity"])
            call_command("compute_dimensionality", verbosity=options["verbosity"])
            for screen in SCREENS:
                call_command("run_screen", screen, verbosity=options["verbosity"])
            if apps.is_installed("discovery"):  # the evaluated candidates the released ensemble learned from
                call_command("training_examples", "import", verbosity=options["verbosity"])
        self.ensure_admin()

    def ensure_admin(self) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        password = os.environ.get("GNOME_ADMIN_PASSWORD")
        if not password:
            if not settings.DEBUG:
                raise CommandError("No superuser exists: run manage.py createsuperuser (or set GNOME_ADMIN_PASSWORD)")
            password = secrets.token_urlsafe(12)
            path = settings.VAR_DIR / "admin-password.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(password + "\n")
            path.chmod(0o600)
            self.stdout.write(f"Created superuser 'admin'; its password is in {path.relative_to(settings.BASE_DIR)}")
        else:
            self.stdout.write("Created superuser 'admin' with the password from GNOME_ADMIN_PASSWORD")
        User.objects.create_superuser("admin", "admin@localhost", password)
