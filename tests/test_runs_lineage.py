"""`sparrow-tfx runs` and `sparrow-tfx lineage` on the real ML Metadata store of the e2e run."""
from __future__ import annotations

import os

import pytest

from models import schema
from pipeline import configs
from pipeline.report import lineage, metadata, summary
from recommender import serving_dir
from tests.conftest import run_cli

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pushed_version(e2e_run):
    return str(serving_dir.versions(e2e_run.paths.serving_dir)[0])


@pytest.fixture(scope="module")
def first_run(e2e_run, pushed_version):
    """The run that pushed the first serving version (other tests may add runs before or after it)."""
    for record in metadata.runs(e2e_run.paths.metadata_path, configs.PIPELINE_NAME):
        pushed = record.node(summary.PUSHER).output("pushed_model") if record.node(summary.PUSHER) else None
        if pushed and metadata.custom_property(pushed, "pushed_version") == pushed_version:
            return record
    raise AssertionError(f"no run pushed version {pushed_version}")


def test_runs_lists_every_recorded_run_with_states_auc_blessing_and_push(e2e_run, first_run, pushed_version):
    output = run_cli("runs", "--work-dir", e2e_run.paths.work_dir).stdout.splitlines()
    recorded = metadata.runs(e2e_run.paths.metadata_path, configs.PIPELINE_NAME)
    run_lines = [line for line in output if line.split() and line.split()[0] in {r.run_id for r in recorded}]
    assert [line.split()[0] for line in run_lines] == [r.run_id for r in recorded]
    auc = summary.RunSummary.from_record(first_run).metrics["auc"]
    (line,) = [line for line in run_lines if line.startswith(first_run.run_id)]
    assert line.split()[3:] == [f"{auc:.4f}", "yes", pushed_version]
    states = output[output.index(line) + 1]
    for node in first_run.nodes.values():
        assert f"{node.node_id} {node.state.lower()}" in states and node.state in ("COMPLETE", "CACHED")


def test_runs_reads_the_store_given_by_path(e2e_run):
    by_path = run_cli("runs", "--metadata", e2e_run.paths.metadata_path).stdout
    by_work_dir = run_cli("runs", "--work-dir", e2e_run.paths.work_dir).stdout
    assert by_path == by_work_dir


def test_review_commands_name_a_missing_store(tmp_path):
    for command in (["runs"], ["report"], ["lineage", "1"]):
        result = run_cli(*command, "--metadata", str(tmp_path / "none.sqlite"), check=False)
        assert result.returncode != 0
        assert f"no ML Metadata store at {tmp_path / 'none.sqlite'}" in result.stderr


def test_lineage_walks_back_to_data_schema_transform_graph_and_trainer(e2e_run, first_run, pushed_version):
    traced = lineage.trace(e2e_run.paths.metadata_path, pushed_version)
    assert traced.destination == os.path.join(e2e_run.paths.serving_dir, pushed_version)
    (data,) = traced.data()  # CsvExampleGen's samples or SampleGen's, made from files under the work dir
    assert data.artifact.id == first_run.node(data.producer.node_id).output("examples").id
    input_base = metadata.custom_property(data.producer.execution, "input_base")
    assert input_base.startswith(e2e_run.paths.data_dir) and os.path.isdir(input_base)
    (graph,) = traced.made_by("Transform", "TransformGraph")
    assert graph.artifact.id == first_run.node("Transform").output("transform_graph").id
    (model,) = traced.made_by("Trainer", "Model")
    assert model.producer.execution.id == first_run.node("Trainer").execution.id
    assert model.run_id == first_run.run_id
    (schema_artifact,) = traced.made_by("ImportSchemaGen", "Schema")
    assert metadata.custom_property(schema_artifact.producer.execution, "schema_file") == schema.SCHEMA_PATH


def test_lineage_command_prints_the_summary_and_the_tree(e2e_run, first_run, pushed_version):
    output = run_cli("lineage", pushed_version, "--work-dir", e2e_run.paths.work_dir).stdout
    transform_graph = first_run.node("Transform").output("transform_graph").uri
    trainer = first_run.node("Trainer").execution.id
    (data,) = lineage.trace(e2e_run.paths.metadata_path, pushed_version).data()
    input_base = metadata.custom_property(data.producer.execution, "input_base")
    assert f"data:            {input_base} ({data.producer.node_id}, examples #{data.artifact.id}" in output
    assert "schema:          " in output and schema.SCHEMA_PATH in output
    assert "transform graph: #" in output and transform_graph in output
    assert f"trainer run:     execution {trainer}, run {first_run.run_id}" in output
    assert "made by Evaluator" in output and "made by ServingBaseline" in output


def test_lineage_of_an_unknown_version_lists_the_pushed_ones(e2e_run, pushed_version):
    result = run_cli("lineage", "12345", "--work-dir", e2e_run.paths.work_dir, check=False)
    assert result.returncode != 0
    assert "no model version '12345'" in result.stderr and pushed_version in result.stderr
