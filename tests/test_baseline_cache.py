"""The evaluation baseline is what serves now, even when everything upstream of it comes from cache; a candidate
whose gate fails after a cached Trainer is not pushed.

Run A (the session's e2e run: its store and serving dir copied) pushed; run B on other data pushes; run C on A's
data (Trainer cached) must compare against B's version, and with an out-of-reach catalogue ratio it is not pushed.
"""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from typing import Dict

import pytest

from components.serving_baseline import spec as baseline_spec
from pipeline import configs
from pipeline.report import metadata
from recommender import serving_dir
from tests import bad_data
from tests.conftest import E2E_DATA_SIZE, E2E_MIN_AUC, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DATA_SIZE = 2000  # ratings of run B: the smallest data SampleGen makes both splits of
TRAIN_STEPS = 10  # run B's model's quality is not tested


def run_on(paths: configs.LocalPaths, raw: str, **settings) -> metadata.RunRecord:
    from pipeline.runners import local

    # Any model is blessed (neither gate stops it): every run pushes unless the same model already serves.
    return local.run(configs.Settings(data_root=raw, min_auc=0.0, max_auc_regression=1.0, min_catalogue_ratio=0.0,
                                      max_catalogue_regression=1.0, **settings), paths)


def pushed_version(record: metadata.RunRecord) -> str:
    pushed = record.node("Pusher").output("pushed_model")
    assert metadata.custom_property(pushed, "pushed") == 1, "the run did not push"
    return metadata.custom_property(pushed, "pushed_version")


def baseline_version(record: metadata.RunRecord) -> str:
    return metadata.custom_property(record.node("ServingBaseline").output(baseline_spec.BASELINE_MODEL_KEY),
                                    baseline_spec.BASELINE_VERSION_PROPERTY)


@dataclasses.dataclass(frozen=True)
class Runs:
    paths: configs.LocalPaths
    version_a: str
    run_b: metadata.RunRecord
    serving_before_c: Dict[str, str]  # the serving dir's files before run C
    result_c: subprocess.CompletedProcess
    run_c: metadata.RunRecord


@pytest.fixture(scope="module")
def runs(e2e_run, tmp_path_factory) -> Runs:
    from pipeline.datasets import synthetic

    # Run A is e2e_run: its store (so its Trainer is a cache hit) and its serving dir, its artifacts in place.
    paths = configs.LocalPaths(str(tmp_path_factory.mktemp("baseline-cache") / "work"))
    os.makedirs(paths.work_dir)
    shutil.copy(e2e_run.paths.metadata_path, paths.metadata_path)
    shutil.copytree(e2e_run.paths.serving_dir, paths.serving_dir)
    [version_a] = [str(v) for v in serving_dir.versions(paths.serving_dir)]

    data_b = synthetic.ensure_generated(str(tmp_path_factory.mktemp("data-b")), DATA_SIZE, 2)
    run_b = run_on(paths, os.path.join(data_b, "raw"), train_steps=TRAIN_STEPS)

    # Run C as e2e_run's command (so its Trainer is e2e_run's) with an out-of-reach catalogue ratio; no AUC change
    # limit against B's model, so that only the catalogue gate fails.
    before = bad_data.tree_digest(paths.serving_dir)
    raw_a = os.path.join(synthetic.ensure_generated(e2e_run.paths.data_dir, E2E_DATA_SIZE, configs.DEFAULT_DATA_SEED),
                         "raw")
    result = run_cli("run", "--movielens", raw_a, "--work-dir", paths.work_dir, "--min-auc", str(E2E_MIN_AUC),
                     "--max-auc-regression", "1", "--min-catalogue-ratio", "100", check=False)
    print(result.stdout)
    return Runs(paths, version_a, run_b, before, result,
                metadata.latest_run(paths.metadata_path, configs.PIPELINE_NAME))


def test_a_cached_trainer_is_compared_with_the_version_another_run_pushed(runs):
    version_b = pushed_version(runs.run_b)
    assert baseline_version(runs.run_b) == runs.version_a and version_b != runs.version_a

    run_c = runs.run_c
    states = {node: record.state for node, record in run_c.nodes.items()}
    print("run C:", states)
    assert states["Trainer"] == "CACHED"  # A's model, from cache
    assert states["ServingBaseline"] == "COMPLETE" and states["Evaluator"] == "COMPLETE"
    assert baseline_version(run_c) == version_b
    evaluator_inputs = run_c.node("Evaluator").inputs["baseline_model"]
    assert [a.id for a in evaluator_inputs] == [run_c.node("ServingBaseline").output("baseline_model").id]


def test_candidate_that_loses_to_the_most_rated_list_is_not_pushed(runs):
    """AUC passes, the catalogue gate does not (an out-of-reach ratio): the Pusher never runs."""
    result = runs.result_c
    assert result.returncode == 2, result.stdout + result.stderr[-3000:]
    assert re.search(r"^  Trainer +CACHED", result.stdout, re.M)  # same data and code: only the gate re-ran
    assert re.search(r"^  CatalogueEvaluator +COMPLETE", result.stdout, re.M)
    assert re.search(r"^catalogue gate: recall@10 over \d+ eval users: ours 0\.\d+ < 100\.00 x most_rated 0\.\d+ "
                     r"\(change with --min-catalogue-ratio\): failed$", result.stdout, re.M), result.stdout
    assert "gate: overall ROC AUC" in result.stdout and "  passed" in result.stdout  # TFMA's gate passed
    assert "blessed: no" in result.stdout and "serving model: unchanged (nothing pushed)" in result.stdout
    assert bad_data.tree_digest(runs.paths.serving_dir) == runs.serving_before_c
