"""The search space: its file format and in-memory form (``format``), parsing (``parse``),
the check that every config it can give builds (``validate``), reading a file (``load``),
and Optuna proposing configs from it through Ray (``searcher``)."""
