"""PlateauScheduler against synthetic loss streams (numbers refer to its rule list)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import pytest

from curricula import PlateauScheduler

NAN = float("nan")
INF = float("inf")


def raises_at(
    sched: PlateauScheduler, losses: Sequence[float], errors: Sequence[float] | None = None
) -> list[int]:
    """Indices of the reports (0-based, report i at step i) at which the level went up."""
    raised = []
    for i, loss in enumerate(losses):
        bit_errors = 10.0 if errors is None else errors[i]
        if sched.observe(i, {"loss": loss, "bit_errors": bit_errors}).raised:
            raised.append(i)
    return raised


def make(**params: object) -> PlateauScheduler:
    """A plateau scheduler with mastery off unless asked for."""
    params.setdefault("mastery_threshold", None)
    return PlateauScheduler(**params)  # type: ignore[arg-type]


def test_flat_loss_raises_after_exactly_patience_reports() -> None:
    sched = make(patience=3)
    # Rule 7: report 0 sets best, reports 1-3 do not improve, the raise is at report 3;
    # the next level needs 4 more reports (4 sets best, 5-7 flat), and so on.
    assert raises_at(sched, [2.0] * 12) == [3, 7, 11]
    # Each raise is one (step, level) entry in history.
    assert sched.history == [(3, 2), (7, 3), (11, 4)]


def test_patience_one() -> None:
    # With patience=1 a single report without improvement makes a plateau.
    assert raises_at(make(patience=1), [2.0] * 6) == [1, 3, 5]


def test_improving_loss_holds() -> None:
    sched = make(patience=2)
    # Rule 6: a loss that keeps dropping resets the counter at every report.
    assert raises_at(sched, [10.0 - 0.1 * i for i in range(50)]) == []
    assert sched.level == 1


def test_noise_below_min_delta_is_a_plateau() -> None:
    noisy = [2.0, 1.96, 2.03, 1.97, 2.02, 1.95]
    # Rule 6: changes within min_delta=0.1 of best do not reset the counter.
    assert raises_at(make(patience=3, min_delta=0.1), noisy) == [3]
    # With min_delta=0 the dip to 1.96 at report 1 is an improvement: the raise comes at 4.
    assert raises_at(make(patience=3, min_delta=0.0), noisy) == [4]


def test_improvement_must_beat_best_by_more_than_min_delta() -> None:
    # Rule 6: best stays at 2.0 until beaten by > 0.1, so slow drift of 0.06 per report
    # resets the counter every second report (1.88 < 1.9) and never raises.
    drift = [2.0 - 0.06 * i for i in range(20)]
    assert raises_at(make(patience=2, min_delta=0.1), drift) == []


def test_warmup_reports_are_skipped() -> None:
    # Rule 3: warmup=2 skips reports 0-1, report 2 sets best, 3-5 are flat, raise at 5.
    assert raises_at(make(patience=3, warmup=2), [2.0] * 10) == [5, 9]
    # Rule 3: warmup applies once, at the start; with mastery on it blocks mastery too.
    sched = make(patience=3, warmup=2, mastery_threshold=0.5)
    assert raises_at(sched, [2.0] * 4, errors=[0.0] * 4) == [2, 3]


def test_cooldown_delays_the_next_raise_by_cooldown_reports() -> None:
    # Rule 3: after the raise at report 3, reports 4-5 are skipped, 6 sets best, 7-9 flat.
    assert raises_at(make(patience=3, cooldown=2), [2.0] * 14) == [3, 9]
    # Rule 3: no raise happens during cooldown, not even by mastery.
    sched = make(patience=3, cooldown=2, mastery_threshold=0.5)
    assert raises_at(sched, [2.0] * 7, errors=[0.0] * 7) == [0, 3, 6]


def test_mastery_raises_immediately() -> None:
    sched = make(patience=100, mastery_threshold=0.5)
    errors = [3.0, 0.4, 1.0, 0.5, 0.49]
    # Rule 4: bit_errors < mastery_threshold raises at once, whatever the patience;
    # exactly at the threshold (0.5) does not.
    assert raises_at(sched, [1.0, 0.9, 0.8, 0.7, 0.6], errors=errors) == [1, 4]
    # The default threshold is 0.5 bit errors per sequence.
    assert PlateauScheduler().observe(0, {"loss": 9.0, "bit_errors": 0.1}).raised


def test_mastery_off_needs_no_bit_errors() -> None:
    sched = make(patience=1)
    # With mastery_threshold=None only the loss is read.
    assert sched.observe(0, {"loss": 1.0}).level == 1
    # With mastery on, bit_errors is required.
    with pytest.raises(ValueError, match="bit_errors"):
        PlateauScheduler().observe(0, {"loss": 1.0})


@pytest.mark.parametrize("bad", [NAN, INF, -INF])
def test_nonfinite_metrics_are_counted_and_ignored(bad: float) -> None:
    sched = make(patience=2, mastery_threshold=0.5)
    losses = [2.0, bad, 2.0, 2.0, bad, 2.0, 2.0]
    errors = [1.0, 1.0, bad, 1.0, 1.0, bad, 1.0]
    # Rule 1: a non-finite loss or bit_errors neither raises nor advances patience;
    # report 0 sets best and only the finite reports 3 and 6 count, so the raise is at 6.
    assert raises_at(sched, losses, errors=errors) == [6]
    # Rule 1: each such report is counted in the state.
    assert sched.state_dict()["nonfinite_reports"] == 4


def test_nonfinite_bit_errors_ignored_when_mastery_is_off() -> None:
    sched = make(patience=1)
    # Rule 1: bit_errors is not read with mastery off, so its NaN is not counted.
    assert raises_at(sched, [1.0, 1.0], errors=[NAN, NAN]) == [1]
    assert sched.nonfinite_reports == 0


def test_nonfinite_does_not_advance_warmup() -> None:
    # Rule 1 before rule 3: NaN reports do not use up warmup (2 finite reports skipped).
    assert raises_at(make(patience=1, warmup=2), [NAN, 1.0, NAN, 1.0, 1.0, 1.0]) == [5]


def test_nonfinite_does_not_reset_best() -> None:
    # Rule 1: a NaN between two flat reports is not an improvement (best stays 1.0).
    assert raises_at(make(patience=2), [1.0, 1.0, NAN, 1.0]) == [3]


def test_raise_resets_best_for_the_new_level() -> None:
    # Rule 8: the loss at level 2 (5.0, 4.0, 3.0) is compared with itself, not with the
    # 1.0 reached at level 1, so it counts as improving.
    losses = [1.0, 1.0, 5.0, 4.0, 3.0, 3.0]
    assert raises_at(make(patience=1), losses) == [1, 5]


def test_capped_at_target() -> None:
    sched = make(start_level=15, target_level=20, patience=1, step=4)
    # Rule 8: 15 -> 19 -> 20 (capped), and rule 2: never beyond target_level.
    assert raises_at(sched, [1.0] * 20) == [1, 3]
    assert (sched.level, sched.at_target) == (20, True)
    assert sched.history == [(1, 19), (3, 20)]


def test_factor_increase() -> None:
    sched = make(patience=1, increase="factor", factor=1.5)
    raises_at(sched, [1.0] * 30)
    # Rule 8: max(level + 1, ceil(level * 1.5)), capped: 1 2 3 5 8 12 18 20.
    assert [level for _, level in sched.history] == [2, 3, 5, 8, 12, 18, 20]


def test_factor_increase_absorbs_float_error() -> None:
    sched = make(start_level=10, patience=1, increase="factor", factor=1.1)
    raises_at(sched, [1.0] * 2)
    # Rule 8: 10 * 1.1 is 11.000000000000002 in floats, and the raise goes to 11, not 12.
    assert sched.level == 11


def test_smoothing_is_an_ema_of_the_loss() -> None:
    sched = make(patience=5, smoothing=0.75)
    raises_at(sched, [4.0, 0.0])
    # Rule 5: s = 0.75 * 4.0 + 0.25 * 0.0 after the second report.
    assert sched.state_dict()["smoothed"] == pytest.approx(3.0)


def test_smoothing_damps_a_single_dip() -> None:
    losses = [2.0, 2.0, 1.0, 2.0, 2.0, 2.0, 2.0]
    # Rule 5: without smoothing the dip to 1.0 becomes best and 2.0 never beats it.
    assert raises_at(make(patience=2), losses) == [4]
    # With smoothing 0.9 the dip only moves s to 1.9, which min_delta=0.2 ignores
    # (the raise at 2, then level 2 plateaus at 3-5).
    assert raises_at(make(patience=2, min_delta=0.2, smoothing=0.9), losses) == [2, 5]


def test_state_round_trip_mid_stream() -> None:
    params = {"patience": 2, "min_delta": 0.01, "smoothing": 0.5, "cooldown": 1}
    losses = [3.0 - 0.5 * math.sin(i) for i in range(40)]
    reference = make(**params)
    expected = [reference.observe(i, {"loss": x}) for i, x in enumerate(losses)]
    first = make(**params)
    for i, x in enumerate(losses[:17]):
        first.observe(i, {"loss": x})
    resumed = make(**params)
    resumed.load_state_dict(json.loads(json.dumps(first.state_dict(), allow_nan=False)))
    # A JSON round trip of the state gives the same future decisions and history.
    assert [resumed.observe(i, {"loss": losses[i]}) for i in range(17, 40)] == expected[17:]
    assert resumed.state_dict() == reference.state_dict()
    assert len(reference.history) >= 2


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("patience", 0),
        ("patience", True),
        ("patience", 2.5),
        ("min_delta", -0.1),
        ("min_delta", NAN),
        ("warmup", -1),
        ("smoothing", 1.0),
        ("smoothing", -0.1),
        ("mastery_threshold", -1.0),
        ("increase", "linear"),
        ("step", 0),
        ("factor", 1.0),
        ("cooldown", -1),
    ],
)
def test_bad_params_name_the_field(field: str, value: object) -> None:
    # A bad parameter gives a one-line ValueError naming the field and the value.
    with pytest.raises(ValueError, match=f"{field}.*{field}=") as info:
        PlateauScheduler(**{field: value})  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


def test_patience_message() -> None:
    # The message says what is allowed and what was given.
    with pytest.raises(ValueError) as info:
        PlateauScheduler(patience=0)
    assert str(info.value) == "patience must be >= 1, but got patience=0."
