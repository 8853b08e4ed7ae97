"""A batched PyTorch Neural Turing Machine (Graves, Wayne & Danihelka 2014) and its tasks."""

from __future__ import annotations

from ntm.api import Loaded, load
from ntm.config import NTMConfig
from ntm.events import NonFiniteError
from ntm.model import NTM, NTMState

__all__ = ["NTM", "Loaded", "NTMConfig", "NTMState", "NonFiniteError", "load"]
