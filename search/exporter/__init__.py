"""The export of a search's best trial: its options checked (``config``); the trials found
again, from Ray's experiment or from MLflow, and the best one chosen (``candidates``); the
export directory and the registered model written (``write``). Entry point:
``python search/export.py``."""
