"""The data gate: ExampleValidator's anomalies stop the run before Transform, unless anomalies are allowed."""
from __future__ import annotations

import os

import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2

from components.data_gate import report, spec
from tests.helpers.pipeline_ir import compiled_nodes


def test_report_gives_split_feature_short_description_and_details():
    anomalies = anomalies_pb2.Anomalies()
    label = anomalies.anomaly_info["label"]
    label.short_description = "Out-of-range values"
    label.reason.add(short_description="Out-of-range values", description="Unexpectedly large value: 2.")
    several = anomalies.anomaly_info["userAvgRating"]
    several.short_description = "Multiple errors"
    several.reason.add(short_description="Out-of-range values", description="Unexpectedly high value: inf>5")
    several.reason.add(short_description="Invalid values", description="Float feature has Inf values.")
    empty = anomalies_pb2.Anomalies(data_missing=True)

    assert report.report({"train": anomalies, "eval": empty}) == [
        "eval (dataset): no examples (the split is empty)",
        "train label: Out-of-range values (Unexpectedly large value: 2.)",
        "train userAvgRating: Out-of-range values; Invalid values "
        "(Unexpectedly high value: inf>5; Float feature has Inf values.)",
    ]
    assert report.report({"train": anomalies_pb2.Anomalies()}) == []


@pytest.mark.parametrize("allow", [False, True])
def test_transform_runs_after_the_gate_and_the_flag_reaches_it(allow):
    nodes = compiled_nodes(allow)
    gate = nodes["ExampleValidator"]
    assert gate.node_info.type.name.endswith("DataGate")
    assert gate.parameters.parameters[spec.ALLOW_ANOMALIES_KEY].field_value.int_value == int(allow)
    # BeamDagRunner (and Kubeflow) start a node only after its upstream nodes completed.
    assert "ExampleValidator" in nodes["Transform"].upstream_nodes
    assert "Transform" in nodes["Trainer"].upstream_nodes


def _artifacts(run, work_dir):
    """The real statistics and schema of the bad-inputs run, and a fresh anomalies output."""
    from tfx.types import standard_artifacts

    def from_mlmd(artifact_class, node, key):
        artifact = artifact_class()
        artifact.set_mlmd_artifact(run.record.node(node).output(key))
        return artifact

    statistics = from_mlmd(standard_artifacts.ExampleStatistics, "StatisticsGen", "statistics")
    schema = from_mlmd(standard_artifacts.Schema, "ImportSchemaGen", "schema")
    anomalies = standard_artifacts.ExampleAnomalies()
    anomalies.uri = os.path.join(work_dir, "anomalies")
    return ({spec.STATISTICS_KEY: [statistics], spec.SCHEMA_KEY: [schema]}, {spec.ANOMALIES_KEY: [anomalies]})


def _execute(run, work_dir, allow: int):
    from components.data_gate import executor

    inputs, outputs = _artifacts(run, work_dir)
    executor.Executor().Do(inputs, outputs, {"exclude_splits": "[]", spec.ALLOW_ANOMALIES_KEY: allow})
    return outputs[spec.ANOMALIES_KEY][0]


@pytest.mark.slow
def test_gate_raises_with_every_anomaly(bad_inputs_validation, tmp_path):
    from components.data_gate.executor import DataAnomaliesError

    with pytest.raises(DataAnomaliesError) as raised:
        _execute(bad_inputs_validation, str(tmp_path), allow=0)
    assert "values label: Out-of-range values" in str(raised.value)
    assert "--allow-anomalies" in str(raised.value)


@pytest.mark.slow
def test_allowed_anomalies_are_recorded_and_the_gate_passes(bad_inputs_validation, tmp_path):
    from components.data_gate.executor import read_anomalies

    anomalies = _execute(bad_inputs_validation, str(tmp_path), allow=1)
    allowed = anomalies.get_string_custom_property(spec.ALLOWED_ANOMALIES_PROPERTY).splitlines()
    assert "values label: Out-of-range values (Unexpectedly large value: 2.)" in allowed
    assert not any(line.startswith("clean ") for line in allowed)
    written = read_anomalies(anomalies)  # ExampleValidator's own output is there for inspection
    assert written["values"].anomaly_info["label"].short_description == "Out-of-range values"
    assert not written["clean"].anomaly_info


@pytest.mark.parametrize("stop", [False, True])
def test_the_drift_check_gets_the_serving_dir_its_state_and_the_flag(stop):
    """Locally the serving state is part of the gate's cache key (a push by another run re-runs the check)."""
    from pipeline import configs
    from pipeline import pipeline as pipeline_lib

    pipeline = pipeline_lib.create_pipeline(
        configs.Settings(data_root="/tmp/unused", sample_gen=None, stop_on_drift=stop), pipeline_root="/tmp/unused",
        schema_path="/tmp/unused/schema.pbtxt", serving_dir="/tmp/unused/serving", serving_state="17:abc")
    gate = {c.id: c for c in pipeline.components}["ExampleValidator"]
    assert {key: gate.exec_properties[key] for key in (spec.SERVING_DIR_KEY, spec.SERVING_STATE_KEY,
                                                       spec.STOP_ON_DRIFT_KEY)} == {
        spec.SERVING_DIR_KEY: "/tmp/unused/serving", spec.SERVING_STATE_KEY: "17:abc",
        spec.STOP_ON_DRIFT_KEY: int(stop)}
    pusher = {c.id: c for c in pipeline.components}["Pusher"]
    assert pusher.inputs["statistics"] is gate.inputs["statistics"]  # the statistics the gate compared are published
