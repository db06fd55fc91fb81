"""SideBranchDagRunner on a small real TFX pipeline (Python-function components, ML Metadata in SQLite): a side
node runs in the worker process beside the main path, what reads it waits for it, the worker stops after the last
one, its error fails the run at the next node, and before the worker is ready it runs in the run's own process."""

import json
import os
import time

import pytest
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.orchestration import metadata as tfx_metadata
from tfx.orchestration.pipeline import Pipeline
from tfx.types.standard_artifacts import String

from pipeline import pipeline as pipeline_lib
from pipeline.report import metadata
from pipeline.runners import side_branch
from pipeline.runners.side_branch import SideBranchDagRunner
from tests.helpers.pipeline_ir import compiled_nodes

PIPELINE_NAME = "side-branch-test"
TIMEOUT = 120.0  # seconds a node waits for the other branch


def _record(log_dir: str, node: str, started: float, **more) -> None:
    with open(os.path.join(log_dir, f"{node}.json"), "w") as f:
        json.dump({"pid": os.getpid(), "start": started, "end": time.time(), **more}, f)


def _mark_running(log_dir: str, node: str) -> None:
    open(os.path.join(log_dir, f"{node}.running"), "w").close()


def _wait_until_running(log_dir: str, node: str) -> None:
    """Returns once `node` has marked itself running; times out if it does not run meanwhile."""
    deadline = time.monotonic() + TIMEOUT
    while not os.path.exists(os.path.join(log_dir, f"{node}.running")):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{node} did not run meanwhile")
        time.sleep(0.05)


def _current_run():
    run, = side_branch._RUNS.values()
    return run


# mode: "parallel" (the worker is ready for Side, which runs while Main does), "fail" (Side fails in the worker
# while Main runs) or "early" (Side comes up before the worker is ready).
@component
def Source(log_dir: Parameter[str], mode: Parameter[str], out: OutputArtifact[String]) -> None:
    started = time.time()
    if mode != "early":
        run = _current_run()
        while not run.worker.ready():
            time.sleep(0.1)
    _record(log_dir, "Source", started)


@component
def Side(log_dir: Parameter[str], mode: Parameter[str], source: InputArtifact[String],
         out: OutputArtifact[String]) -> None:
    started = time.time()
    if mode == "fail":
        raise ValueError("the side node's own error")
    if mode == "parallel":  # Main runs before, or meanwhile
        _mark_running(log_dir, "Side")
        _wait_until_running(log_dir, "Main")
    _record(log_dir, "Side", started)


@component
def Main(log_dir: Parameter[str], mode: Parameter[str], source: InputArtifact[String],
         out: OutputArtifact[String]) -> None:
    started = time.time()
    _mark_running(log_dir, "Main")
    side = _current_run().running.get("Side")  # None when Beam orders Main before Side
    if mode == "parallel" and side:  # both run at once, or this times out
        _wait_until_running(log_dir, "Side")
    if mode == "fail" and side:  # Side (in the worker) has failed when the next node starts
        side.exception(timeout=TIMEOUT)
    _record(log_dir, "Main", started, side_in_worker=bool(side))


@component
def Later(log_dir: Parameter[str], main: InputArtifact[String], out: OutputArtifact[String]) -> None:
    _record(log_dir, "Later", time.time())


def _stopped_within_timeout(pid: int) -> bool:
    deadline = time.monotonic() + TIMEOUT
    while os.path.exists(f"/proc/{pid}"):  # until it has exited and been reaped
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@component
def Sink(log_dir: Parameter[str], side: InputArtifact[String], later: InputArtifact[String]) -> None:
    with open(os.path.join(log_dir, "Side.json")) as f:
        side_pid = json.load(f)["pid"]
    worker_stopped = side_pid != os.getpid() and _stopped_within_timeout(side_pid)
    _record(log_dir, "Sink", time.time(), worker_stopped=worker_stopped)


def _run(tmp_path, mode: str) -> dict:
    log_dir = str(tmp_path / "log")
    os.mkdir(log_dir)
    source = Source(log_dir=log_dir, mode=mode)
    side = Side(log_dir=log_dir, mode=mode, source=source.outputs["out"])
    main = Main(log_dir=log_dir, mode=mode, source=source.outputs["out"])
    later = Later(log_dir=log_dir, main=main.outputs["out"])
    sink = Sink(log_dir=log_dir, side=side.outputs["out"], later=later.outputs["out"])
    pipeline = Pipeline(pipeline_name=PIPELINE_NAME, pipeline_root=str(tmp_path / "root"),
                        components=[source, side, main, later, sink], enable_cache=False,
                        metadata_connection_config=tfx_metadata.sqlite_metadata_connection_config(
                            str(tmp_path / "metadata.sqlite")))
    runner = SideBranchDagRunner(side_nodes=["Side"])
    runner.run(pipeline)
    _RUN_IDS.append(runner.run_id)
    return {path.stem: json.loads(path.read_text()) for path in (tmp_path / "log").glob("*.json")}


_RUN_IDS = []  # each _run's id, for the test below


@pytest.mark.slow
def test_a_side_node_runs_in_the_worker_beside_the_main_path(tmp_path):
    nodes = _run(tmp_path, "parallel")
    assert nodes["Side"]["pid"] != os.getpid()
    assert {nodes[node]["pid"] for node in ("Source", "Main", "Later", "Sink")} == {os.getpid()}
    if nodes["Main"]["side_in_worker"]:  # Beam ordered Side first: each waited until the other ran
        assert nodes["Side"]["start"] < nodes["Main"]["end"] and nodes["Main"]["start"] < nodes["Side"]["end"]
    assert nodes["Sink"]["start"] >= max(nodes["Side"]["end"], nodes["Main"]["end"])
    assert nodes["Sink"]["worker_stopped"]  # the last side node had run: the worker stopped while the run went on
    record = metadata.latest_run(str(tmp_path / "metadata.sqlite"), PIPELINE_NAME)
    assert {node: record.node(node).state for node in nodes} == dict.fromkeys(nodes, "COMPLETE")
    assert not side_branch._RUNS


@pytest.mark.slow
def test_a_failed_side_node_fails_the_run_at_the_next_node(tmp_path):
    with pytest.raises(ValueError, match="the side node's own error"):
        _run(tmp_path, "fail")
    nodes = {path.stem: json.loads(path.read_text()) for path in (tmp_path / "log").glob("*.json")}
    record = metadata.latest_run(str(tmp_path / "metadata.sqlite"), PIPELINE_NAME)
    assert record.node("Side").state == "FAILED" and "Sink" not in record.nodes and "Sink" not in nodes
    if nodes["Main"]["side_in_worker"]:  # Side failed while Main ran: Later, the next to start, does not
        assert "Later" not in nodes and "Later" not in record.nodes
    assert not side_branch._RUNS


def test_before_the_worker_is_ready_a_side_node_runs_here(tmp_path):
    nodes = _run(tmp_path, "early")
    assert {node["pid"] for node in nodes.values()} == {os.getpid()}
    assert nodes["Sink"]["start"] >= nodes["Side"]["end"]


def test_the_pipelines_side_branch_feeds_only_nodes_after_the_trainer():
    nodes = compiled_nodes(allow_anomalies=False)
    for side in pipeline_lib.SIDE_BRANCH_NODES:
        assert sorted(nodes[side].downstream_nodes) == ["CatalogueEvaluator", "Pusher"], side
        for downstream in nodes[side].downstream_nodes:  # the model path never waits for it
            assert "Trainer" in nodes[downstream].upstream_nodes, downstream
        assert "ExampleValidator" in nodes[side].upstream_nodes  # nothing is made of data that failed validation


def test_the_runner_names_its_own_run_in_ml_metadata(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    _run(first, "early")
    _run(second, "early")
    own_ids = _RUN_IDS[-2:]
    assert own_ids[0] != own_ids[1]
    record = metadata.run_by_id(str(first / "metadata.sqlite"), own_ids[0])
    assert record.run_id == own_ids[0] and record.node("Sink").state == "COMPLETE"
    assert metadata.run_by_id(str(first / "metadata.sqlite"), own_ids[1]) is None
