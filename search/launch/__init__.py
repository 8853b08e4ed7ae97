"""One search, launched from the command line and read top-down: ``cli`` (the options) ->
``config`` (``SearchConfig``) -> ``search`` (checks, Ray, the Tuner run, the results),
with ``tuner`` (the Tuner: Optuna searcher, ASHA, resources, reporter) and ``results`` (the
end-of-search table)."""
