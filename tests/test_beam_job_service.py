"""The pipeline's Beam components through the `flink` and `spark` presets, against Beam's own Python job service
on loopback (LOOPBACK environment: the SDK harness runs in this process), give the direct runner's outputs.

No Flink or Spark cluster, and no job-server jar, is reachable here: this exercises the presets' portable-runner
wiring (job submission, artifact staging, the Fn API) with TFX's real executors, not Flink's or Spark's engines.
"""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import os
import pathlib
import socket
import subprocess
import sys
import time
from typing import Dict

import pytest

from pipeline import configs
from pipeline.report import metadata
from tests.conftest import free_port

DATA_SIZE = 2000  # ratings: the smallest data SampleGen makes both splits of
# create_pipeline's nodes up to the Trainer: every Beam component but the Evaluator, which needs a trained model.
BEAM_NODES = ("SampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "Transform", "FeatureSnapshot")
COMPARED = (("SampleGen", "examples"), ("Transform", "transformed_examples"),
            ("FeatureSnapshot", "feature_snapshot"), ("StatisticsGen", "statistics"))


@dataclasses.dataclass(frozen=True)
class JobService:
    endpoint: str
    log: pathlib.Path

    def jobs_done(self) -> int:
        return self.log.read_text().count("with state DONE")


@pytest.fixture(scope="module")
def job_service(tmp_path_factory) -> JobService:
    """apache_beam.runners.portability.local_job_service_main on loopback, started and stopped here."""
    port = free_port()
    log = tmp_path_factory.mktemp("job-service") / "job-service.log"
    with open(log, "w") as out:
        server = subprocess.Popen([sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main",
                                   "--port", str(port)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError(f"the job service did not start: {log.read_text()}") from None
                time.sleep(0.3)
        yield JobService(f"localhost:{port}", log)
    finally:
        server.terminate()
        server.wait(timeout=30)


def run_beam_nodes(raw_data: str, work_dir: str, beam_pipeline_args) -> metadata.RunRecord:
    """create_pipeline's Beam nodes up to the Trainer, on the same data, with these Beam flags."""
    from tfx.orchestration import metadata as tfx_metadata
    from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner
    from tfx.orchestration.pipeline import Pipeline

    from models import schema
    from pipeline import pipeline as pipeline_lib

    paths = configs.LocalPaths(work_dir)
    whole = pipeline_lib.create_pipeline(
        configs.Settings(data_root=raw_data, min_auc=0.0, max_auc_regression=1.0),
        pipeline_root=paths.pipeline_root, schema_path=schema.SCHEMA_PATH, serving_dir=paths.serving_dir)
    nodes = [node for node in whole.components if node.id in BEAM_NODES]
    assert sorted(node.id for node in nodes) == sorted(BEAM_NODES)
    for node in nodes:  # the nodes after these are not in this pipeline
        node._downstream_nodes = {n for n in node._downstream_nodes if n.id in BEAM_NODES}  # pylint: disable=protected-access
    part = Pipeline(pipeline_name=configs.PIPELINE_NAME, pipeline_root=paths.pipeline_root, components=nodes,
                    enable_cache=False, beam_pipeline_args=beam_pipeline_args,
                    metadata_connection_config=tfx_metadata.sqlite_metadata_connection_config(paths.metadata_path))
    BeamDagRunner().run(part)
    [record] = metadata.runs(paths.metadata_path, configs.PIPELINE_NAME)  # this work dir's only run
    return record


class ExampleSet:
    """The tf.Examples of a split in any order; equal to another when the integer and string values are and the
    floats agree to float32 rounding (Transform's analyzers combine partial sums in the runner's order)."""

    def __init__(self, files):
        import tensorflow as tf

        rows = []
        for f in files:
            for record in tf.data.TFRecordDataset(f, compression_type="GZIP"):
                features = tf.train.Example.FromString(record.numpy()).features.feature
                rows.append(tuple((name, features[name].WhichOneof("kind"),
                                   tuple(getattr(features[name], features[name].WhichOneof("kind")).value))
                                  for name in sorted(features)))
        exact = [tuple(item for item in row if item[1] != "float_list") for row in rows]
        order = sorted(range(len(rows)), key=lambda i: (exact[i], [item[2] for item in rows[i]]))
        self.exact = [exact[i] for i in order]
        self.floats = [[value for item in rows[i] if item[1] == "float_list" for value in item[2]] for i in order]

    def __eq__(self, other) -> bool:
        import numpy as np

        return self.exact == other.exact and len(self.floats) == len(other.floats) and all(
            len(a) == len(b) and np.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(self.floats, other.floats))

    def __repr__(self) -> str:
        return f"{len(self.exact)} examples"


def _statistics(path: str):
    """Example count and each feature's count of present values (float moments may differ in the last bits with
    another combining order)."""
    import tensorflow_data_validation as tfdv

    dataset = tfdv.load_stats_binary(path).datasets[0]
    counts = {".".join(f.path.step): getattr(f, f.WhichOneof("stats")).common_stats.num_non_missing
              for f in dataset.features}
    return dataset.num_examples, sorted(counts.items())


def contents(uri: str) -> Dict[str, object]:
    """Each file (examples as above, statistics as above, anything else its bytes' digest) by relative path."""
    out = {}
    files = sorted(f for f in glob.glob(os.path.join(uri, "**", "*"), recursive=True) if os.path.isfile(f))
    example_files = [f for f in files if f.endswith(".gz")]
    for split_dir in sorted({os.path.dirname(f) for f in example_files}):
        out[os.path.relpath(split_dir, uri)] = ExampleSet([f for f in example_files if f.startswith(split_dir)])
    for f in files:
        if f.endswith("FeatureStats.pb"):
            out[os.path.relpath(f, uri)] = _statistics(f)
        elif not f.endswith(".gz"):
            with open(f, "rb") as data:
                out[os.path.relpath(f, uri)] = hashlib.sha256(data.read()).hexdigest()[:12]
    return out


def outputs(record: metadata.RunRecord) -> Dict[str, Dict[str, object]]:
    return {f"{node}.{key}": contents(record.node(node).output(key).uri) for node, key in COMPARED}


@pytest.fixture(scope="module")
def raw_data(tmp_path_factory) -> str:
    """One copy of the input for every run: outputs that name their input files then agree."""
    from pipeline.datasets import synthetic

    generated = synthetic.ensure_generated(str(tmp_path_factory.mktemp("data")), DATA_SIZE, configs.DEFAULT_DATA_SEED)
    return os.path.join(generated, "raw")


@pytest.fixture(scope="module")
def direct_outputs(raw_data, tmp_path_factory):
    return outputs(run_beam_nodes(raw_data, str(tmp_path_factory.mktemp("direct") / "work"), []))


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("runner", ["flink", "spark"])
def test_a_portable_preset_on_the_job_service_gives_the_direct_runners_outputs(runner, job_service, raw_data,
                                                                              direct_outputs, tmp_path):
    from pipeline.runners import beam

    args = beam.pipeline_args(beam.BeamSettings(runner=runner, job_endpoint=job_service.endpoint))
    assert "--environment_type=LOOPBACK" in args
    jobs_before = job_service.jobs_done()
    record = run_beam_nodes(raw_data, str(tmp_path / "work"), args)
    jobs = job_service.jobs_done() - jobs_before
    assert jobs >= 4, "SampleGen, StatisticsGen, Transform and FeatureSnapshot did not all run on the job service"
    assert {node: r.state for node, r in record.nodes.items()} == dict.fromkeys(BEAM_NODES, "COMPLETE")
    got = outputs(record)
    print(runner, jobs, "jobs;", {output: {part: value for part, value in parts.items()
                                           if isinstance(value, ExampleSet)} for output, parts in got.items()})
    assert got == direct_outputs
