"""WSGI entry point: ``waitress-serve wsgi:app`` (or gunicorn, uWSGI).

Settings come from ``FEEDSVC_*`` environment variables; see the README.
"""

from feedsvc.web.app import create_app

app = create_app()
