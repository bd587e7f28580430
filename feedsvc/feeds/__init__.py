"""Deciding which articles go in which feed, at which URL, and writing them.

The second stage: from a :class:`~feedsvc.content.model.Snapshot` to feed
specs (:mod:`.spec`), the public URL space (:mod:`.urls`, :mod:`.routing`,
:mod:`.catalog`), what each document says (:mod:`.document`, :mod:`.body`),
the writers (:mod:`.render` for RSS/Atom, :mod:`.jsonfeed`) and the cached
bytes and validators (:mod:`.cache`, :mod:`.lastmodified`). No Flask and no
request objects live here.
"""
