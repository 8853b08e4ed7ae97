"""One trial: its keys (``keys``), its flat Ray config turned into a ``RunConfig``
(``config``), the Ray trainable (``trainable``), its final status (``status``), the
ranking of finished trials (``ranking``) and the files a search writes beside its trials
(``experiment_files``)."""
