"""Typed training events."""

from __future__ import annotations


class NonFiniteError(RuntimeError):
    """The loss or some gradients became NaN or inf at ``step``.

    Raised before the optimizer step, so the model still holds its last finite weights.
    ``parameters`` names every parameter whose gradient had a non-finite element.
    """

    def __init__(self, *, step: int, level: int, loss: float, parameters: list[str]) -> None:
        self.step = step
        self.level = level
        self.loss = loss
        self.parameters = parameters
        names = ", ".join(parameters) if parameters else "none (loss only)"
        super().__init__(
            f"non-finite loss/gradients at step {step} (level {level}, loss {loss}); "
            f"parameters with non-finite gradients: {names}"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "step": self.step,
            "level": self.level,
            "loss": self.loss,
            "parameters": list(self.parameters),
        }
