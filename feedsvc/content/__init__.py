"""Reading, validating and watching the content folder.

The first stage of the pipeline: YAML files on disk become an immutable
:class:`~feedsvc.content.model.Snapshot`. Nothing here knows about feeds or
HTTP; everything above reads the snapshot this package builds.
"""
