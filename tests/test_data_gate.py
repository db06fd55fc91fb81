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
