"""Shared fixtures. The end-to-end pipeline run is made once per session and reused by every test that needs a
real pushed model, real ML Metadata and real TFMA output (it is the expensive part of the suite)."""
from __future__ import annotations

import dataclasses
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Dict

import pytest

from pipeline import configs

REPO_ROOT = configs.PROJECT_ROOT
SHARED_DATA = os.path.join(os.path.dirname(REPO_ROOT), "shared", "data")
E2E_DATA_SIZE = 6000  # ratings; small enough for CI, large enough that the model learns
E2E_MIN_AUC = 0.6
BUCKET = "sparrow"


def shared_data(*parts: str) -> str:
    """A path under ../shared/data, or skip the test when the reference data is not beside the checkout."""
    path = os.path.join(SHARED_DATA, *parts)
    if not os.path.exists(path):
        pytest.skip(f"reference data not present: {path}")
    return path


def run_cli(*args: str, timeout: int = 2400, check: bool = True) -> subprocess.CompletedProcess:
    """Runs `sparrow-tfx ARGS` as a user would, in a fresh process."""
    result = subprocess.run([sys.executable, "-m", "pipeline.cli.main", *args], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"sparrow-tfx {' '.join(args)} exited {result.returncode}\n"
                             f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-6000:]}")
    return result


@dataclasses.dataclass(frozen=True)
class PipelineRun:
    paths: configs.LocalPaths
    # e2e_run: its generated data as sample CSVs, `train/` and `eval/` (the same samples as SampleGen's);
    # movielens_run: the raw MovieLens directory it read
    data_root: str
    stdout: str
    stderr: str = ""

    @property
    def run_id(self) -> str:
        """The id `run` printed for this run (other tests add runs to the same store)."""
        return re.search(r"^run (\S+)$", self.stdout, re.M).group(1)

    def record(self):
        """This run's record in ML Metadata, whatever ran on the store since."""
        from pipeline.report import metadata

        [record] = [r for r in metadata.runs(self.paths.metadata_path, configs.PIPELINE_NAME)
                    if r.run_id == self.run_id]
        return record


@pytest.fixture(scope="session")
def e2e_run(tmp_path_factory) -> PipelineRun:
    """One real local pipeline run (BeamDagRunner, SQLite MLMD) on small generated data."""
    work_dir = str(tmp_path_factory.mktemp("e2e-work"))
    from pipeline.datasets import synthetic

    result = run_cli("run", "--work-dir", work_dir, "--size", str(E2E_DATA_SIZE), "--min-auc", str(E2E_MIN_AUC))
    generated = str(tmp_path_factory.mktemp("e2e-data"))  # `run` writes only the raw files it reads
    synthetic.generate(generated, E2E_DATA_SIZE, configs.DEFAULT_DATA_SEED)
    return PipelineRun(configs.LocalPaths(work_dir), os.path.join(generated, "samples"), result.stdout, result.stderr)


@pytest.fixture(scope="session")
def e2e_rerun(e2e_run) -> PipelineRun:
    """The same command again on e2e_run's work dir: everything up to the Trainer from cache, and the model e2e_run
    pushed now serving, so the baseline is re-read and the Evaluator compares two models."""
    result = run_cli("run", "--work-dir", e2e_run.paths.work_dir, "--size", str(E2E_DATA_SIZE),
                     "--min-auc", str(E2E_MIN_AUC))
    return dataclasses.replace(e2e_run, stdout=result.stdout, stderr=result.stderr)


@pytest.fixture(scope="session")
def movielens_run(tmp_path_factory) -> PipelineRun:
    """One real local pipeline run on ml-latest-small-2015's raw files (skipped when ../shared/data is absent): the
    tests of SampleGen on real ratings read its store and its Examples."""
    raw = shared_data("ml-latest-small-2015")
    work_dir = str(tmp_path_factory.mktemp("movielens-work"))
    result = run_cli("run", "--movielens", raw, "--work-dir", work_dir, "--train-steps", "300", "--min-auc", "0.6")
    return PipelineRun(configs.LocalPaths(work_dir), raw, result.stdout, result.stderr)


@dataclasses.dataclass(frozen=True)
class CompiledPipeline:
    path: str  # the PipelineSpec YAML
    pipeline_root: str
    serving_dir: str
    stdout: str


@pytest.fixture(scope="session")
def compiled_pipeline(tmp_path_factory) -> CompiledPipeline:
    """`sparrow-tfx compile` once, with local roots, so that the spec's own container commands can run here."""
    out = tmp_path_factory.mktemp("kfp")
    root, serving_dir, path = str(out / "root"), str(out / "serving"), str(out / "pipeline.yaml")
    result = run_cli("compile", "--output", path, "--pipeline-root", root, "--serving-dir", serving_dir)
    return CompiledPipeline(path, root, serving_dir, result.stdout)


@pytest.fixture(scope="session")
def bad_inputs_validation(tmp_path_factory):
    """The bad-input cases of tests/bad_data.py through one real CsvExampleGen..DataGate pipeline run."""
    from tests import bad_data

    return bad_data.run_validation(str(tmp_path_factory.mktemp("bad-inputs")))


@pytest.fixture(scope="session")
def transformed_with_negatives(tmp_path_factory):
    """(train file pattern, TFTransformOutput) of tests/helpers/transform.py's rows, the last half sampled
    negatives, through tf.Transform once: the Trainer's and the Evaluator's tests read the same files."""
    from tests.helpers.transform import ROWS, transformed_examples

    return transformed_examples(tmp_path_factory, negatives=ROWS // 2)


@dataclasses.dataclass(frozen=True)
class SnapshotWorld:
    raw_dir: str  # generated MovieLens files (4000 ratings, seed 5)
    examples: object  # SampleGen's Examples artifact of them
    snapshot: object  # FeatureSnapshot's artifact (raw mode, every rating)


@pytest.fixture(scope="session")
def snapshot_world(tmp_path_factory) -> SnapshotWorld:
    """Generated ratings through the real SampleGen and FeatureSnapshot executors once: the tests of serving (the
    recommend signature, the serving gate, the server) read them and write only under roots of their own."""
    from pipeline.datasets import synthetic
    from tests.helpers import executors

    root = str(tmp_path_factory.mktemp("snapshot-world"))
    raw_dir = os.path.join(root, "raw")
    synthetic.write_movielens(synthetic.generate_world(num_ratings=4000, seed=5), raw_dir)
    examples = executors.run_sample_gen(raw_dir, os.path.join(root, "examples"))
    return SnapshotWorld(raw_dir, examples,
                         executors.run_snapshot(examples, os.path.join(root, "snapshot"), input_base=raw_dir))


@pytest.fixture
def snapshot_entries():
    """(movie entries, user entry) of a three-movie feature snapshot: tests/helpers/snapshots.py."""
    from tests.helpers import snapshots

    return snapshots.snapshot_entries()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclasses.dataclass(frozen=True)
class S3Server:
    bucket: str  # s3://NAME
    environment: Dict[str, str]  # for TensorFlow's (tensorflow-io) and Beam's (boto3) S3 clients


@pytest.fixture
def s3_server(tmp_path) -> S3Server:
    """moto's S3 server on loopback, started and stopped here, with one bucket."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with open(tmp_path / "moto.log", "w") as log:
        server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(endpoint, timeout=2)  # S3's ListBuckets
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError(f"moto server did not start: {(tmp_path / 'moto.log').read_text()}") from None
                time.sleep(0.3)
        request = urllib.request.Request(f"{endpoint}/{BUCKET}", method="PUT")
        urllib.request.urlopen(request, timeout=10)
        yield S3Server(f"s3://{BUCKET}", {
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,  # boto3
            "S3_ENDPOINT": endpoint, "S3_USE_HTTPS": "0", "S3_VERIFY_SSL": "0"})  # tensorflow-io
    finally:
        server.terminate()
        server.wait(timeout=30)
