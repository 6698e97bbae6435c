"""WSGI entry point (gunicorn gnome_site.wsgi): Django, with the Dash explorer mounted at /explorer.

The explorer is a Flask app (Crystal Toolkit needs one), so it sits beside Django behind werkzeug's
DispatcherMiddleware rather than inside it; both share the process, the settings and the database.
"""

import gc
import os

from django.core.wsgi import get_wsgi_application
from werkzeug.middleware.dispatcher import DispatcherMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gnome_site.settings")

django_application = get_wsgi_application()


def _explorer():
    from frontend.app import create_app

    return create_app().server


application = DispatcherMiddleware(django_application, {"/explorer": _explorer()})

# Everything loaded so far (Django, pymatgen, the explorer: ~200,000 objects) lives as long as the process.
# Frozen, it is left out of the garbage collector's full passes, which otherwise stalled every fifth or so
# request by ~100 ms (benchmarks/RESULTS.md, "GNoME scale").
gc.freeze()
