"""make_optimizer: each optimisation option gives the torch.optim optimizer it names."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from ntm.build import make_optimizer
from ntm.train_config import TrainConfig

STEPS = 6


def toy_parameters() -> list[torch.nn.Parameter]:
    """A fixed start for the toy problem: a 3x4 weight and a bias."""
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(3, 4, generator=gen)
    bias = torch.randn(3, generator=gen)
    return [torch.nn.Parameter(weight), torch.nn.Parameter(bias)]


def trajectory(optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter]) -> list[Any]:
    """The parameters after each of STEPS steps on a fixed least-squares problem."""
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(16, 4, generator=gen), torch.randn(16, 3, generator=gen)  # [B, 4], [B, 3]
    out = []
    for _ in range(STEPS):
        optimizer.zero_grad()
        loss = ((x @ params[0].T + params[1] - y) ** 2).mean()
        loss.backward()
        optimizer.step()
        out.append([p.detach().clone() for p in params])
    return out


RMSPROP = [  # (lr, momentum, alpha, centered)
    (1e-4, 0.9, 0.95, False),  # pytorch-ntm's recipe
    (1e-4, 0.9, 0.99, False),  # the paper's, with torch's default alpha
    (1e-2, 0.5, 0.9, True),  # centered, as in Graves 2013
    (3e-3, 0.0, 0.95, True),  # no momentum
]


@pytest.mark.parametrize(("lr", "momentum", "alpha", "centered"), RMSPROP)
def test_rmsprop_options_give_torchs_rmsprop(
    lr: float, momentum: float, alpha: float, centered: bool
) -> None:
    train = TrainConfig(
        optimizer="rmsprop", lr=lr, momentum=momentum, rmsprop_alpha=alpha,
        rmsprop_centered=centered,
    )  # fmt: skip
    ours = toy_parameters()
    theirs = toy_parameters()
    reference = torch.optim.RMSprop(
        theirs, lr=lr, alpha=alpha, momentum=momentum, centered=centered
    )
    # Rule: every update equals a hand-built torch.optim.RMSprop's with the same arguments.
    for got, want in zip(
        trajectory(make_optimizer(train, ours), ours),
        trajectory(reference, theirs),
        strict=True,
    ):
        for g, w in zip(got, want, strict=True):
            torch.testing.assert_close(g, w, rtol=0, atol=0)


def test_rmsprop_alpha_and_centered_change_the_updates() -> None:
    def end(**options: Any) -> torch.Tensor:
        params = toy_parameters()
        train = TrainConfig(optimizer="rmsprop", lr=1e-2, **options)
        return trajectory(make_optimizer(train, params), params)[-1][0]

    base = end()
    # Rule: the options reach the optimizer (the test above is not vacuous): alpha 0.95 and
    # centered each give other parameters than torch's defaults (alpha 0.99, not centered).
    assert not torch.allclose(end(rmsprop_alpha=0.95), base)
    assert not torch.allclose(end(rmsprop_centered=True), base)
    torch.testing.assert_close(end(rmsprop_alpha=0.99, rmsprop_centered=False), base)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rmsprop_alpha": 0.0}, "rmsprop_alpha must be in (0, 1), but got rmsprop_alpha=0.0."),
        ({"rmsprop_alpha": 1.0}, "rmsprop_alpha must be in (0, 1), but got rmsprop_alpha=1.0."),
        ({"rmsprop_alpha": -0.5}, "rmsprop_alpha must be in (0, 1), but got rmsprop_alpha=-0.5."),
        (
            {"rmsprop_centered": "yes"},
            "rmsprop_centered must be one of [True, False], but got rmsprop_centered='yes'.",
        ),
    ],
)
def test_out_of_range_rmsprop_options_are_refused(options: dict[str, Any], message: str) -> None:
    # Rule: a value outside its range is a one-line ValueError naming the field and the
    # allowed values.
    with pytest.raises(ValueError) as info:
        TrainConfig(optimizer="rmsprop", **options)
    assert str(info.value) == message
