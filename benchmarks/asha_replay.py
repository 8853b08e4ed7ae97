"""ASHA and curricula, measured: replay a finished search's reports through Ray's plain
``ASHAScheduler`` and the search's ``CurriculumASHA`` (``search/launch/asha.py``).

    .venv/bin/python search/run.py --experiment fair-copy          # a search, CurriculumASHA
    .venv/bin/python benchmarks/asha_replay.py ray_results/fair-copy
    .venv/bin/python benchmarks/asha_replay.py ray_results/rc --task repeat_copy --grace-period 10

The search ran with ``CurriculumASHA``, the more lenient of the two, so every report either
scheduler needs is on disk: each trial's ``result.json`` lines are fed to a fresh scheduler
of each kind in the order they arrived (their ``timestamp``, then the trial's start), with
the search's default ASHA settings (grace, reduction factor, curriculum grace; pass
``--max-iterations`` if the search changed it). For every trial it prints whether and at which
iteration each scheduler would stop it, with its curriculum and how it ended in the real run
(``status``, ``stop_reason``, final objective, whether it reached its target level), as JSON
lines, then a summary: curriculum trials stopped at the first rung by each scheduler, and how
many of those reached their target level or solved in the real run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from ray.tune.experiment import Trial  # noqa: E402
from ray.tune.schedulers import ASHAScheduler, TrialScheduler  # noqa: E402

from ntm.stopping import SOLVED  # noqa: E402
from search.launch.asha import CurriculumASHA  # noqa: E402
from search.launch.cli import parse_search_args  # noqa: E402


def trial_reports(experiment: Path) -> dict[str, list[dict[str, Any]]]:
    """Each trial's reports (``result.json`` lines), by trial id, in the order made."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(experiment.glob("*/result.json")):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if rows:
            out[str(rows[0]["trial_id"])] = rows
    return out


def replay(scheduler: ASHAScheduler, reports: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """The iteration at which ``scheduler`` stops each trial it stops."""
    trials = {tid: Trial("replay", stub=True, trial_id=tid) for tid in reports}
    for trial in trials.values():
        scheduler.on_trial_add(None, trial)  # type: ignore[arg-type]
    arrivals = sorted(
        ((r["timestamp"], rows[0]["timestamp"], tid, i) for tid, rows in reports.items()
         for i, r in enumerate(rows)),
    )  # fmt: skip
    stopped: dict[str, int] = {}
    for _, _, tid, i in arrivals:
        if tid in stopped:
            continue
        result = reports[tid][i]
        action = scheduler.on_trial_result(None, trials[tid], result)  # type: ignore[arg-type]
        if action == TrialScheduler.STOP:
            stopped[tid] = int(result["training_iteration"])
    return stopped


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("experiment", type=Path, help="the experiment directory (ray_results/NAME)")
    p.add_argument("search_options", nargs=argparse.REMAINDER,
                   help="search/run.py options that set ASHA (--task, --space, --max-iterations, "
                   "--grace-period, --curriculum-grace, --reduction-factor)")  # fmt: skip
    args = p.parse_args(argv)
    cfg = parse_search_args([*args.search_options, "--storage-path", str(args.experiment.parent)])
    asha: dict[str, Any] = {"time_attr": "training_iteration", "metric": "objective", "mode": "min"}
    asha |= {"max_t": cfg.max_iterations, "grace_period": cfg.grace}
    asha |= {"reduction_factor": cfg.reduction_factor}
    reports = trial_reports(args.experiment)
    plain = replay(ASHAScheduler(**asha), reports)
    fair = replay(CurriculumASHA(curriculum_grace=cfg.curriculum_grace_iterations, **asha), reports)
    summary = {"summary": True, "trials": len(reports), "grace": cfg.grace,
               "curriculum_grace": cfg.curriculum_grace_iterations,
               "max_iterations": cfg.max_iterations}  # fmt: skip
    counts: dict[str, int] = {"curriculum_trials": 0, "plain_first_rung": 0, "fair_first_rung": 0,
              "plain_first_rung_reached_target": 0, "plain_first_rung_solved": 0}  # fmt: skip
    for tid, rows in reports.items():
        last = rows[-1]
        curriculum = str(last.get("config", {}).get("curriculum", "none"))
        reached = any(r.get("level", 0) >= r.get("target_level", 1) for r in rows)
        row: dict[str, Any] = {
            "trial": tid,
            "curriculum": curriculum,
            "iterations": len(rows),
            "plain_stop": plain.get(tid),
            "fair_stop": fair.get(tid),
            "status": last.get("status"),
            "final_objective": last.get("objective"),
            "target_reached": reached,
            "stop_reason": last.get("stop_reason"),
            "solved": last.get("stop_reason") == SOLVED,
        }
        print(json.dumps(row), flush=True)
        if curriculum == "none":
            continue
        counts["curriculum_trials"] += 1
        if plain.get(tid) == cfg.grace:
            counts["plain_first_rung"] += 1
            counts["plain_first_rung_reached_target"] += int(row["target_reached"])
            counts["plain_first_rung_solved"] += int(row["solved"])
        counts["fair_first_rung"] += int(fair.get(tid) == cfg.grace)
    print(json.dumps(summary | counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
