"""A search on a busy machine: the smoke test beside CPU-bound processes, per Ray worker niceness.

    python benchmarks/busy_machine.py                       # 2 busy processes, niceness 15 and 0
    python benchmarks/busy_machine.py --busy 2 --niceness 15 0 --repeats 2

For each niceness (``RAY_worker_niceness``: Ray's own default renices the trials to 15; the
local default of ``search/run.py`` is 0) and repeat, ``--busy`` plain Python busy loops run at
the ordinary priority while ``python search/run.py --smoke-test --no-tracking`` runs in a fresh
directory. Prints one JSON line per search: exit code, wall seconds, trials by final status
(from its results.csv) and the reports the trials made.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def one_search(niceness: int, workdir: Path, timeout: float) -> dict[str, object]:
    env = {**os.environ, "RAY_worker_niceness": str(niceness), "RAY_TMPDIR": str(workdir)}
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    argv = [sys.executable, str(ROOT / "search" / "run.py"), "--smoke-test", "--no-tracking"]
    argv += ["--experiment", "busy", "--storage-path", str(workdir / "results")]
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)  # fmt: skip
    out: dict[str, object] = {"niceness": niceness, "exit_code": done.returncode}
    out["wall_s"] = round(time.perf_counter() - start, 1)
    csv = workdir / "results" / "busy" / "results.csv"
    table = pd.read_csv(csv) if csv.is_file() else pd.DataFrame()
    out["trials"] = {
        str(k): int(v) for k, v in table.get("status", pd.Series()).value_counts().items()
    }
    out["reports"] = int(table["iterations"].sum()) if "iterations" in table else 0
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--busy", type=int, default=2, help="CPU-bound processes beside the search")
    p.add_argument("--niceness", type=int, nargs="+", default=[15, 0])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per search at most")
    a = p.parse_args(argv)
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(a.busy)]
    try:
        for niceness in a.niceness:
            for repeat in range(a.repeats):
                with tempfile.TemporaryDirectory(prefix="ntm-busy-", dir="/tmp") as tmp:
                    row = one_search(niceness, Path(tmp), a.timeout)
                print(json.dumps({"busy": a.busy, "repeat": repeat, **row}), flush=True)
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
