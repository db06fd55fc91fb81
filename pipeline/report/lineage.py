"""Lineage of a pushed model version: walk ML Metadata events back from the Pusher's output to the raw data.

Each artifact is shown once, with the execution that made it (a cached execution re-publishes an artifact; the
COMPLETE one made it) and the run that execution belongs to.
"""
from __future__ import annotations

import dataclasses
import os
from typing import List, Optional

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from pipeline.report import metadata

PUSHED_MODEL_TYPE = "PushedModel"
# Execution properties worth showing: where data and schema came from, how the model was trained.
SHOWN_PROPERTIES = ("input_base", "schema_file", "train_args", "custom_config", "serving_dir")
# Artifact properties worth showing.
SHOWN_ARTIFACT_PROPERTIES = ("span", "spans", "input_fingerprint", "blessed", "baseline_version", "is_candidate",
                             "pushed_version")


@dataclasses.dataclass
class Step:
    depth: int
    key: str  # the input key under which the downstream execution read this artifact
    artifact: metadata_store_pb2.Artifact
    producer: Optional[metadata.NodeRecord]
    run_id: Optional[str]
    repeated: bool  # already shown higher up the tree


@dataclasses.dataclass
class Lineage:
    version: str
    destination: str
    steps: List[Step]  # depth first from the pushed model

    def made_by(self, node_prefix: str, type_name: str) -> List[Step]:
        return [s for s in self.steps if not s.repeated and s.artifact.type == type_name and s.producer
                and s.producer.node_id.startswith(node_prefix)]

    def data(self) -> List[Step]:
        """Examples made from outside the pipeline: their producer read no Examples artifact."""
        return [s for s in self.steps if not s.repeated and s.artifact.type == "Examples" and s.producer
                and not any(a.type == "Examples" for arts in s.producer.inputs.values() for a in arts)]

    def lines(self) -> List[str]:
        out = [f"model version {self.version} (serving directory {self.destination})"]
        out += self._summary()
        out.append("")
        out.append("lineage (each artifact with the execution that made it; inputs indented below):")
        for step in self.steps:
            indent = "  " * (step.depth + 1)
            label = f"{step.key}: " if step.key else ""
            shown = (f"{step.artifact.type} #{step.artifact.id} (shown above)" if step.repeated
                     else _artifact_text(step.artifact))
            out.append(f"{indent}{label}{shown}")
            if step.producer and not step.repeated:
                out.append(f"{indent}  made by {_producer_text(step.producer, step.run_id)}")
        return out

    def _summary(self) -> List[str]:
        out = []
        for step in self.data():
            source = _property(step.producer.execution, "input_base")
            out.append(f"  data:            {source or step.artifact.uri} ({step.producer.node_id}, examples "
                       f"#{step.artifact.id} {step.artifact.uri})")
        for step in self.made_by("", "Schema"):
            schema_file = _property(step.producer.execution, "schema_file")
            out.append(f"  schema:          #{step.artifact.id} {step.artifact.uri}"
                       + (f" (from {schema_file})" if schema_file else ""))
        for step in self.made_by("Transform", "TransformGraph"):
            out.append(f"  transform graph: #{step.artifact.id} {step.artifact.uri} (execution "
                       f"{step.producer.execution.id}, run {step.run_id})")
        for step in self.made_by("Trainer", "Model"):
            model_run = step.producer.output("model_run")
            out.append(f"  trainer run:     execution {step.producer.execution.id}, run {step.run_id}, "
                       f"{step.producer.state.lower()}, model #{step.artifact.id} {step.artifact.uri}"
                       + (f", logs {model_run.uri}" if model_run else ""))
        return out


def _property(execution, name: str) -> Optional[str]:
    value = metadata.custom_property(execution, name)
    return None if value is None else str(value)


def _artifact_text(artifact) -> str:
    shown = {name: metadata.custom_property(artifact, name) for name in SHOWN_ARTIFACT_PROPERTIES
             if name in artifact.custom_properties}
    details = " ".join(f"{k}={str(v).replace(chr(10), '; ')}" for k, v in shown.items())
    return f"{artifact.type} #{artifact.id} {artifact.uri}" + (f"  [{details}]" if details else "")


def _producer_text(producer: metadata.NodeRecord, run_id: Optional[str]) -> str:
    shown = {name: _property(producer.execution, name) for name in SHOWN_PROPERTIES}
    shown = {name: value for name, value in shown.items() if value not in (None, "null")}
    details = " ".join(f"{k}={' '.join(v.split())}" for k, v in shown.items())
    return (f"{producer.node_id} (execution {producer.execution.id}, run {run_id}, {producer.state.lower()})"
            + (f" {details}" if details else ""))


def find_pushed(store: metadata_store.MetadataStore, version: str) -> metadata_store_pb2.Artifact:
    pushed = [a for a in store.get_artifacts_by_type(PUSHED_MODEL_TYPE) if metadata.custom_property(a, "pushed", 0)]
    for artifact in pushed:
        destination = metadata.custom_property(artifact, "pushed_destination", "")
        if version in (metadata.custom_property(artifact, "pushed_version"), os.path.basename(destination)):
            return artifact
    known = ", ".join(str(metadata.custom_property(a, "pushed_version")) for a in pushed) or "none"
    raise SystemExit(f"error: no model version {version!r} was pushed by a run in this store; pushed versions: {known}")


def _walk(store, artifact, key: str, depth: int, seen: set, steps: List[Step]) -> None:
    repeated = artifact.id in seen
    seen.add(artifact.id)
    producer = None if repeated else metadata.producer(store, artifact.id)
    run_id = metadata.run_id_of(store, producer.execution.id) if producer else None
    steps.append(Step(depth, key, artifact, producer, run_id, repeated))
    if producer:
        # Keys starting with "_" are TFX's own (a condition's inputs): after the component's real inputs.
        for input_key, inputs in sorted(producer.inputs.items(), key=lambda kv: (kv[0].startswith("_"), kv[0])):
            for upstream in inputs:
                _walk(store, upstream, input_key, depth + 1, seen, steps)


def trace(sqlite_path: str, version: str) -> Lineage:
    store = metadata.connect(sqlite_path)
    pushed = find_pushed(store, version)
    steps: List[Step] = []
    _walk(store, pushed, "", 0, set(), steps)
    return Lineage(version, metadata.custom_property(pushed, "pushed_destination", ""), steps)
