"""A run killed during training resumes with the same command: upstream from cache, ML Metadata consistent."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from pipeline import configs
from pipeline import pipeline as pipeline_lib
from pipeline.report import metadata
from tests.conftest import REPO_ROOT, run_cli

DATA_SIZE = 2000  # ratings: enough for a real Trainer, small enough to keep the test short


def _wait_for_running_trainer(process: subprocess.Popen, sqlite_path: str, timeout: float = 1500) -> None:
    """Polls ML Metadata until an execution of the Trainer node is RUNNING."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the run ended (exit {process.returncode}) before the Trainer started")
        if os.path.exists(sqlite_path):
            try:
                record = metadata.latest_run(sqlite_path, configs.PIPELINE_NAME)
            except Exception:  # the running pipeline holds a write lock; look again
                record = None
            trainer = record.node("Trainer") if record else None
            if trainer and trainer.state == "RUNNING":
                return
        time.sleep(0.5)
    raise AssertionError("the Trainer never started")


@pytest.mark.e2e
@pytest.mark.slow
def test_run_killed_during_training_resumes_from_cache(tmp_path):
    work_dir = str(tmp_path / "work")
    paths = configs.LocalPaths(work_dir)
    command = ("run", "--work-dir", work_dir, "--size", str(DATA_SIZE), "--min-auc", "0")  # blessing is not tested
    with open(tmp_path / "killed-run.log", "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "pipeline.cli.main", *command], cwd=REPO_ROOT, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_for_running_trainer(process, paths.metadata_path)
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    killed = metadata.latest_run(paths.metadata_path, configs.PIPELINE_NAME)
    print("killed run:", {node: record.state for node, record in killed.nodes.items()})

    result = run_cli(*command)  # the same command again
    print(result.stdout)
    runs = metadata.runs(paths.metadata_path, configs.PIPELINE_NAME)
    assert [run.run_id for run in runs] == [killed.run_id, runs[-1].run_id] and runs[-1].run_id != killed.run_id
    resumed = {node: record.state for node, record in runs[-1].nodes.items()}
    print("resumed run:", resumed)

    # The killed run: everything before the Trainer completed; the Trainer stays RUNNING, nothing after it ran.
    # A side branch (FeatureSnapshot) runs beside the Trainer: killed with it, or done before it.
    killed = runs[0]
    side = {node: killed.node(node).state for node in pipeline_lib.SIDE_BRANCH_NODES if node in killed.nodes}
    upstream = set(killed.nodes) - {"Trainer"} - set(side)
    assert {"SampleGen", "StatisticsGen", "ExampleValidator", "Transform"} <= upstream
    assert all(killed.node(node).state == "COMPLETE" for node in upstream)
    assert killed.node("Trainer").state == "RUNNING"
    assert not {"Evaluator", "Pusher"} & set(killed.nodes)
    assert set(side.values()) <= {"COMPLETE", "RUNNING"}, side
    # The resumed run reuses every upstream output, trains anew, and pushes.
    assert all(resumed[node] == "CACHED" for node in upstream), resumed
    assert all(resumed[node] == ("CACHED" if state == "COMPLETE" else "COMPLETE") for node, state in side.items())
    assert all(runs[-1].node(node).output(key).id == killed.node(node).output(key).id
               for node, key in (("SampleGen", "examples"), ("Transform", "transform_graph")))
    assert resumed["Trainer"] == resumed["Evaluator"] == resumed["Pusher"] == "COMPLETE"
    assert re.search(r"Transform\s+CACHED", result.stdout) and re.search(r"Trainer\s+COMPLETE", result.stdout)
    assert re.search(r"serving model: \S+ \(pushed\)", result.stdout)
    assert len(os.listdir(paths.serving_dir)) == 1
    # Record accounting, from the cached SampleGen output: ratings read = samples + skipped + rejected.
    counts = re.search(r"([\d,]+) ratings read = ([\d,]+) train \+ ([\d,]+) eval samples \+ ([\d,]+) skipped "
                       r"\(.*\) \+ ([\d,]+) rejected", result.stdout)
    read, *parts = (int(n.replace(",", "")) for n in counts.groups())
    assert read == sum(parts) and parts[0] > 0 and parts[1] > 0
