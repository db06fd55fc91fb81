"""The evaluation baseline is what serves now, even when everything upstream of it comes from cache.

Run A pushes, run B on other data pushes, run C on A's data (Trainer cached) must compare against B's version.
"""
from __future__ import annotations

import os

import pytest

from components.serving_baseline import spec as baseline_spec
from pipeline import configs
from pipeline.report import metadata

DATA_SIZE = 2000  # ratings: the smallest data SampleGen makes both splits of
TRAIN_STEPS = 10  # the model's quality is not tested


def run_on(paths: configs.LocalPaths, seed: int) -> metadata.RunRecord:
    from pipeline.datasets import synthetic
    from pipeline.runners import local

    data = synthetic.ensure_generated(paths.data_dir, DATA_SIZE, seed)
    # Any model is blessed (neither gate stops it): every run pushes unless the same model already serves.
    return local.run(configs.Settings(data_root=os.path.join(data, "raw"), min_auc=0.0, max_auc_regression=1.0,
                                      min_catalogue_ratio=0.0, max_catalogue_regression=1.0,
                                      train_steps=TRAIN_STEPS), paths)


def pushed_version(record: metadata.RunRecord) -> str:
    pushed = record.node("Pusher").output("pushed_model")
    assert metadata.custom_property(pushed, "pushed") == 1, "the run did not push"
    return metadata.custom_property(pushed, "pushed_version")


def baseline_version(record: metadata.RunRecord) -> str:
    return metadata.custom_property(record.node("ServingBaseline").output(baseline_spec.BASELINE_MODEL_KEY),
                                    baseline_spec.BASELINE_VERSION_PROPERTY)


@pytest.mark.e2e
@pytest.mark.slow
def test_a_cached_trainer_is_compared_with_the_version_another_run_pushed(tmp_path):
    paths = configs.LocalPaths(str(tmp_path / "work"))
    run_a = run_on(paths, seed=1)
    version_a = pushed_version(run_a)
    run_b = run_on(paths, seed=2)
    version_b = pushed_version(run_b)
    assert baseline_version(run_b) == version_a and version_b != version_a

    run_c = run_on(paths, seed=1)
    states = {node: record.state for node, record in run_c.nodes.items()}
    print("run C:", states)
    assert states["Trainer"] == "CACHED"  # A's model, from cache
    assert states["ServingBaseline"] == "COMPLETE" and states["Evaluator"] == "COMPLETE"
    assert baseline_version(run_c) == version_b
    evaluator_inputs = run_c.node("Evaluator").inputs["baseline_model"]
    assert [a.id for a in evaluator_inputs] == [run_c.node("ServingBaseline").output("baseline_model").id]
