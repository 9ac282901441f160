"""Batch reconstruction and QA over many clips, on Dask.

``inputs`` (the clips named by files, folders, globs and CSV manifests, with stable unique ids),
``task`` (one clip's work, run by a worker with the GUI's and the commands' core functions),
``record`` (a clip's folder and the record that says it is complete: ``--resume``),
``metrics`` (a clip's fit figures and cost), ``thumbnail`` (the report's picture of a clip),
``runner`` (the Dask side: the cluster, submitting, retries, progress) and ``report``
(report.html, report.csv, and reading a batch folder back: the GUI's QA list).
"""
