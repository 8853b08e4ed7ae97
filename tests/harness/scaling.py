"""Scale-out of a search: trials completed per hour on 1, 2 and 3 Ray nodes of one CPU each.

Run: ``.venv/bin/python -m tests.harness.scaling`` (``--smoke-test`` for a quick check).

Each node count gets a fresh ``ray.cluster_utils`` cluster on this machine (a CPU-less head plus
N one-CPU workers, all on 127.0.0.1; ``tests.harness.local_cluster``) and runs the same Tune
search: ``--trials`` trials of a tiny real NTM training (copy, ``--steps`` steps, one torch
thread), one trial per CPU, a fresh worker process per trial (``--reuse-actors``: Tune reuses
it). All nodes share this machine, so throughput stops growing at its core count (2 on the dev
machines) however many nodes there are.

One JSON line per node count:
``{"nodes", "cpus_per_node", "reuse_actors", "trials", "steps", "wall_s", "trials_per_hour",
"trial_compute_s", "overhead_s_per_trial", "gap_s", "nodes_used", "cores", "ray", "torch"}``.

- ``wall_s``: from ``Tuner.fit()`` to its return (cluster start-up excluded).
- ``trial_compute_s``: mean time inside the trainable (model build + training).
- ``overhead_s_per_trial``: slot-seconds not spent in the trainable, per trial:
  ``nodes * wall_s / trials - trial_compute_s`` (worker start, imports, scheduling, result and
  checkpoint handling, plus any idle tail). It is what limits scale-out once trials are short.
- ``gap_s``: mean time between one trial's end and the next trial's start on the same node.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from search.cluster.env import set_ray_env  # noqa: E402  (imports nothing but os)

set_ray_env([])  # loopback-only Ray, set before anything below imports Ray

import ray  # noqa: E402
import torch  # noqa: E402
from ray import tune  # noqa: E402

from curricula import CurriculumConfig  # noqa: E402
from ntm.cli import Parser, guarded  # noqa: E402
from ntm.config import NTMConfig  # noqa: E402
from ntm.tasks import TaskConfig  # noqa: E402
from ntm.train_config import RunConfig, TrainConfig  # noqa: E402
from ntm.trainer import Trainer  # noqa: E402
from tests.harness.local_cluster import local_cluster  # noqa: E402


def trainable(config: dict[str, Any]) -> None:
    """A tiny copy-task NTM trained for ``config["steps"]`` steps; reports where and how long."""
    started = time.time()
    torch.set_num_threads(1)
    steps = int(config["steps"])
    run = RunConfig(
        task=TaskConfig(name="copy", params={"max_length": 4, "bits": 4}),
        model=NTMConfig(controller_size=16, memory_n=16, memory_m=8),
        curriculum=CurriculumConfig(name="none"),
        train=TrainConfig(
            batch_size=4, steps=steps, report_every=steps, eval_every=steps, eval_batch=8,
            seed=int(config["seed"]), threads=1,
        ),
    )  # fmt: skip
    history = Trainer(run).run()
    tune.report(
        {
            "loss": float(history[-1]["loss"]) if history else float("nan"),
            "node_id": ray.get_runtime_context().get_node_id(),
            "started": started,
            "finished": time.time(),
        }
    )


def measure(
    nodes: int, *, trials: int, steps: int, storage: Path, reuse_actors: bool
) -> dict[str, Any]:
    """One search of ``trials`` trials on a fresh cluster of ``nodes`` one-CPU workers."""
    # Ray's and Tune's console output goes to stderr: stdout carries only the JSON lines.
    with contextlib.redirect_stdout(sys.stderr), local_cluster(workers=nodes, cpus_per_worker=1):
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": 1}),
            param_space={"seed": tune.grid_search(list(range(trials))), "steps": steps},
            tune_config=tune.TuneConfig(reuse_actors=reuse_actors),
            run_config=tune.RunConfig(
                name=f"scaling-{nodes}", storage_path=str(storage), verbose=0
            ),
        )
        begin = time.time()
        results = tuner.fit()
        wall = time.time() - begin
    if results.num_errors:
        raise RuntimeError(f"{results.num_errors} of {trials} trials failed on {nodes} node(s)")
    metrics = [results[i].metrics or {} for i in range(len(results))]
    compute = statistics.fmean(m["finished"] - m["started"] for m in metrics)
    by_node: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for m in metrics:
        by_node[m["node_id"]].append((m["started"], m["finished"]))
    gaps = [
        b[0] - a[1] for spans in by_node.values() for a, b in zip(sorted(spans), sorted(spans)[1:])
    ]
    return {
        "nodes": nodes,
        "cpus_per_node": 1,
        "reuse_actors": reuse_actors,
        "trials": trials,
        "steps": steps,
        "wall_s": round(wall, 2),
        "trials_per_hour": round(3600 * trials / wall, 1),
        "trial_compute_s": round(compute, 3),
        "overhead_s_per_trial": round(nodes * wall / trials - compute, 3),
        "gap_s": round(statistics.fmean(gaps), 3) if gaps else None,
        "nodes_used": len(by_node),
        "cores": os.cpu_count(),
        "ray": ray.__version__,
        "torch": torch.__version__,
    }


def main() -> int:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 3], help="node counts")
    parser.add_argument("--trials", type=int, default=12, help="trials per search (default 12)")
    parser.add_argument("--steps", type=int, default=60, help="training steps per trial")
    parser.add_argument("--storage", type=Path, default=Path("/tmp/ntm-scaling"))
    parser.add_argument(
        "--reuse-actors",
        action="store_true",
        help="reuse a trial's worker process for the next trial (default: a fresh one per trial)",
    )
    parser.add_argument("--smoke-test", action="store_true", help="1 and 2 nodes, 4 short trials")
    args = parser.parse_args()
    if args.smoke_test:
        args.nodes, args.trials, args.steps = [1, 2], 4, 10
    for name in ("trials", "steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, but got {getattr(args, name)}")
    if any(n < 1 for n in args.nodes):
        parser.error(f"--nodes must all be >= 1, but got {args.nodes}")
    for nodes in args.nodes:
        line = measure(
            nodes,
            trials=args.trials,
            steps=args.steps,
            storage=args.storage,
            reuse_actors=args.reuse_actors,
        )
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(guarded("scaling.py", main))
