"""Who reads the feeds: subscriber estimates from User-Agents, access logs and live requests.

A sibling of :mod:`feedsvc.service` (both sit on feeds, content and
settings); the web layer and the CLI use it. Storage is a plain
:class:`sqlite3.Connection` (tables ``audience_*``), opened in one place:
:func:`feedsvc.audience.db.connect_state`.
"""
