"""Reading, validating and watching the content folder.

The first stage of the pipeline: YAML files on disk become an immutable
:class:`~feedsvc.content.model.Snapshot`. Nothing here knows about feeds or
HTTP; everything above reads the snapshot this package builds.

One file, one article: ``reading`` (the file-system policy: regular files
only, symlinks only within the content folder, size first), ``budgets``
(every limit a file is read within), ``yamlfile`` (bytes to a mapping with lines),
``fields`` (what each field may hold), ``article`` (a mapping to an
Article), ``parallel`` (many files at once), ``textstore`` (article text off
the heap). ``site`` and ``specials`` are ``site.yaml`` and
``popularity.yaml``.

What changed: ``changes`` (the vocabulary), ``signatures`` (stat), ``scan``
(finding and settling changes), ``events`` and ``inotify`` (the kernel's
word for them).

The store: ``files`` (each file's last good article, one file per slug),
``problemset`` and ``lint`` (problems, including those spanning articles),
``index`` (the sorted orders a snapshot is cut from), ``model`` (Article,
Snapshot) and ``loader``, which runs them in order.
"""
