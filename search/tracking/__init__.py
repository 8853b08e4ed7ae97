"""MLflow tracking of a search: the client and what is logged as params (``client``), run
identity and the lookups of a search's runs (``runs``), the Tune callback that logs every
trial (``callback``), the plots (``plots``) and the end of a search (``finish``)."""
