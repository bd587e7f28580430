"""State that survives a restart: one SQLite file beside the content, never the content.

The content folder is what editors write; the state is what the service
itself must remember between runs to keep its public promises (the tags it
ever served, Last-Modified dates that never go backwards, WebSub pings not
yet delivered). :mod:`.store` opens it (or starts fresh when it is lost or
broken); each owning module creates its own tables in it.
"""
