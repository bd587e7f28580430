"""Deciding which articles go in which feed, at which URL, and writing them.

The second stage: from a :class:`~feedsvc.content.model.Snapshot` to feed
specs (:mod:`.spec`), the public URL space (:mod:`.urls`, :mod:`.routing`),
rendered bytes (:mod:`.render`) and their cached variants and validators
(:mod:`.cache`). No Flask and no request objects live here.
"""
