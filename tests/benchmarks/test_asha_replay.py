"""benchmarks/asha_replay.py on benchmarks/tasks.py JSON lines: each run replayed as a trial
through Ray's real ASHA schedulers, and whether a schedule would stop the eventual winner.

Run as a script (the tests import nothing from ``benchmarks``), on hand-made learning curves.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.search.mlflow_helpers import ROOT

SCRIPT = ROOT / "benchmarks" / "asha_replay.py"
STEP = 1000  # the runs' evaluation spacing, and the replays' report size


def run_line(seed: int, curve: list[float], final: float) -> str:
    """One tasks.py JSON line: evaluations every STEP sequences."""
    points = [[STEP * (i + 1), value] for i, value in enumerate(curve)]
    run = {"task": "ngrams", "model": "ntm", "seed": seed, "sequences": STEP * len(curve)}
    return json.dumps(run | {"final_objective": final, "objective_curve": points})


def replay(path: Path, grace: int) -> tuple[dict[int, dict[str, Any]], dict[str, Any]]:
    argv = [sys.executable, str(SCRIPT), str(path), "--task", "ngrams", "--report-sequences",
            str(STEP), "--max-iterations", "10", "--grace-period", str(grace)]  # fmt: skip
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    rows = {int(r["run"].split()[2]): r for r in lines if not r.get("summary")}
    return rows, lines[-1]


def test_a_late_learner_is_cut_by_early_rungs_and_kept_by_late_ones(tmp_path: Path) -> None:
    runs = tmp_path / "runs.jsonl"
    runs.write_text("\n".join([
        run_line(0, [40, 30, 25, 22, 20, 18, 17, 16, 15, 15, 15, 15], final=15.0),
        run_line(1, [45, 35, 30, 28, 26, 25, 24, 23, 22, 21], final=20.0),
        run_line(2, [50, 50, 50, 50, 10, 5, 2, 1, 1, 1], final=1.0),  # breaks through at 5k
        json.dumps({"summary": True}),
    ]) + "\n")  # fmt: skip
    early, early_summary = replay(runs, grace=2)
    late, late_summary = replay(runs, grace=5)
    # The winner is the lowest final objective (held sequences), not the best early curve.
    assert early_summary["winner"].startswith("ntm seed 2") and early_summary["runs"] == 3
    # Rungs before the break-through cut it with the other loser; the leader runs on.
    assert early_summary["winner_stopped_plain"] == 2 == early[2]["plain_stop"]
    assert early[1]["plain_stop"] == 2 and early[0]["plain_stop"] is None
    assert early[2]["plain_stop_sequences"] == 2 * STEP
    # A first rung past the break-through keeps it; the worst run is still cut there.
    assert late_summary["winner_stopped_plain"] is None is late_summary["winner_stopped_fair"]
    assert late[1]["plain_stop"] == 5 and late[0]["plain_stop"] is None
    # A run reaching the last iteration (max_iterations 10) completes: it is not "stopped" there,
    # though its curve goes on (seed 0's 12 evaluations).
    assert late_summary["stopped_plain"] == 1 and early_summary["stopped_plain"] == 2


def test_a_file_that_is_not_tasks_output_is_one_line_and_exit_2(tmp_path: Path) -> None:
    runs = tmp_path / "runs.jsonl"
    argv = [sys.executable, str(SCRIPT), str(runs), "--task", "ngrams"]
    no_curve = json.dumps({"task": "ngrams", "model": "ntm", "seed": 0}) + "\n"
    no_run = json.dumps({"summary": True}) + "\n"
    cases = {
        no_curve: f"asha_replay: {runs}:1 has no objective_curve (not tasks.py output?)",
        no_run: f"asha_replay: {runs} holds no benchmarks/tasks.py run",
    }
    for text, message in cases.items():
        runs.write_text(text)
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and done.stderr.strip() == message, done.stderr[-2000:]
        assert done.stdout == ""
