"""NTMConfig's size limits, and bad command lines refused before anything is created."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ntm.config import MAX_MEMORY_ELEMENTS, MAX_PARAMETERS, NTMConfig
from ntm.model import NTM

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("controller", "layers", "memory_init", "learn_bias"),
    list(
        itertools.product(["lstm", "feedforward"], [1, 3], ["constant", "learned"], [True, False])
    ),
)
def test_parameter_count_is_the_models(
    controller: str, layers: int, memory_init: str, learn_bias: bool
) -> None:
    config = NTMConfig(
        input_size=3, output_size=4, controller=controller, controller_size=7,
        controller_layers=layers, memory_n=17, memory_m=5, read_heads=2, write_heads=3,
        shift_range=2, memory_init=memory_init, learn_bias=learn_bias,
    )  # fmt: skip
    # Rule: the count the size check uses is the built model's, without building it.
    assert config.parameter_count() == sum(p.numel() for p in NTM(config).parameters())


def test_too_large_models_are_refused() -> None:
    # Rule: memory beyond MAX_MEMORY_ELEMENTS per sequence, or parameters beyond
    # MAX_PARAMETERS, is a ValueError naming the fields, raised before any allocation.
    with pytest.raises(ValueError, match=r"memory_n \* memory_m must be <= "):
        NTMConfig(memory_n=MAX_MEMORY_ELEMENTS // 20 + 1, memory_m=20)
    NTMConfig(memory_n=MAX_MEMORY_ELEMENTS // 20, memory_m=20, controller_size=1)
    with pytest.raises(ValueError, match=f"must have <= {MAX_PARAMETERS} parameters"):
        NTMConfig(controller_size=10_000)


def _train(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # inductor's cache goes to TMPDIR unless TORCHINDUCTOR_CACHE_DIR says otherwise
    env = {k: v for k, v in os.environ.items() if k != "TORCHINDUCTOR_CACHE_DIR"}
    env["TMPDIR"] = str(tmp)
    return subprocess.run(
        [sys.executable, "-m", "ntm.train", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--memory-n", "1000000000000"], "memory_n"),
        (["--controller-size", "100000"], "parameters"),
        (["--curriculum", "bogus"], "curriculum"),
        (["--curriculum", "plateau", "--patience", "0"], "patience"),
    ],
)
def test_bad_input_creates_nothing(tmp_path: Path, args: list[str], field: str) -> None:
    result = _train(tmp_path, *args)
    # Rule: one line on stderr naming the field, exit 2, no traceback ...
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and field in result.stderr
    # ... and nothing created first: no torchinductor_* cache directory in TMPDIR.
    assert list(tmp_path.iterdir()) == []
