"""Beam runner presets: the flags each runner gets, that Beam reads them as meant, the errors for flags that do
not fit, and that the multi-worker direct runner loses no records against a single worker."""
import csv
import glob
import os

import pytest

from pipeline.runners import beam
from pipeline.runners.beam import BeamSettings, BeamSettingsError
from tests.conftest import run_cli

IMAGE = "registry.example/sparrow-tfx:1"
DATAFLOW = BeamSettings(runner="dataflow", dataflow_project="proj", dataflow_region="europe-west1",
                        dataflow_temp_location="gs://bucket/tmp")


def beam_options(args):
    from apache_beam.options.pipeline_options import PipelineOptions

    return PipelineOptions(args).get_all_options(drop_default=True, retain_unknown_options=True)


def test_direct_is_the_default_in_one_process_with_one_worker():
    args = beam.pipeline_args(BeamSettings())
    assert args == beam.direct_args() == beam.direct_args(workers=1) == []  # Beam's defaults


def test_the_default_direct_runner_does_not_make_tfx_package_itself():
    from tfx.components.statistics_gen.executor import Executor

    default = Executor(Executor.Context(beam_pipeline_args=beam.direct_args()))
    assert not any(arg.startswith("--extra_package") for arg in default._beam_pipeline_args)
    assert type(default._make_beam_pipeline().runner).__name__ == "SwitchingDirectRunner"


def test_parallel_direct_modes_default_to_one_worker_per_cpu():
    args = beam.direct_args(running_mode="multi_processing")
    assert beam_options(args) == {"direct_running_mode": "multi_processing", "direct_num_workers": 0}


def test_dataflow_runs_workers_in_the_pipeline_image():
    options = beam_options(beam.pipeline_args(DATAFLOW, worker_image=IMAGE))
    assert options == {"runner": "DataflowRunner", "project": "proj", "region": "europe-west1",
                       "temp_location": "gs://bucket/tmp", "sdk_container_image": IMAGE}
    assert "sdk_container_image" not in beam_options(beam.pipeline_args(DATAFLOW))


@pytest.mark.parametrize("runner,runner_class", [("flink", "FlinkRunner"), ("spark", "SparkRunner")])
def test_portable_runners_use_the_job_server_and_an_sdk_environment(runner, runner_class):
    settings = BeamSettings(runner=runner, job_endpoint="jobserver:8099")
    local = beam_options(beam.pipeline_args(settings))
    assert local == {"runner": runner_class, "job_endpoint": "jobserver:8099", "environment_type": "LOOPBACK"}
    compiled = beam_options(beam.pipeline_args(settings, worker_image=IMAGE))
    assert (compiled["environment_type"], compiled["environment_config"]) == ("DOCKER", IMAGE)
    pool = BeamSettings(runner=runner, job_endpoint="jobserver:8099", environment_type="EXTERNAL",
                        environment_config="localhost:50000")
    assert beam_options(beam.pipeline_args(pool, IMAGE))["environment_config"] == "localhost:50000"


def test_extra_flags_are_passed_on():
    args = beam.pipeline_args(BeamSettings(extra_args=("--max_num_workers=8",)))
    assert args[-1] == "--max_num_workers=8"


@pytest.mark.parametrize("settings,message", [
    (BeamSettings(runner="dataflow", dataflow_project="p"), "needs --dataflow-region, --dataflow-temp-location"),
    (BeamSettings(runner="dataflow", dataflow_project="p", dataflow_region="r", dataflow_temp_location="/tmp"),
     "--dataflow-temp-location must be a gs:// path"),
    (BeamSettings(runner="flink"), "--beam-runner flink needs --job-endpoint"),
    (BeamSettings(runner="spark", job_endpoint="j:1", environment_type="EXTERNAL"),
     "--environment-type EXTERNAL needs --environment-config"),
    (BeamSettings(job_endpoint="j:1"), "--job-endpoint applies to --beam-runner flink/spark, not direct"),
    (BeamSettings(runner="flink", job_endpoint="j:1", direct_workers=4), "--direct-workers applies"),
    (BeamSettings(direct_workers=-1), "--direct-workers must be 0"),
])
def test_flags_that_do_not_fit_the_runner_are_named(settings, message):
    with pytest.raises(BeamSettingsError, match=message.replace("(", r"\(")):
        beam.pipeline_args(settings)


def test_run_command_rejects_misfit_flags_before_running():
    result = run_cli("run", "--beam-runner", "dataflow", "--dataflow-project", "p", check=False, timeout=120)
    assert result.returncode == 1
    assert "error: --beam-runner dataflow needs --dataflow-region, --dataflow-temp-location" in result.stderr


def csv_rows(split_dir: str) -> int:
    rows = 0
    for path in glob.glob(os.path.join(split_dir, "*.csv")):
        with open(path, newline="") as f:
            rows += sum(1 for _ in csv.reader(f)) - 1  # header
    return rows


def canonical(serialized_example: bytes) -> bytes:
    """The example's bytes with its features in key order (map order varies between runs)."""
    import tensorflow as tf

    return tf.train.Example.FromString(serialized_example).SerializeToString(deterministic=True)


def run_example_gen(data_root: str, output_dir: str, beam_args: list) -> dict:
    """TFX's CsvExampleGen executor on the sample splits; returns each split's examples (canonical bytes), sorted."""
    import tensorflow as tf
    from tfx.components.example_gen.csv_example_gen import executor
    from tfx.dsl.components.base import base_beam_executor
    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils
    from tfx.v1.proto import Output

    from pipeline import pipeline as pipeline_lib

    examples = standard_artifacts.Examples()
    examples.uri = output_dir
    context = base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=beam_args, tmp_dir=output_dir + ".tmp")
    executor.Executor(context).Do({}, {"examples": [examples]}, {
        "input_base": data_root,
        "input_config": proto_utils.proto_to_json(pipeline_lib.sample_splits()),
        "output_config": proto_utils.proto_to_json(Output())})
    return {split: sorted(canonical(r.numpy()) for r in tf.data.TFRecordDataset(
        glob.glob(os.path.join(output_dir, f"Split-{split}", "*.gz")), compression_type="GZIP"))
        for split in ("train", "eval")}


@pytest.mark.slow
def test_multi_worker_direct_runs_lose_no_records(tmp_path):
    from pipeline.datasets import synthetic

    synthetic.generate(str(tmp_path / "data"), num_ratings=3000)
    data_root = str(tmp_path / "data" / "samples")
    single = run_example_gen(data_root, str(tmp_path / "one"),
                             beam.pipeline_args(BeamSettings(direct_workers=1)))
    assert {split: len(records) for split, records in single.items()} == {
        split: csv_rows(os.path.join(data_root, split)) for split in ("train", "eval")}
    for name, settings in [("default", BeamSettings()),
                           ("processes", BeamSettings(direct_workers=2, direct_running_mode="multi_processing"))]:
        assert run_example_gen(data_root, str(tmp_path / name), beam.pipeline_args(settings)) == single, name
