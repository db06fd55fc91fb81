"""SampleGen's cache run locally: unchanged raw files are served from it, changed ones (same directory, same
options) are read again. TFX's file-based driver fingerprints the files; compiled specs, which have no driver,
turn KFP's cache off for the task instead (tests/test_kubeflow_compile.py)."""
from __future__ import annotations

import os
from typing import List

import pytest

DATA_SIZE = 2000  # ratings: the smallest data SampleGen makes both splits of


def run_sample_gen(raw_dir: str, work_dir: str) -> List[dict]:
    """SampleGen alone in a local pipeline on raw_dir; every SampleGen execution so far, oldest first."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2
    from tfx.orchestration import metadata as tfx_metadata
    from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner
    from tfx.orchestration.pipeline import Pipeline

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
        runs.append({"state": state(execution.last_known_state), "examples": output,
                     "ratings_read": examples.custom_properties["ratings_read"].int_value})
    return runs


@pytest.mark.slow
def test_changed_raw_files_are_not_served_from_cache(tmp_path):
    from pipeline.datasets import synthetic

    synthetic.generate(str(tmp_path / "data"), DATA_SIZE)
    raw_dir, work_dir = str(tmp_path / "data" / "raw"), str(tmp_path / "work")
    first = run_sample_gen(raw_dir, work_dir)
    assert [e["state"] for e in first] == ["COMPLETE"]

    unchanged = run_sample_gen(raw_dir, work_dir)
    assert [e["state"] for e in unchanged] == ["COMPLETE", "CACHED"]
    assert unchanged[1]["examples"] == first[0]["examples"]

    ratings = os.path.join(raw_dir, "ratings.csv")
    with open(ratings) as f:
        lines = f.readlines()
    with open(ratings, "w") as f:  # the same file name and directory, one rating fewer
        f.writelines(lines[:-1])
    changed = run_sample_gen(raw_dir, work_dir)
    assert [e["state"] for e in changed] == ["COMPLETE", "CACHED", "COMPLETE"]
    assert changed[2]["examples"] != first[0]["examples"]
    assert (first[0]["ratings_read"], changed[2]["ratings_read"]) == (len(lines) - 1, len(lines) - 2)  # a header
