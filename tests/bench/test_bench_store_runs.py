"""The store benchmark runs end to end at toy sizes, so its recorded figures stay reproducible."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).with_name("bench_store.py")


@pytest.mark.slow
def test_store_benchmark_runs_every_kind_of_run_and_checks_its_claims(tmp_path: Path) -> None:
    figures, slow_log = tmp_path / "figures.json", tmp_path / "slow.txt"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--agents", "3", "--seconds", "0.5", "--tasks", "400",
         "--read-tasks", "300", "--reads", "20", "--variants", "raw", "--pace", "30", "--warmup", "0.1",
         "--dir", str(tmp_path / "dbs"), "--json", str(figures), "--slow-log", str(slow_log)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr

    (runs,) = json.loads(figures.read_text())["rounds"]
    assert [r["label"] for r in runs] == [
        "raw SQL baseline, 1 process",
        "store, 3 agents",
        "raw SQL, 3 processes",
        "store, 3 agents, paced 30 msg/s each",
        "raw SQL, 3 processes, paced 30 msg/s each",
    ]
    for run in runs[1:]:
        assert run["counts"]["claim"] > 0 and run["counts"]["heartbeat"] > 0
        assert run["double_claims"] == 0
        assert run["busy"] == 0
    assert "| store, 3 agents, paced 30 msg/s each |" in done.stdout
    assert "store.get_task" in done.stdout
    # One section per multi-process run, even when none of its writes was slow.
    assert slow_log.read_text().count("# round 1: ") == 4
