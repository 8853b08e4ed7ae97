"""LearningProgressScheduler: Exp3.S over levels, driven by synthetic per-batch losses."""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter

import pytest

from curricula import LearningProgressScheduler
from curricula.learning_progress import _quantile


def test_starts_uniform_at_start_level() -> None:
    sched = LearningProgressScheduler(start_level=3, target_level=6)
    # Rule 1: all weights 0 give the uniform policy.
    assert sched.policy() == pytest.approx([0.25] * 4)
    # Rule 5: ties go to the lowest level, so the level starts at start_level.
    assert sched.level == 3 and sched.observe(0, {}).level == 3 and not sched.at_target


def test_mass_moves_to_the_level_whose_loss_keeps_dropping() -> None:
    sched = LearningProgressScheduler(start_level=1, target_level=4, eta=0.05)
    rng, noise = random.Random(0), random.Random(1)
    visits = Counter[int]()
    for step in range(2000):
        level = sched.next_level(rng)
        visits[level] += 1
        # Level 3 improves by 0.01 bits per visit; the others stay flat; all are noisy.
        trend = 20.0 - 0.01 * visits[level] if level == 3 else 5.0 * level
        sched.record_batch(level, trend + noise.gauss(0.0, 0.02))
        if step % 100 == 0:
            sched.observe(step, {})
    pi = sched.policy()
    # Rules 2-4: the arm with positive progress gets most of the mass ...
    assert pi[2] > 0.5 and all(pi[2] > 3 * p for i, p in enumerate(pi) if i != 2)
    # ... so it is played most, and rule 5 makes it the level.
    assert visits.most_common(1)[0][0] == 3
    assert sched.level == 3 and sched.history[0][1] == 3


def test_exp3s_update_known_answer() -> None:
    sched = LearningProgressScheduler(target_level=2, eta=1.0, alpha=0.1, epsilon=0.05)
    sched.record_batch(2, 1.0)  # rule 2: baseline only, no update
    sched.record_batch(2, 1.0)  # progress 0, window [0]: lo == hi == v, reward 0
    # Rule 4: a zero reward with beta=0 leaves equal weights equal.
    assert sched.state_dict()["weights"] == [0.0, 0.0]
    sched.record_batch(2, 0.0)  # progress 1, window [0, 1]: 1 > hi = 0.8, reward +1
    # Rule 4 by hand: pi = [0.5, 0.5], so level 2 gets eta * 1 / 0.5 = 2 before mixing.
    w1 = math.log(0.9 * 1.0 + 0.1 * math.exp(2.0))
    w2 = math.log(0.9 * math.exp(2.0) + 0.1 * 1.0)
    assert sched.state_dict()["weights"] == pytest.approx([w1 - w2, 0.0])
    # Rule 1: pi = 0.95 * softmax(w) + 0.05 / 2.
    p2 = 0.95 / (1.0 + math.exp(w1 - w2)) + 0.025
    assert sched.policy() == pytest.approx([1.0 - p2, p2])


def test_history_records_changes_of_the_mode_both_ways() -> None:
    sched = LearningProgressScheduler(target_level=2, eta=1.0, alpha=0.0)
    for loss in (1.0, 1.0, 0.0):
        sched.record_batch(2, loss)
    up = sched.observe(10, {})
    # Rule 5: the mode moved to level 2, a raise.
    assert (up.level, up.raised) == (2, True)
    sched.record_batch(1, 5.0)
    sched.record_batch(1, 0.0)  # progress 5 is above the 80th percentile: reward +1
    down = sched.observe(20, {})
    # Rule 5: the mode moved back to level 1; recorded in history, but not a raise.
    assert (down.level, down.raised) == (1, False)
    assert sched.history == [(10, 2), (20, 1)]


def test_next_level_samples_from_the_policy() -> None:
    sched = LearningProgressScheduler(target_level=3, eta=1.0)
    for loss in (3.0, 3.0, 2.0):
        sched.record_batch(3, loss)
    pi = sched.policy()
    rng = random.Random(5)
    counts = Counter(sched.next_level(rng) for _ in range(20_000))
    # Rule 1: the levels drawn follow pi.
    for level in (1, 2, 3):
        assert counts[level] / 20_000 == pytest.approx(pi[level - 1], abs=0.02)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nonfinite_loss_is_counted_and_ignored(bad: float) -> None:
    sched = LearningProgressScheduler(target_level=3, eta=1.0)
    sched.record_batch(2, 1.0)
    before = sched.state_dict()
    sched.record_batch(2, bad)
    after = sched.state_dict()
    # Rule 6: no update and the arm's previous loss is kept ...
    assert after["weights"] == before["weights"]
    assert after["last_loss"] == before["last_loss"] == [None, 1.0, None]
    # ... and the batch is counted.
    assert after["nonfinite_batches"] == 1


def test_progress_window_is_bounded() -> None:
    sched = LearningProgressScheduler(target_level=2, reservoir_size=10)
    losses = [float(50 - i) for i in range(51)]
    for loss in losses:
        sched.record_batch(1, loss)
    # Rule 3: the window keeps only the last reservoir_size progress values.
    assert sched.state_dict()["progress"] == [1.0] * 10


def test_quantile_matches_statistics_inclusive() -> None:
    data = sorted([3.0, -1.0, 0.5, 7.0, 2.0, 2.0, -4.0])
    expected = statistics.quantiles(data, n=5, method="inclusive")
    # Rule 3: linear interpolation, as statistics' inclusive method (and NumPy's default).
    assert [_quantile(data, q) for q in (0.2, 0.4, 0.6, 0.8)] == pytest.approx(expected)
    # A window of one value is its own quantile.
    assert _quantile([4.0], 0.2) == 4.0


def test_single_level_is_at_target() -> None:
    sched = LearningProgressScheduler(start_level=5, target_level=5)
    sched.record_batch(5, 2.0)
    sched.record_batch(5, 1.0)
    # Rule 4: one arm has nothing to learn; its policy is 1 and it is the target.
    assert sched.policy() == [1.0] and sched.at_target
    assert sched.next_level(random.Random(0)) == 5


def test_record_batch_rejects_a_level_outside_the_range() -> None:
    # record_batch takes only levels in [start_level, target_level].
    with pytest.raises(ValueError, match=r"level must be in \[1, 20\], but got level=21"):
        LearningProgressScheduler().record_batch(21, 1.0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("eta", 0.0),
        ("eta", -1.0),
        ("beta", -0.5),
        ("epsilon", 0.0),
        ("epsilon", 1.5),
        ("alpha", -0.1),
        ("alpha", 1.1),
        ("reservoir_size", 0),
        ("reservoir_size", 10.0),
    ],
)
def test_bad_params_name_the_field(field: str, value: object) -> None:
    # A bad parameter gives a ValueError naming the field and the value.
    with pytest.raises(ValueError, match=f"{field}.*{field}="):
        LearningProgressScheduler(**{field: value})  # type: ignore[arg-type]
