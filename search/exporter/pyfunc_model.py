"""The servable model: an MLflow pyfunc that runs the NTM over whole sequences.

    >>> model = mlflow.pyfunc.load_model("models:/ntm-copy@champion")  # doctest: +SKIP
    >>> probs = model.predict(inputs)  # inputs: [B, T, I] float32 -> probs: [B, T, O]

MLflow logs this file as a model from code (``python_model=PATH``): loading executes it and
takes the object given to ``set_model``; nothing is unpickled. The weights and config are
the export's ``model.pt``, read by ``ntm.load`` (``torch.load(weights_only=True)``); the
``ntm`` and ``curricula`` packages travel with the model as ``code_paths``, so loading it
needs torch, numpy and PyYAML, not this project installed. This file therefore imports
nothing from ``search``.
"""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
import torch
from mlflow.pyfunc import PythonModel, PythonModelContext

import ntm

MODEL_ARTIFACT = "model"  # the artifact key of the export's model.pt
MODEL_CODE = __file__  # what MLflow logs and executes to load the model

__all__ = ["MODEL_ARTIFACT", "MODEL_CODE", "NTMSequenceModel"]


class NTMSequenceModel(PythonModel):
    """``predict(inputs [B, T, I] float32) -> output probabilities [B, T, O] float32``.

    Each sequence starts from the model's initial state; the outputs are the sigmoid of the
    logits at every step, as the task's targets are bits (``ntm.tasks``).
    """

    def load_context(self, context: PythonModelContext) -> None:
        self.model = ntm.load(context.artifacts[MODEL_ARTIFACT]).model

    def predict(
        self, context: PythonModelContext, model_input: np.ndarray, params: Any = None
    ) -> np.ndarray:
        inputs = torch.as_tensor(np.asarray(model_input, dtype=np.float32))  # [B, T, I]
        if inputs.ndim != 3 or inputs.shape[-1] != self.model.config.input_size:
            raise ValueError(
                f"inputs must be [B, T, {self.model.config.input_size}], "
                f"but got shape {list(inputs.shape)}"
            )
        with torch.no_grad():
            logits = self.model.forward_sequence(inputs.transpose(0, 1))[0]  # [T, B, O]
        return torch.sigmoid(logits).transpose(0, 1).numpy()  # [B, T, O]


mlflow.models.set_model(NTMSequenceModel())
