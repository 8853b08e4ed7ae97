"""The space as a PBT/PB2 population (search/space/population.py) and --scheduler's input rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from ray.tune.schedulers import ASHAScheduler, PopulationBasedTraining
from ray.tune.schedulers.pb2 import PB2
from ray.tune.search.sample import Categorical, Float, Integer

from ntm.cli import UsageError, guarded
from search.launch.cli import PROG, parse_search_args
from search.launch.config import SearchConfig, load_search_space
from search.launch.schedulers import make_scheduler
from search.launch.tuner import build_tuner
from search.run import main
from search.space.format import SpaceError
from search.space.load import default_space_path, load_space
from search.space.parse import parse_space
from search.space.population import population, ray_domain


def test_copy_space_population_follows_the_rules() -> None:
    pop = population(load_space(str(default_space_path("copy"))))
    # Rule 2: of curriculum's choices, mixed activates the most explored parameters
    assert pop.curriculum == "mixed" and pop.param_space["curriculum"] == "mixed"
    # Rule 1: lr and the searched numeric pace parameters are explored (start_level is not a
    # curriculum parameter: it only matters at the start)
    explored = ["lr", "patience", "min_delta", "mastery_threshold", "step", "uniform_fraction"]
    assert [p.name for p in pop.explored] == explored
    assert "start_level" in pop.param_space and "start_level" not in pop.mutations()
    # Rule 3: what the first start point sets is fixed for the whole population
    assert pop.param_space["controller_size"] == 100 and pop.param_space["batch_size"] == 16
    # Rule 5: parameters of other curricula are left out
    assert "stages" not in pop.param_space
    # PB2's bounds are the space's ranges
    assert pop.bounds()["lr"] == [1e-4, 1e-2] and pop.bounds()["patience"] == [2.0, 8.0]


def test_ray_domains_keep_the_space_bounds() -> None:
    space = parse_space(
        {
            "task": "copy",
            "params": {
                "controller_size": {"int": [64, 128], "step": 16},
                "curriculum": "plateau",
                "patience": {"int": [2, 8]},
                "lr": {"loguniform": [1e-3, 1e-2]},
                "batch_size": {"choice": [8, 16]},
            },
        },
        source="t.yaml",
    )
    size, _, patience, lr, batch = (ray_domain(p) for p in space.params)
    # an int range with a step is exactly its grid; without, both bounds are included
    assert isinstance(size, Categorical) and size.categories == [64, 80, 96, 112, 128]
    assert isinstance(patience, Integer) and (patience.lower, patience.upper) == (2, 9)
    assert isinstance(lr, Float) and (lr.lower, lr.upper) == (1e-3, 1e-2)
    assert isinstance(batch, Categorical) and batch.categories == [8, 16]


def test_explored_values_are_clipped_to_their_range_and_step() -> None:
    pop = population(load_space(str(default_space_path("copy"))))
    config = {"lr": 0.05, "patience": 8 * 1.2, "step": 0.4, "uniform_fraction": 0.123}
    config |= {"min_delta": -0.1, "mastery_threshold": 0.5, "batch_size": 16}
    clipped = pop.clip(config)
    # PBT's *1.2 / PB2's floats come back inside the space: ints rounded, bounds kept
    assert clipped["lr"] == 1e-2 and clipped["patience"] == 8 and clipped["step"] == 1
    assert isinstance(clipped["patience"], int) and clipped["min_delta"] == 0.0
    assert clipped["uniform_fraction"] == 0.123 and clipped["batch_size"] == 16


def test_condition_on_a_searched_parent_is_refused() -> None:
    space = parse_space(
        {
            "task": "copy",
            "params": {
                "optimizer": {"choice": ["adam", "rmsprop"]},
                "momentum": {"uniform": [0.5, 0.9], "when": {"optimizer": "rmsprop"}},
            },
        },
        source="t.yaml",
    )
    # Rule 5: a condition must resolve for the whole population
    with pytest.raises(SpaceError, match=r"params.momentum: .* \['optimizer'\] are searched"):
        population(space)
    # ...which a start point that fixes the parent does
    fixed = parse_space(
        {
            "task": "copy",
            "params": {
                "optimizer": {"choice": ["adam", "rmsprop"]},
                "momentum": {"uniform": [0.5, 0.9], "when": {"optimizer": "rmsprop"}},
            },
            "start_points": [{"optimizer": "rmsprop"}],
        },
        source="t.yaml",
    )
    assert population(fixed).param_space["optimizer"] == "rmsprop"


def test_every_shipped_space_makes_a_population() -> None:
    for task in ("copy", "repeat_copy", "associative_recall", "priority_sort", "ngrams"):
        pop = population(load_space(str(default_space_path(task))))
        # every space explores at least the learning rate
        assert pop.explored[0].name == "lr", task


def test_scheduler_flag_builds_the_scheduler(tmp_path: Path) -> None:
    base = ["--smoke-test", "--no-tracking", "--storage-path", str(tmp_path)]
    kinds = {"asha": ASHAScheduler, "pbt": PopulationBasedTraining, "pb2": PB2}
    for name, kind in kinds.items():
        cfg = parse_search_args([*base, "--scheduler", name])
        tuner = build_tuner(cfg, load_search_space(cfg), None)
        assert tuner._local_tuner is not None
        tune_config = tuner._local_tuner._tune_config
        # Rule: --scheduler reaches the Tuner; PBT/PB2 run without the Optuna searcher
        assert isinstance(tune_config.scheduler, kind), name
        assert (type(tune_config.search_alg).__name__ == "NTMOptunaSearch") == (name == "asha")
    # Rule: PBT trials checkpoint at every perturbation
    assert SearchConfig(scheduler="pbt", max_iterations=50).trial_settings().checkpoint_every == 5
    assert SearchConfig().trial_settings().checkpoint_every == 0
    with pytest.raises(ValueError, match="needs the space's population"):
        make_scheduler("pbt", curriculum_grace=3, max_t=4, interval=1, reduction_factor=3.0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--scheduler", "hyperband"], "--scheduler must be one of ['asha', 'pbt', 'pb2'], but"),
        (["--scheduler", "pbt", "--confirm-top", "2"], "cannot replay a --scheduler pbt"),
        (["--perturbation-interval", "0"], "--perturbation-interval must be in [1, --max-"),
    ],
)
def test_bad_scheduler_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    storage = tmp_path / "results"
    with pytest.raises(SystemExit) as info:
        guarded(PROG, lambda: main([*argv, "--storage-path", str(storage), "--no-tracking"]))
    err = capsys.readouterr().err
    # Rule: exit 2, one line naming the flag and the allowed values, nothing written
    assert info.value.code == 2
    assert message in err and err.count("\n") == 1, err
    assert not storage.exists()
    with pytest.raises(UsageError):
        SearchConfig(scheduler="PBT")
