"""SampleGen inside the whole pipeline: the default run (generated raw files) and real MovieLens ratings."""
import re

import pytest

from components.sample_gen import report
from pipeline import configs
from pipeline.report import metadata
from tests.conftest import run_cli, shared_data

pytestmark = pytest.mark.e2e
SUMMARY = re.compile(r"SampleGen \(point_in_time features, global_time split\): ([\d,]+) ratings read = ([\d,]+) "
                     r"train \+ ([\d,]+) eval samples \+ ([\d,]+) skipped \(.*\) \+ 0 rejected")
ML_LATEST_SMALL_2015_RATINGS = 100_023


def _summary_counts(stdout: str) -> dict:
    match = SUMMARY.search(stdout)
    assert match, stdout
    read, train, evaluation, skipped = (int(n.replace(",", "")) for n in match.groups())
    return {"ratings_read": read, "samples_train": train, "samples_eval": evaluation, "skipped": skipped}


def _checked_sample_gen_counts(work_dir: str, stdout: str) -> dict:
    """The summary's counts; they must be the report's in the Examples artifact and its ML Metadata properties,
    and account for every rating read (none rejected)."""
    record = metadata.latest_run(configs.LocalPaths(work_dir).metadata_path, configs.PIPELINE_NAME)
    node = record.node("SampleGen")
    assert node is not None and "CsvExampleGen" not in record.nodes
    examples = node.output("examples")
    printed = _summary_counts(stdout)
    written = report.load(examples.uri)
    for key in ("ratings_read", "samples_train", "samples_eval"):
        assert printed[key] == written[key] == metadata.custom_property(examples, key), key
    assert printed["ratings_read"] == printed["samples_train"] + printed["samples_eval"] + printed["skipped"]
    return printed


def test_default_run_makes_its_samples_from_raw_files(e2e_run):
    _checked_sample_gen_counts(e2e_run.paths.work_dir, e2e_run.stdout)


@pytest.mark.slow
@pytest.mark.shared_data
def test_pipeline_on_raw_movielens_ratings(tmp_path):
    raw = shared_data("ml-latest-small-2015")
    result = run_cli("run", "--movielens", raw, "--work-dir", str(tmp_path), "--train-steps", "300",
                     "--min-auc", "0.6")
    counts = _checked_sample_gen_counts(str(tmp_path), result.stdout)
    assert counts["ratings_read"] == ML_LATEST_SMALL_2015_RATINGS
    assert "blessed: yes" in result.stdout, result.stdout
