"""Frozen configuration of the NTM model (the controller, memory and heads)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from ntm.errors import require

MODELS = ("ntm", "lstm")
CONTROLLERS = ("lstm", "feedforward")
ACTIVATIONS = ("relu", "tanh", "sigmoid")
MEMORY_INITS = ("constant", "learned", "random")
# Size limits, checked before anything is allocated: one sequence's memory N*M, and the
# parameter count (times 4 with Adam's state and the gradients, in float32 bytes: 4 GiB).
MAX_MEMORY_ELEMENTS = 2**24  # 64 MiB per sequence in float32; the paper's copy uses 2,560
MAX_PARAMETERS = 2**28


def from_mapping(cls: type, values: Mapping[str, Any], *, what: str) -> Any:
    """Build dataclass ``cls`` from ``values``; an unknown key is an error listing valid keys."""
    valid = sorted(f.name for f in fields(cls))
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise ValueError(f"unknown {what} key(s) {unknown}; valid keys are {valid}.")
    return cls(**values)


@dataclass(frozen=True)
class NTMConfig:
    """Shape and options of one NTM (Graves et al. 2014, section 3).

    model: ``ntm`` (the NTM) or ``lstm`` (the paper's baseline: the controller alone, no
        memory or heads; ``ntm.baseline``). The memory and head fields are ignored by ``lstm``.
    input_size, output_size: widths I and O of the task's vectors.
    controller: ``lstm`` or ``feedforward``; controller_size units in each of controller_layers.
    memory_n, memory_m: N locations of width M.
    read_heads, write_heads: number of heads of each kind (>= 1 each).
    shift_range: s, the shift weighting covers the 2s+1 offsets -s..s (s = 0 allowed; 2s+1 <= N).
    memory_init: ``constant`` (1e-6 everywhere, Collier & Beel 2018), ``learned`` (a trained
        N x M bias), or ``random`` (a fixed, untrained draw from N(0, 0.5^2 / (N + M))).
    learn_bias: when True the initial read vectors and head weightings are trained parameters
        ("bias learning"); when False they are fixed (read vectors 0, weightings one-hot at 0).
    """

    model: str = "ntm"
    input_size: int = 9
    output_size: int = 8
    controller: str = "lstm"
    controller_size: int = 100
    controller_layers: int = 1
    activation: str = "tanh"
    memory_n: int = 128
    memory_m: int = 20
    read_heads: int = 1
    write_heads: int = 1
    shift_range: int = 1
    memory_init: str = "constant"
    learn_bias: bool = True

    def __post_init__(self) -> None:
        require(
            self.model in MODELS,
            f"model must be one of {list(MODELS)}, but got model={self.model!r}.",
        )
        for name in ("input_size", "output_size", "controller_size", "controller_layers"):
            value = getattr(self, name)
            require(value >= 1, f"{name} must be >= 1, but got {name}={value}.")
        require(self.memory_n >= 1, f"memory_n (N) must be >= 1, but got memory_n={self.memory_n}.")
        require(self.memory_m >= 1, f"memory_m (M) must be >= 1, but got memory_m={self.memory_m}.")
        for name in ("read_heads", "write_heads"):
            value = getattr(self, name)
            require(value >= 1, f"{name} must be >= 1, but got {name}={value}.")
        require(
            self.shift_range >= 0,
            f"shift_range must be >= 0, but got shift_range={self.shift_range}.",
        )
        require(
            2 * self.shift_range + 1 <= self.memory_n,
            f"shift_range must satisfy 2*shift_range+1 <= memory_n ({self.memory_n}), "
            f"but got shift_range={self.shift_range}.",
        )
        require(
            self.controller in CONTROLLERS,
            f"controller must be one of {list(CONTROLLERS)}, "
            f"but got controller={self.controller!r}.",
        )
        require(
            self.activation in ACTIVATIONS,
            f"activation must be one of {list(ACTIVATIONS)}, "
            f"but got activation={self.activation!r}.",
        )
        require(
            self.memory_init in MEMORY_INITS,
            f"memory_init must be one of {list(MEMORY_INITS)}, "
            f"but got memory_init={self.memory_init!r}.",
        )

        self._check_size()

    def _check_size(self) -> None:
        n, m = self.memory_n, self.memory_m
        require(
            n * m <= MAX_MEMORY_ELEMENTS,
            f"memory_n * memory_m must be <= {MAX_MEMORY_ELEMENTS} (64 MiB per sequence), "
            f"but got memory_n={n}, memory_m={m} ({n * m} elements).",
        )
        params = self.parameter_count()
        require(
            params <= MAX_PARAMETERS,
            f"the model must have <= {MAX_PARAMETERS} parameters, but controller_size="
            f"{self.controller_size}, controller_layers={self.controller_layers}, "
            f"memory_n={n}, memory_m={m} give {params}.",
        )

    def parameter_count(self) -> int:
        """The number of parameters of ``ntm.model.NTM(self)`` (learned memory included)."""
        c, heads, m = self.controller_size, self.read_heads + self.write_heads, self.memory_m
        g = 4 * c if self.controller == "lstm" else c
        lstm = self.controller == "lstm"
        controller = g * (self.input_size + self.read_heads * m) + self.controller_layers * g
        controller += (self.controller_layers - 1) * g * c + (
            self.controller_layers * g * c if lstm else 0
        )
        head_out = heads * (m + 3 + self.num_shifts) + 2 * self.write_heads * m
        projection = (c + 1) * head_out
        output = (c + self.read_heads * m + 1) * self.output_size
        memory = self.memory_n * m if self.memory_init == "learned" else 0
        bias = self.read_heads * m + heads * self.memory_n if self.learn_bias else 0
        return controller + projection + output + memory + bias

    @property
    def num_shifts(self) -> int:
        """2s+1, the width of the shift weighting."""
        return 2 * self.shift_range + 1
