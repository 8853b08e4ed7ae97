"""One trial: its keys (``keys``), its flat Ray config turned into a ``RunConfig``
(``config``), the Ray trainable (``trainable``), its final status (``status``) and the
ranking of finished trials (``ranking``)."""
