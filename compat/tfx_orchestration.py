"""The private parts of TFX's BeamDagRunner that pipeline/runners/side_branch.py builds on. Written for TFX 1.16.0.

BeamDagRunner (tfx.orchestration.beam.beam_dag_runner) has no public way to run a node somewhere else, or to hear
when a node starts and ends. SideBranchDagRunner replaces the Beam DoFn that runs each node, and runs some nodes in
a worker process; for that it relies on:
- `BeamDagRunner._PIPELINE_NODE_DO_FN_CLS`: what `run_with_ir` calls, with keyword arguments only, to make each
  node's DoFn (`PipelineNodeAsDoFn` by default). Set on a runner instance, it replaces the class for that runner.
- `PipelineNodeAsDoFn._run_node()`: runs the node (driver, executor, publisher, all recorded in ML Metadata) without
  the DoFn's side-input signals, so a worker process can run a node it was sent.
- `PipelineNodeAsDoFn._node_id` and `._pipeline_node`: the node's id and its IR, which names its upstream nodes.

tests/test_compat.py checks each of these against the installed TFX.
"""
from __future__ import annotations

from typing import Callable, Collection

from tfx.orchestration.beam import beam_dag_runner

PINNED_VERSIONS = {"tfx": "1.16.0"}


class NodeDoFn(beam_dag_runner.PipelineNodeAsDoFn):
    """BeamDagRunner's DoFn for one node, with what a subclass reads under public names."""

    @property
    def node_id(self) -> str:
        return self._node_id

    @property
    def upstream_node_ids(self) -> Collection[str]:
        return self._pipeline_node.upstream_nodes

    def run_node(self) -> None:
        """Runs the node as `process` does once its upstream nodes are done: driver, executor and publisher."""
        self._run_node()


def use_node_do_fn(runner: beam_dag_runner.BeamDagRunner, make_do_fn: Callable[..., NodeDoFn]) -> None:
    """Makes `runner` build each node's DoFn with `make_do_fn(**kwargs)`, kwargs being what BeamDagRunner passes to
    PipelineNodeAsDoFn (pass them on to NodeDoFn)."""
    runner._PIPELINE_NODE_DO_FN_CLS = make_do_fn
