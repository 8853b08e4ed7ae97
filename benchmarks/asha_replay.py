r"""ASHA and curricula, measured: replay a finished search's reports through Ray's plain
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

    .venv/bin/python benchmarks/tasks.py --task ngrams --seeds 3 --budget 200000 > runs.jsonl
    .venv/bin/python benchmarks/asha_replay.py runs.jsonl --task ngrams
    .venv/bin/python benchmarks/asha_replay.py runs.jsonl --task ngrams --report-sequences 1024 \
        --max-iterations 100 --grace-period 10          # the generic schedule, for comparison

Given a file of ``benchmarks/tasks.py`` JSON lines instead of an experiment directory, each run
is replayed as one trial of a search under the task's schedule: its ``objective_curve`` (one
evaluation every ``--eval-sequences``) becomes its reports, at iteration ``sequences //
report_sequences``, all runs advancing at the same pace (as concurrent trials would); a rung
judges a run at its first evaluation at or past the rung. It prints, per run, where each
scheduler would stop it and its final objective on held sequences, then whether the winner (the
lowest final objective) would have been stopped. This answers "are the rungs too early for this
task's learning curves" with runs far longer than any search on this machine.
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


def curve_reports(path: Path, report_sequences: int) -> dict[str, tuple[dict[str, Any], list]]:
    """Each ``benchmarks/tasks.py`` run of ``path`` (summary lines skipped) as a trial: its id
    (model, seed, the ``--set`` changes, line number), its JSON line, and its reports."""
    out: dict[str, tuple[dict[str, Any], list]] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        run = json.loads(line) if line.strip() else {}
        if not run or run.get("summary"):
            continue
        if "objective_curve" not in run:
            raise ValueError(f"{path}:{number} has no objective_curve (not tasks.py output?)")
        changes = "".join(f" {k}={v}" for k, v in run.get("set", {}).items())
        tid = f"{run['model']} seed {run['seed']}{changes} (line {number})"
        reports: dict[int, dict[str, Any]] = {}
        for sequences, objective in run["objective_curve"]:
            iteration = int(sequences) // report_sequences
            if iteration >= 1:  # one report per iteration: the newest evaluation in it
                reports[iteration] = {"training_iteration": iteration, "objective": objective,
                                      "sequences": sequences, "timestamp": sequences}  # fmt: skip
        out[tid] = (run, list(reports.values()))
    if not out:
        raise ValueError(f"{path} holds no benchmarks/tasks.py run")
    return out


def replay_curves(path: Path, cfg: Any, asha: dict[str, Any]) -> None:
    """The tasks.py runs of ``path`` through both schedulers (see the module docstring)."""
    runs = curve_reports(path, cfg.report_sequences)
    reports = {tid: rows for tid, (_, rows) in runs.items()}
    plain = replay(ASHAScheduler(**asha), reports)
    fair = replay(CurriculumASHA(curriculum_grace=cfg.curriculum_grace_iterations, **asha), reports)
    for tid, (run, _) in runs.items():
        print(json.dumps({
            "run": tid, "final_objective": run["final_objective"], "sequences": run["sequences"],
            "plain_stop": plain.get(tid), "fair_stop": fair.get(tid),
            "plain_stop_sequences": plain[tid] * cfg.report_sequences if tid in plain else None,
            "fair_stop_sequences": fair[tid] * cfg.report_sequences if tid in fair else None,
        }), flush=True)  # fmt: skip
    winner = min(runs, key=lambda tid: runs[tid][0]["final_objective"])
    print(json.dumps({
        "summary": True, "runs": len(runs), "report_sequences": cfg.report_sequences,
        "grace": cfg.grace, "first_rung_sequences": cfg.grace * cfg.report_sequences,
        "max_iterations": cfg.max_iterations, "reduction_factor": cfg.reduction_factor,
        "winner": winner, "winner_final_objective": runs[winner][0]["final_objective"],
        "winner_stopped_plain": plain.get(winner), "winner_stopped_fair": fair.get(winner),
        "stopped_plain": len(plain), "stopped_fair": len(fair),
    }), flush=True)  # fmt: skip


def replay(scheduler: ASHAScheduler, reports: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """The iteration at which ``scheduler`` stops each trial it stops before its last
    iteration (``max_t``: there a trial completes, it is not stopped; later reports are not
    fed, as the search would not have made them)."""
    max_t = scheduler._max_t  # Ray keeps it private; it ends every trial there
    trials = {tid: Trial("replay", stub=True, trial_id=tid) for tid in reports}
    for trial in trials.values():
        scheduler.on_trial_add(None, trial)  # type: ignore[arg-type]
    arrivals = sorted(
        ((r["timestamp"], rows[0]["timestamp"], tid, i) for tid, rows in reports.items()
         for i, r in enumerate(rows)),
    )  # fmt: skip
    stopped: dict[str, int] = {}
    for _, _, tid, i in arrivals:
        result = reports[tid][i]
        if tid in stopped or result["training_iteration"] > max_t:
            continue
        action = scheduler.on_trial_result(None, trials[tid], result)  # type: ignore[arg-type]
        if action == TrialScheduler.STOP and result["training_iteration"] < max_t:
            stopped[tid] = int(result["training_iteration"])
    return stopped


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("experiment", type=Path,
                   help="the experiment directory (ray_results/NAME), or a file of "
                   "benchmarks/tasks.py JSON lines")  # fmt: skip
    p.add_argument("search_options", nargs=argparse.REMAINDER,
                   help="search/run.py options that set ASHA (--task, --space, --max-iterations, "
                   "--grace-period, --curriculum-grace, --reduction-factor)")  # fmt: skip
    args = p.parse_args(argv)
    cfg = parse_search_args([*args.search_options, "--storage-path", str(args.experiment.parent)])
    asha: dict[str, Any] = {"time_attr": "training_iteration", "metric": "objective", "mode": "min"}
    asha |= {"max_t": cfg.max_iterations, "grace_period": cfg.grace}
    asha |= {"reduction_factor": cfg.reduction_factor}
    if args.experiment.is_file():
        try:
            replay_curves(args.experiment, cfg, asha)
        except ValueError as error:
            print(f"asha_replay: {error}", file=sys.stderr)
            return 2
        return 0
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
