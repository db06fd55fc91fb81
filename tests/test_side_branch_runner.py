"""SideBranchDagRunner on a small real TFX pipeline (Python-function components, ML Metadata in SQLite): a side
node runs in the worker process beside the main path, what reads it waits for it, its error fails the run, and
before the worker is ready it runs in the run's own process."""

import json
import os
import time

import pytest
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.orchestration import metadata as tfx_metadata
from tfx.orchestration.pipeline import Pipeline
from tfx.types.standard_artifacts import String

from pipeline import metadata, side_branch_runner
from pipeline.side_branch_runner import SideBranchDagRunner

PIPELINE_NAME = "side-branch-test"
NODE_SECONDS = 3.0


def _record(log_dir: str, node: str, started: float) -> None:
    with open(os.path.join(log_dir, f"{node}.json"), "w") as f:
        json.dump({"pid": os.getpid(), "start": started, "end": time.time()}, f)


@component
def Source(log_dir: Parameter[str], wait_for_worker: Parameter[int], out: OutputArtifact[String]) -> None:
    started = time.time()
    if wait_for_worker:  # the side node then finds the worker ready
        run, = side_branch_runner._RUNS.values()
        while not run.worker.ready():
            time.sleep(0.1)
    _record(log_dir, "Source", started)


@component
def Side(log_dir: Parameter[str], fail: Parameter[int], source: InputArtifact[String],
         out: OutputArtifact[String]) -> None:
    started = time.time()
    time.sleep(NODE_SECONDS)
    if fail:
        raise ValueError("the side node's own error")
    _record(log_dir, "Side", started)


@component
def Main(log_dir: Parameter[str], source: InputArtifact[String], out: OutputArtifact[String]) -> None:
    started = time.time()
    time.sleep(NODE_SECONDS)
    _record(log_dir, "Main", started)


@component
def Sink(log_dir: Parameter[str], side: InputArtifact[String], main: InputArtifact[String]) -> None:
    _record(log_dir, "Sink", time.time())


def _run(tmp_path, wait_for_worker: bool, fail: bool = False) -> dict:
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    source = Source(log_dir=str(log_dir), wait_for_worker=int(wait_for_worker))
    side = Side(log_dir=str(log_dir), fail=int(fail), source=source.outputs["out"])
    main = Main(log_dir=str(log_dir), source=source.outputs["out"])
    sink = Sink(log_dir=str(log_dir), side=side.outputs["out"], main=main.outputs["out"])
    pipeline = Pipeline(pipeline_name=PIPELINE_NAME, pipeline_root=str(tmp_path / "root"),
                        components=[source, side, main, sink], enable_cache=False,
                        metadata_connection_config=tfx_metadata.sqlite_metadata_connection_config(
                            str(tmp_path / "metadata.sqlite")))
    SideBranchDagRunner(side_nodes=["Side"]).run(pipeline)
    return {path.stem: json.loads(path.read_text()) for path in log_dir.glob("*.json")}


@pytest.mark.slow
def test_a_side_node_runs_in_the_worker_beside_the_main_path(tmp_path):
    nodes = _run(tmp_path, wait_for_worker=True)
    assert nodes["Side"]["pid"] != os.getpid()
    assert nodes["Source"]["pid"] == nodes["Main"]["pid"] == nodes["Sink"]["pid"] == os.getpid()
    assert nodes["Side"]["start"] < nodes["Main"]["end"] and nodes["Main"]["start"] < nodes["Side"]["end"]
    assert nodes["Sink"]["start"] >= max(nodes["Side"]["end"], nodes["Main"]["end"])
    record = metadata.latest_run(str(tmp_path / "metadata.sqlite"), PIPELINE_NAME)
    assert {node: record.node(node).state for node in nodes} == dict.fromkeys(nodes, "COMPLETE")
    assert not side_branch_runner._RUNS


@pytest.mark.slow
def test_a_failed_side_node_fails_the_run_and_nothing_downstream_runs(tmp_path):
    with pytest.raises(ValueError, match="the side node's own error"):
        _run(tmp_path, wait_for_worker=True, fail=True)
    assert sorted(p.stem for p in (tmp_path / "log").glob("*.json")) == ["Main", "Source"]
    record = metadata.latest_run(str(tmp_path / "metadata.sqlite"), PIPELINE_NAME)
    assert record.node("Side").state == "FAILED" and "Sink" not in record.nodes
    assert not side_branch_runner._RUNS


def test_before_the_worker_is_ready_a_side_node_runs_here(tmp_path):
    nodes = _run(tmp_path, wait_for_worker=False)
    assert {node["pid"] for node in nodes.values()} == {os.getpid()}
    assert nodes["Sink"]["start"] >= nodes["Side"]["end"]
