"""Remote storage end to end (issue 15): a smoke search with ``--storage-path s3://...``
against a real S3-compatible server (moto's server mode on 127.0.0.1, started here), its top
trials' artifacts in MLflow, the export read straight from the bucket, and the bad inputs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from search.tracking.client import connect
from search.tracking.finish import TOP_K_ARTIFACTS, ranked_runs
from search.tracking.runs import child_runs, find_parent
from tests.search.mlflow_helpers import (
    EXPORT,
    RUN,
    SEARCH_TIMEOUT_S,
    assert_reproduces,
    free_port,
    kill_group,
    search_env,
    short_tmp,
)

BUCKET, PREFIX, EXPERIMENT = "ntm-bucket", "team/ray", "s3smoke"


@dataclass(frozen=True)
class S3Search:
    root: Path
    endpoint: str
    tracking_uri: str
    env: dict[str, str]

    @property
    def storage(self) -> str:
        return f"s3://{BUCKET}/{PREFIX}"

    def keys(self, prefix: str = PREFIX) -> list[str]:
        s3 = boto3.client("s3", endpoint_url=self.endpoint, **_CREDENTIALS)
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]


_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "region_name": "us-east-1",
}


def s3_env(root: Path, endpoint: str) -> dict[str, str]:
    env = search_env(root)
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=endpoint,
               AWS_EC2_METADATA_DISABLED="true")  # fmt: skip
    return env


def _wait_for_bucket(endpoint: str, proc: subprocess.Popen[bytes]) -> None:
    s3 = boto3.client("s3", endpoint_url=endpoint, **_CREDENTIALS)
    deadline = time.monotonic() + 60
    while True:
        try:
            s3.create_bucket(Bucket=BUCKET)
            return
        except Exception:  # not listening yet
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("moto server did not start")
            time.sleep(0.3)


@pytest.fixture(scope="module")
def s3_search() -> Iterator[S3Search]:
    """moto on a free loopback port, a bucket, and one smoke search stored in it."""
    root = short_tmp()
    port = free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(argv, cwd=root, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_for_bucket(endpoint, proc)
        env = s3_env(root, endpoint)
        found = S3Search(root, endpoint, f"sqlite:///{root}/mlflow.db", env)
        argv = [sys.executable, str(RUN), "--smoke-test", "--experiment", EXPERIMENT]
        argv += ["--storage-path", found.storage, "--tracking-uri", found.tracking_uri]
        done = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True,
                              timeout=SEARCH_TIMEOUT_S)  # fmt: skip
        if done.returncode != 0:
            pytest.fail(f"s3 smoke search failed ({done.returncode}):\n{done.stderr[-3000:]}")
        assert "cannot be read from here" not in done.stderr
        yield found
    finally:
        kill_group(proc)  # type: ignore[arg-type]
        shutil.rmtree(root, ignore_errors=True)


def export(
    s3: S3Search, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(EXPORT), *args]
    return subprocess.run(argv, cwd=s3.root, env=env or s3.env, capture_output=True, text=True,
                          timeout=180)  # fmt: skip


@pytest.mark.slow
def test_search_writes_trials_and_checkpoints_to_the_bucket(s3_search: S3Search) -> None:
    keys = s3_search.keys(f"{PREFIX}/{EXPERIMENT}/")
    # the experiment state, every trial's reports and checkpoints, and the table are in S3
    assert any(k.rsplit("/", 1)[1].startswith("experiment_state") for k in keys)
    assert sum(k.endswith("/result.json") for k in keys) == 4
    assert any("/checkpoint_" in k and k.endswith("/checkpoint.pt") for k in keys)
    assert f"{PREFIX}/{EXPERIMENT}/results.csv" in keys
    # and nothing was written to a local directory named after the URI
    assert not (s3_search.root / "s3:").exists()


@pytest.mark.slow
def test_top_trials_artifacts_reach_mlflow(s3_search: S3Search) -> None:
    client = connect(s3_search.tracking_uri)
    parent = find_parent(client, EXPERIMENT, finished=True)
    assert parent is not None
    ranked = ranked_runs(child_runs(client, parent))[:TOP_K_ARTIFACTS]
    assert ranked
    for run in ranked:
        # the checkpoint tag is the S3 URI, and its files and plots were logged
        assert run.data.tags["checkpoint_path"].startswith(f"s3://{BUCKET}/{PREFIX}/")
        files = {a.path for a in client.list_artifacts(run.info.run_id, "checkpoint")}
        plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
        assert "checkpoint/checkpoint.pt" in files
        assert "plots/learning_curve.png" in plots


@pytest.mark.slow
def test_export_reads_the_bucket_and_reproduces_the_metric(s3_search: S3Search) -> None:
    out = s3_search.root / "exported"
    done = export(s3_search, "--storage-path", s3_search.storage, "--experiment", EXPERIMENT,
                  "--out", str(out), "--tracking-uri", s3_search.tracking_uri)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    # the chosen trial's report at the checkpoint's step, read back from S3
    key = f"{PREFIX}/{EXPERIMENT}/{metrics['trial_id']}/result.json"
    s3 = boto3.client("s3", endpoint_url=s3_search.endpoint, **_CREDENTIALS)
    lines = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode().splitlines()
    recorded = next(r for r in map(json.loads, lines) if r["step"] == metrics["step"])
    # the exported model gives the metric the search recorded, on the same seeded batch
    assert_reproduces(out, recorded)
    assert not [p for p in out.parent.glob(".exported*")]


def _one_line_exit_2(done: subprocess.CompletedProcess[str], text: str) -> None:
    err = done.stderr.strip()
    assert done.returncode == 2, err[-2000:]
    assert len(err.splitlines()) == 1 and text in err, err


@pytest.mark.slow
def test_missing_bucket_is_one_line(s3_search: S3Search) -> None:
    out = s3_search.root / "nothing"
    done = export(s3_search, "--storage-path", "s3://no-such-bucket/x", "--experiment",
                  EXPERIMENT, "--out", str(out))  # fmt: skip
    # export: one line naming the bucket, exit 2, nothing written
    _one_line_exit_2(done, "bucket 'no-such-bucket' does not exist")
    assert not out.exists()
    argv = [sys.executable, str(RUN), "--smoke-test", "--storage-path", "s3://no-such-bucket/x",
            "--no-tracking"]  # fmt: skip
    cwd = s3_search.root / "search-cwd"
    cwd.mkdir()
    ran = subprocess.run(argv, cwd=cwd, env=s3_search.env, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    # the search too, before Ray starts or anything is written
    _one_line_exit_2(ran, "bucket 'no-such-bucket' does not exist")
    assert list(cwd.iterdir()) == []


@pytest.mark.slow
def test_unreachable_endpoint_is_one_line(s3_search: S3Search) -> None:
    env = {**s3_search.env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    out = s3_search.root / "nothing"
    done = export(s3_search, "--storage-path", s3_search.storage, "--experiment", EXPERIMENT,
                  "--out", str(out), env=env)  # fmt: skip
    # nothing listens there: one line, exit 2, nothing written
    _one_line_exit_2(done, "cannot be reached")
    assert not out.exists()


@pytest.mark.slow
def test_no_finished_trial_on_remote_storage(s3_search: S3Search) -> None:
    s3 = boto3.client("s3", endpoint_url=s3_search.endpoint, **_CREDENTIALS)
    source = f"{PREFIX}/{EXPERIMENT}/"
    for key in s3_search.keys(source):  # the experiment again, without its checkpoints
        if "/checkpoint_" not in key:
            target = key.replace(f"{PREFIX}/", "bare/", 1)
            s3.copy_object(Bucket=BUCKET, Key=target, CopySource={"Bucket": BUCKET, "Key": key})
    out = s3_search.root / "nothing"
    done = export(s3_search, "--storage-path", f"s3://{BUCKET}/bare", "--experiment",
                  EXPERIMENT, "--out", str(out))  # fmt: skip
    # trials, but none with a checkpoint: one line saying what was found, exit 2
    _one_line_exit_2(done, "no finished trial with a checkpoint to export")
    assert not out.exists()
