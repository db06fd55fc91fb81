"""TFX's BeamDagRunner, with nodes off the critical path run in a second process beside it.

BeamDagRunner runs the nodes one after another in one Python process (its direct runner is one thread), so on a
2-CPU machine one CPU idles while FeatureSnapshot, which only nodes after the Trainer read, waits its turn. A worker
process starts with the run and imports TFX while the first nodes run; a side-branch node that comes up once it is ready
runs there, and the nodes downstream of it wait for it. If it fails, the run fails with its error at the next node
to start. One that comes up earlier (a re-run reaches it within seconds, and a cached node takes none) runs here
as usual. Once the last side node is reached the worker stops after it, so its memory does not add to the main
path's for the rest of the run. Both processes record in the same ML Metadata store; SQLite serialises their
writes. The BeamDagRunner internals this builds on are behind compat/tfx_orchestration.py.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import functools
import logging
import multiprocessing
import os
import uuid
from multiprocessing.connection import Connection
from typing import Collection, Dict, Optional, Set

from tfx.dsl.compiler import constants
from tfx.orchestration.beam import beam_dag_runner
from tfx.orchestration.portable import runtime_parameter_utils
from tfx.proto.orchestration import pipeline_pb2

from compat import tfx_orchestration
from pipeline.cli.progress import Progress


def _serve(connection: Connection, pipeline_root: str) -> None:
    """The worker: import what running a node needs, say it is ready, then run each node it is sent."""
    from tfx.orchestration.portable import launcher  # noqa: F401

    from compat import file_systems

    file_systems.register_for(pipeline_root)

    connection.send("ready")
    for node in iter(connection.recv, None):
        try:
            node.run_node()
            connection.send(None)
        except Exception as error:  # the node's own error, to be raised in the run
            try:
                connection.send(error)
            except Exception:  # not picklable: its message then
                connection.send(RuntimeError(f"{type(error).__name__}: {error}"))
    file_systems.leave(0)


class _Worker:
    """One spawned process running side-branch nodes one at a time; `submit` returns the node's future."""

    def __init__(self, pipeline_root: str):
        context = multiprocessing.get_context("spawn")  # not fork: this process has TensorFlow's threads
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, pipeline_root), daemon=True)
        self._process.start()
        self._ready = False
        self._sender = concurrent.futures.ThreadPoolExecutor(max_workers=1)  # one node at a time, in order

    def ready(self) -> bool:
        """Whether it has imported TFX; never, if it died starting (e.g. this process's __main__ cannot be
        imported again), and side nodes then run here."""
        if not self._ready and self._connection.poll():
            try:
                self._ready = self._connection.recv() == "ready"
            except EOFError:
                logging.warning("The side-branch worker exited starting (exit code %s); side nodes run in this "
                                "process", self._process.exitcode)
                self._process.join()
        return self._ready

    def submit(self, node: tfx_orchestration.NodeDoFn) -> concurrent.futures.Future:
        return self._sender.submit(self._run, node)

    def _run(self, node: tfx_orchestration.NodeDoFn) -> None:
        self._connection.send(node)
        try:
            error = self._connection.recv()
        except EOFError:
            raise RuntimeError(f"the worker process running {node.node_id} died "
                               f"(exit code {self._process.exitcode})") from None
        if error is not None:
            raise error

    def retire(self) -> None:
        """Stops the worker once the nodes sent have run (no side node is left to come): its memory, TFX's
        imports and what the nodes left, is the main path's again."""
        self._sender.submit(self._stop)

    def close(self) -> None:
        """Waits for the nodes sent, then stops the worker (at once if it is still importing)."""
        self._sender.shutdown(wait=True)
        self._stop()

    def _stop(self) -> None:
        if self._process.exitcode is not None:  # stopped already, or died
            return
        if self._ready:
            self._connection.send(None)
        else:
            self._process.kill()
        self._process.join()


@dataclasses.dataclass
class _Run:
    side_nodes: frozenset
    worker: Optional[_Worker]  # None without side nodes
    progress: Optional[Progress]
    running: Dict[str, concurrent.futures.Future] = dataclasses.field(default_factory=dict)
    side_nodes_reached: Set[str] = dataclasses.field(default_factory=set)

    def started(self, node_id: str) -> None:
        if self.progress:
            self.progress.started(node_id)

    def finished(self, node_id: str, failed: bool) -> None:
        if self.progress:
            self.progress.finished(node_id, failed)


# Runs in progress in this process, by id: Beam pickles the node DoFns, so they carry the id, not the worker.
_RUNS: Dict[str, _Run] = {}


class _NodeDoFn(tfx_orchestration.NodeDoFn):
    """A node that waits for its side-branch upstream nodes, and runs in the worker if it is one of them."""

    def __init__(self, run_id: str, **node):
        super().__init__(**node)
        self._run_id = run_id

    def process(self, element, *signals):  # no annotations: Beam would check them against its own
        run = _RUNS[self._run_id]
        for node_id, future in run.running.items():
            if node_id in self.upstream_node_ids or (future.done() and future.exception()):
                future.result()  # waits for an upstream side node; re-raises a side node's error, failing the run
        run.started(self.node_id)
        in_worker = False
        if self.node_id in run.side_nodes:
            run.side_nodes_reached.add(self.node_id)
            in_worker = run.worker.ready()
            if in_worker:
                future = run.running[self.node_id] = run.worker.submit(self)
                future.add_done_callback(lambda done: run.finished(self.node_id, done.exception() is not None))
            if run.side_nodes_reached == run.side_nodes:
                run.worker.retire()
        if in_worker:
            return
        try:
            super().process(element, *signals)
        except BaseException:
            run.finished(self.node_id, failed=True)
            raise
        run.finished(self.node_id, failed=False)


class SideBranchDagRunner(beam_dag_runner.BeamDagRunner):
    """BeamDagRunner that runs `side_nodes` (node ids) in a worker process when the machine has 2+ CPUs, and tells
    `progress` when each node starts and ends."""

    def __new__(cls, side_nodes: Collection[str] = (), progress: Optional[Progress] = None):
        return super().__new__(cls)

    def __init__(self, side_nodes: Collection[str] = (), progress: Optional[Progress] = None):
        super().__init__()
        self._side_nodes = frozenset(side_nodes) if (os.cpu_count() or 1) > 1 else frozenset()
        self._progress = progress
        self.run_id: Optional[str] = None  # the last run's id: its pipeline_run context in ML Metadata

    def run_with_ir(self, pipeline: pipeline_pb2.Pipeline,
                    run_options: Optional[pipeline_pb2.RunOptions] = None) -> None:
        # The id BeamDagRunner would make, made here so the caller can read its own run back, whatever else ran.
        self.run_id = datetime.datetime.now().strftime("%Y%m%d-%H%M%S.%f")
        runtime_parameter_utils.substitute_runtime_parameter(
            pipeline, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: self.run_id})
        if not self._side_nodes and not self._progress:
            return super().run_with_ir(pipeline, run_options)
        run_id = uuid.uuid4().hex
        pipeline_root = pipeline.runtime_spec.pipeline_root.field_value.string_value
        _RUNS[run_id] = run = _Run(self._side_nodes, _Worker(pipeline_root) if self._side_nodes else None,
                                   self._progress)
        tfx_orchestration.use_node_do_fn(self, functools.partial(_NodeDoFn, run_id))
        try:
            super().run_with_ir(pipeline, run_options)
            for future in run.running.values():
                future.result()  # side nodes nothing downstream waited for
        finally:
            if run.worker:
                run.worker.close()  # a side node still running finishes and records its state
            del _RUNS[run_id]
