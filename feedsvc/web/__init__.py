"""HTTP: the WSGI fast path for feeds, the Flask app for pages, waitress glue.

The outermost stage: it answers requests from what :mod:`feedsvc.service`
holds and never loads content itself.
"""
