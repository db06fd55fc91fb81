"""Reading pipeline runs back from ML Metadata: executions per component, their states, times and outputs."""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

RUN_CONTEXT_TYPE = "pipeline_run"
NODE_CONTEXT_TYPE = "node"
_STATE_NAMES = {v: k for k, v in metadata_store_pb2.Execution.State.items()}


@dataclasses.dataclass
class NodeRecord:
    node_id: str
    state: str  # COMPLETE, CACHED, FAILED, RUNNING, ...
    start_ms: int
    end_ms: int
    outputs: Dict[str, List[metadata_store_pb2.Artifact]]
    execution: metadata_store_pb2.Execution
    inputs: Dict[str, List[metadata_store_pb2.Artifact]] = dataclasses.field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return (self.end_ms - self.start_ms) / 1000.0

    def output(self, key: str) -> Optional[metadata_store_pb2.Artifact]:
        artifacts = self.outputs.get(key) or []
        return artifacts[-1] if artifacts else None


@dataclasses.dataclass
class RunRecord:
    run_id: str
    start_ms: int
    nodes: Dict[str, NodeRecord]

    def node(self, node_id: str) -> Optional[NodeRecord]:
        return self.nodes.get(node_id)


def connect(sqlite_path: str, read_only: bool = True) -> metadata_store.MetadataStore:
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = sqlite_path
    config.sqlite.connection_mode = (metadata_store_pb2.SqliteMetadataSourceConfig.READONLY if read_only
                                     else metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE)
    return metadata_store.MetadataStore(config)


def custom_property(artifact_or_execution, name: str, default=None):
    if name not in artifact_or_execution.custom_properties:
        return default
    value = artifact_or_execution.custom_properties[name]
    return getattr(value, value.WhichOneof("value"))


def _context_name(store: metadata_store.MetadataStore, execution_id: int, context_type: str) -> Optional[str]:
    for context in store.get_contexts_by_execution(execution_id):
        if store.get_context_types_by_id([context.type_id])[0].name == context_type:
            return context.name
    return None


def _node_id(store: metadata_store.MetadataStore, execution_id: int) -> str:
    name = _context_name(store, execution_id, NODE_CONTEXT_TYPE)
    return name.split(".", 1)[-1] if name else "?"


_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
_INPUT_EVENTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)


def _artifacts_by_key(store: metadata_store.MetadataStore, execution_id: int, event_types) -> Dict[str, List]:
    events = [e for e in store.get_events_by_execution_ids([execution_id]) if e.type in event_types]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    by_key: Dict[str, List] = {}
    for event in events:
        key = event.path.steps[0].key if event.path.steps else "?"
        by_key.setdefault(key, []).append(artifacts[event.artifact_id])
    return by_key


def _outputs(store: metadata_store.MetadataStore, execution_id: int) -> Dict[str, List]:
    return _artifacts_by_key(store, execution_id, _OUTPUT_EVENTS)


def _inputs(store: metadata_store.MetadataStore, execution_id: int) -> Dict[str, List]:
    return _artifacts_by_key(store, execution_id, _INPUT_EVENTS)


def node_record(store: metadata_store.MetadataStore, execution: metadata_store_pb2.Execution) -> NodeRecord:
    return NodeRecord(
        node_id=_node_id(store, execution.id),
        state=_STATE_NAMES.get(execution.last_known_state, "UNKNOWN"),
        start_ms=execution.create_time_since_epoch,
        end_ms=execution.last_update_time_since_epoch,
        outputs=_outputs(store, execution.id),
        execution=execution,
        inputs=_inputs(store, execution.id))


def run_record(store: metadata_store.MetadataStore, run_context: metadata_store_pb2.Context) -> RunRecord:
    records = [node_record(store, e) for e in sorted(store.get_executions_by_context(run_context.id),
                                                      key=lambda e: e.id)]
    return RunRecord(run_context.name, run_context.create_time_since_epoch, {r.node_id: r for r in records})


def run_id_of(store: metadata_store.MetadataStore, execution_id: int) -> Optional[str]:
    return _context_name(store, execution_id, RUN_CONTEXT_TYPE)


def producer(store: metadata_store.MetadataStore, artifact_id: int) -> Optional[NodeRecord]:
    """The execution that made an artifact: a cached execution re-publishes it, the COMPLETE one made it."""
    ids = [e.execution_id for e in store.get_events_by_artifact_ids([artifact_id]) if e.type in _OUTPUT_EVENTS]
    executions = sorted(store.get_executions_by_id(ids),
                        key=lambda e: (e.last_known_state != metadata_store_pb2.Execution.COMPLETE, e.id))
    return node_record(store, executions[0]) if executions else None


def runs(sqlite_path: str, pipeline_name: str) -> List[RunRecord]:
    """Every recorded run of the pipeline, oldest first."""
    store = connect(sqlite_path)
    contexts = [c for c in store.get_contexts_by_type(RUN_CONTEXT_TYPE)
                if _belongs_to(store, c, pipeline_name)]
    return [run_record(store, c) for c in sorted(contexts, key=lambda c: (c.create_time_since_epoch, c.id))]


def _belongs_to(store, run_context, pipeline_name: str) -> bool:
    parents = store.get_parent_contexts_by_context(run_context.id)
    if parents:
        return any(p.name == pipeline_name for p in parents)
    executions = store.get_executions_by_context(run_context.id)
    return not executions or any(c.name == pipeline_name for c in store.get_contexts_by_execution(executions[0].id))


def run_by_id(sqlite_path: str, run_id: str) -> Optional[RunRecord]:
    """The run with this id (its pipeline_run context), None if nothing of it was recorded."""
    store = connect(sqlite_path)
    context = store.get_context_by_type_and_name(RUN_CONTEXT_TYPE, run_id)
    return run_record(store, context) if context else None


def latest_run(sqlite_path: str, pipeline_name: str) -> Optional[RunRecord]:
    recorded = runs(sqlite_path, pipeline_name)
    return recorded[-1] if recorded else None
