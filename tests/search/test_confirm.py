"""Seeds drawn per trial, and --confirm-top K --confirm-seeds S: the K best configurations
trained again with S fresh seeds, ranked by their mean and worst objective everywhere."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pandas as pd
import pytest

from search.exporter.candidates import from_mlflow, from_ray, select
from search.launch.confirm import RERUN_KEY
from search.tracking.client import connect
from search.tracking.runs import find_parent
from search.trial.experiment_files import CONFIRMED_FILE
from tests.search.mlflow_helpers import ray_reports, run_search, short_tmp

K, S, TRIALS = 2, 2, 3


def params(trial_dir: Path) -> dict:
    return json.loads((trial_dir / "params.json").read_text())


@pytest.mark.slow
def test_confirmation_retrains_the_best_with_fresh_seeds() -> None:
    root = short_tmp()
    uri = f"sqlite:///{root}/mlflow.db"
    extra = ["--num-samples", str(TRIALS), "--confirm-top", str(K), "--confirm-seeds", str(S)]
    done = run_search(root / "ray", "conf", uri, *extra, cwd=root)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    experiment, confirm = root / "ray" / "conf", root / "ray" / "conf-confirm"
    trials = {p.name: params(p) for p in experiment.iterdir() if (p / "params.json").is_file()}
    reruns = [params(p)[RERUN_KEY] for p in confirm.iterdir() if (p / "params.json").is_file()]
    # Rule: every trial has its own drawn seed (not one seed for all).
    assert len({c["seed"] for c in trials.values()}) == TRIALS
    # Rule: K configurations x S fresh seeds were trained again, each seed new...
    assert len(reruns) == K * S
    seeds = [c["seed"] for c in reruns]
    assert len(set(seeds)) == K * S and not set(seeds) & {c["seed"] for c in trials.values()}
    confirmed = json.loads((experiment / CONFIRMED_FILE).read_text())
    assert len(confirmed) == K
    # ...with exactly the source trial's configuration but the seed.
    for trial_id, values in confirmed.items():
        mine = [c for c in reruns if str(c["seed"]) in values["confirm_seeds"].split()]
        assert len(mine) == S
        strip = {k: v for k, v in trials[trial_id].items() if k not in ("seed",)}
        assert all({k: v for k, v in c.items() if k != "seed"} == strip for c in mine)
    # Rule: the ranking input is the mean and worst objective over the re-runs' last reports.
    objectives = {
        params(p)[RERUN_KEY]["seed"]: ray_reports(confirm, p.name)[-1]["objective"]
        for p in confirm.iterdir()
        if (p / "result.json").is_file()
    }
    for values in confirmed.values():
        mine = [objectives[int(s)] for s in values["confirm_seeds"].split()]
        assert values["confirm_mean_objective"] == pytest.approx(statistics.fmean(mine))
        assert values["confirm_worst_objective"] == pytest.approx(max(mine))
    table = pd.read_csv(experiment / "results.csv", dtype={"trial_id": str})
    # Rule: the confirmed trials rank first, by their confirmed mean objective...
    head = table.head(K)
    assert set(head["trial_id"]) == set(confirmed)
    assert list(head["confirm_mean_objective"]) == sorted(head["confirm_mean_objective"])
    # ...and the printed table, the CSV, MLflow's best tag and the export agree on it.
    printed = done.stdout.split("trials:\n", 1)[1].splitlines()[1].split()[0]
    client = connect(uri)
    parent = find_parent(client, "conf", finished=True)
    assert parent is not None
    tagged = client.get_run(parent).data.tags["best_trial_id"]
    by_ray = select(from_ray(experiment), metric=None, mode="min").trial_id
    from_runs = from_mlflow(uri, "conf", root / "scratch")
    assert from_runs is not None
    by_mlflow = select(from_runs, metric=None, mode="min").trial_id
    assert printed == table["trial_id"].iloc[0] == tagged == by_ray == by_mlflow
