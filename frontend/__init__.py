"""The Dash + Crystal Toolkit explorer, mounted at /explorer/ beside Django (imported only by gnome_site)."""
