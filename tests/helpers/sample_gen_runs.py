"""SampleGen alone in a real local pipeline (BeamDagRunner, SQLite ML Metadata), as `run` caches it."""
from __future__ import annotations

import os
from typing import List


def run_sample_gen_pipeline(raw_dir: str, work_dir: str) -> List[dict]:
    """SampleGen on raw_dir in work_dir's pipeline; every SampleGen execution so far, oldest first: its state, its
    Examples' id, ratings read, the span and the spans read."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2
    from tfx.orchestration import metadata as tfx_metadata
    from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner
    from tfx.orchestration.pipeline import Pipeline

    from components.sample_gen import spec
    from components.sample_gen.component import SampleGen
    from pipeline.runners import beam

    connection = tfx_metadata.sqlite_metadata_connection_config(os.path.join(work_dir, "metadata.sqlite"))
    BeamDagRunner().run(Pipeline(
        pipeline_name="sample-gen-cache", pipeline_root=os.path.join(work_dir, "root"),
        components=[SampleGen(input_base=raw_dir)], enable_cache=True, metadata_connection_config=connection,
        beam_pipeline_args=beam.direct_args()))
    store = metadata_store.MetadataStore(connection)
    executions = sorted(store.get_executions(), key=lambda e: e.id)
    state = metadata_store_pb2.Execution.State.Name
    runs = []
    for execution in executions:
        (output,) = [event.artifact_id for event in store.get_events_by_execution_ids([execution.id])
                     if event.type == metadata_store_pb2.Event.OUTPUT]
        (examples,) = store.get_artifacts_by_id([output])
        properties = examples.custom_properties
        runs.append({"state": state(execution.last_known_state), "examples": output,
                     "ratings_read": properties["ratings_read"].int_value,
                     "span": properties[spec.SPAN_PROPERTY].int_value,
                     "spans": properties[spec.SPANS_PROPERTY].string_value if spec.SPANS_PROPERTY in properties
                     else None})
    return runs
