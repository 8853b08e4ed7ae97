"""The project as an installed package (issue 15): a wheel with the shipped search spaces and
the console scripts, installed without the repository and run from an empty directory."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.search.mlflow_helpers import ROOT, SEARCH_TIMEOUT_S, search_env, short_tmp

_SOURCES = ("ntm", "curricula", "search", "pyproject.toml", "README.md")
SCRIPTS = ("ntm-search", "ntm-export", "ntm-train", "ntm-evaluate")


def build_wheel(tmp: Path) -> Path:
    """A wheel built from a copy of the sources (the build writes nothing into the repo)."""
    src = tmp / "src"
    for name in _SOURCES:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(ROOT / name, src / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, src / name)
    argv = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*argv, "-w", str(tmp / "dist"), str(src)], check=True, timeout=300)
    (wheel,) = (tmp / "dist").glob("ntm_search-*.whl")
    return wheel


def venv_with_wheel(tmp: Path, wheel: Path) -> Path:
    """A fresh venv that reuses this environment's dependencies (a .pth line) and holds the
    wheel, installed --no-deps; the repository's editable install is not visible in it."""
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    Path(purelib.stdout.strip(), "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    argv = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps"]
    subprocess.run([*argv, "--no-index", str(wheel)], check=True, timeout=300)
    return venv


@pytest.mark.slow
def test_wheel_installs_and_searches_from_an_empty_directory() -> None:
    tmp = short_tmp()
    try:
        venv = venv_with_wheel(tmp, build_wheel(tmp))
        cwd = tmp / "empty"
        cwd.mkdir()
        env = search_env(cwd)
        # every console script is installed and answers --help
        for script in SCRIPTS:
            done = subprocess.run([str(venv / "bin" / script), "--help"], cwd=cwd, env=env,
                                  capture_output=True, text=True, timeout=120)  # fmt: skip
            assert done.returncode == 0 and "usage:" in done.stdout, (script, done.stderr[-2000:])
        code = "import search.space.load as s; print(s.__file__, s.default_space_path('copy'))"
        python = str(venv / "bin" / "python")
        where = subprocess.run([python, "-c", code], cwd=cwd, env=env, capture_output=True,
                               text=True, check=True).stdout.split()  # fmt: skip
        # the package is the installed one, and its default space shipped as package data
        assert all(Path(p).is_relative_to(venv) for p in where) and Path(where[1]).is_file()
        done = subprocess.run([str(venv / "bin" / "ntm-search"), "--smoke-test"], cwd=cwd,
                              env=env, capture_output=True, text=True,
                              timeout=SEARCH_TIMEOUT_S)  # fmt: skip
        # the default search runs from an empty directory, its results beside it
        assert done.returncode == 0, done.stderr[-3000:]
        assert "top 4 of 4 trials:" in done.stdout
        name = done.stdout.split(": experiment ", 1)[1].split()[0]
        assert (cwd / "ray_results" / name / "results.csv").is_file()
        exported = subprocess.run([str(venv / "bin" / "ntm-export"), "--experiment", name,
                                   "--out", "exported", "--lengths", "3"], cwd=cwd, env=env,
                                  capture_output=True, text=True, timeout=180)  # fmt: skip
        # and the installed export finds it with its defaults
        assert exported.returncode == 0, exported.stderr[-2000:]
        assert (cwd / "exported" / "model.pt").is_file()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
