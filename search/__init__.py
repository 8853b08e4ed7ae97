"""The search: Ray Tune trials of NTMs proposed by Optuna, stopped by ASHA, tracked in MLflow,
the best one exported. Entry points: ``python search/run.py`` and ``python search/export.py``.

Read top-down, one package per job:

- ``search.launch``: one search from the command line: ``cli`` (options) -> ``config``
  (``SearchConfig``) -> ``search`` (checks, Ray, the Tuner run, the table) using ``tuner``
  (the Tuner: Optuna, ASHA, resources, reporter) and ``results`` (the results table);
- ``search.space``: the space files (``search/spaces/*.yaml``): ``format``, ``parse``,
  ``validate``, ``load``, and ``searcher`` (Optuna through Ray, NaN trials pruned);
- ``search.trial``: one trial: ``keys``, ``config`` (Ray's dict -> ``RunConfig``),
  ``trainable``, ``status`` and ``ranking`` (which finished trial is best);
- ``search.tracking``: MLflow: ``client``, ``runs`` (run identity), ``callback``,
  ``plots`` and ``finish`` (the end of a search);
- ``search.exporter``: the best trial found (``candidates``) and written out (``write``);
- ``search.cluster``: Ray's environment (``env``), ``nodes`` and ``storage``.

This package imports nothing itself: Ray must not be imported before ``search/run.py`` has
set up its environment (``search.cluster.env``).
"""
