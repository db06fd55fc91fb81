"""The Evaluator: its executor's choice of baseline (components/evaluator) and TFMA's run of the eval config."""
import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components.evaluator import executor
from components.serving_baseline import spec as baseline_spec
from models import model, schema, signatures, trainer
from tests.conftest import REPO_ROOT
from tests.helpers.transform import raw_row

EVAL_ROWS = 200


def _model(is_candidate):
    model = standard_artifacts.Model()
    model.set_int_custom_property(baseline_spec.IS_CANDIDATE_PROPERTY, is_candidate)
    return model


def test_a_baseline_that_is_the_candidate_itself_is_not_evaluated():
    inputs = {"model": [_model(0)], executor.BASELINE_KEY: [_model(1)], "examples": []}
    assert set(executor.without_candidate_baseline(inputs)) == {"model", "examples"}


def test_a_serving_baseline_is_kept():
    inputs = {"model": [_model(0)], executor.BASELINE_KEY: [_model(0)]}
    assert executor.without_candidate_baseline(inputs) is inputs


def test_a_kubeflow_baseline_with_the_property_as_a_float_is_recognised():
    baseline = standard_artifacts.Model()
    baseline.set_float_custom_property(baseline_spec.IS_CANDIDATE_PROPERTY, 1.0)  # KFP metadata numbers are floats
    assert executor.BASELINE_KEY not in executor.without_candidate_baseline({executor.BASELINE_KEY: [baseline]})


@pytest.fixture(scope="module")
def rate_head_model(tmp_path_factory, transformed_with_negatives):
    """(examples dir, model dir): a model with the "will rate" head as the Trainer saves it, and an eval split."""
    files, tft_output = transformed_with_negatives
    built, _ = trainer.fit(files, tft_output, model.HParams(batch_size=32, max_epochs=1, validation_fraction=0.25))
    assert model.has_rate_head(built)
    model_dir = tmp_path_factory.mktemp("model")
    built.save(path_utils.serving_model_path(str(model_dir)), save_format="tf", save_traces=False,
               signatures=signatures.make_signatures(built, tft_output))
    examples_dir = tmp_path_factory.mktemp("examples")
    (examples_dir / "Split-eval").mkdir()
    rng = np.random.default_rng(1)
    coder = tft.coders.ExampleProtoCoder(schema.build_schema())
    with tf.io.TFRecordWriter(str(examples_dir / "Split-eval" / "data.gz"), options="GZIP") as writer:
        for second in range(EVAL_ROWS):
            row = raw_row(int(rng.integers(1, 40)), int(rng.integers(1, 30)), count=int(rng.integers(1, 500)),
                          genre2=str(rng.choice(["", "Comedy"])), label=int(rng.random() < 0.5))
            writer.write(coder.encode(dict(row, timestamp=[5000 + second])))
    return str(examples_dir), str(model_dir)


def _probe(tmp_path_factory, examples_dir, model_dir, *options):
    """The Evaluator in a process of its own, as a pipeline's Evaluator runs (a failure once did not show inside
    this one): tests/evaluator_probe.py's JSON."""
    probe = subprocess.run([sys.executable, "-m", "tests.evaluator_probe", examples_dir, model_dir,
                            str(tmp_path_factory.mktemp("evaluator")), *options],
                           cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert probe.returncode == 0, probe.stderr[-3000:]
    return json.loads(probe.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def probe(tmp_path_factory, rate_head_model):
    """_probe on rate_head_model, run once per set of options: the tests that ask for the same read one run."""
    results = {}

    def run(*options):
        if options not in results:
            results[options] = _probe(tmp_path_factory, *rate_head_model, *options)
        return results[options]

    return run


def test_a_model_with_the_rate_head_is_evaluated_and_blessed_on_its_liked_probability(probe):
    # The "will rate" head is an output of the Keras model that the serving signature does not return: TFMA's
    # default metrics (the model's compiled ones, per output) failed on it, so no such model was ever blessed.
    result = probe()
    assert result["blessed"] and result["metrics"]["example_count"] == EVAL_ROWS
    assert 0.0 < result["metrics"]["auc"] < 1.0


@pytest.mark.slow
@pytest.mark.parametrize("with_baseline", [False, True], ids=["first run", "against a serving model"])
def test_predictions_handed_to_tfma_give_the_figures_of_tfmas_model_route_on_every_slice(
        probe, rate_head_model, with_baseline):
    options = ("--baseline", rate_head_model[1]) if with_baseline else ()
    ours, tfx = probe(*options), probe(*options, "--tfx")
    assert len(tfx["slices"]) > 5 and set(ours["slices"]) == set(tfx["slices"])
    for name, figures in tfx["slices"].items():
        assert set(ours["slices"][name]) == set(figures), name
        for metric, value in figures.items():
            assert ours["slices"][name][metric] == pytest.approx(value, abs=1e-6, nan_ok=True), (name, metric)
    assert any(" diff " in metric for metric in ours["slices"]["overall"]) == with_baseline
    # The plots on the overall slice only: what the report draws; TFMA's route drew them on every slice.
    assert ours["plot_slices"] == ["overall"] and len(tfx["plot_slices"]) == len(tfx["slices"])
    assert ours["blessed"] and tfx["blessed"] and ours["blessing"] == tfx["blessing"]


def test_the_change_threshold_against_the_serving_model_still_gates(probe, rate_head_model):
    """A candidate that must beat the serving model (here: itself) by 0.01 AUC is not blessed."""
    result = probe("--baseline", rate_head_model[1], "--max-auc-regression=-0.01")
    assert not result["blessed"] and not result["validation_ok"]
    assert result["blessing"]["blessed"] == 0 and result["slices"]["overall"]["candidate diff auc"] == 0.0


@pytest.mark.slow
def test_worker_processes_give_the_figures_and_the_blessing_of_one_process(probe, rate_head_model):
    # A small split is evaluated in the executor's process; forced into two direct runner processes, TFMA merges
    # each slice's partial results across them: the same figures on every slice, the same blessing.
    one, two = probe(), probe("--workers", "2")
    assert len(one["slices"]) > 5 and set(two["slices"]) == set(one["slices"])
    for name, figures in one["slices"].items():
        assert two["slices"][name] == pytest.approx(figures, rel=1e-9, abs=1e-12, nan_ok=True), name
    assert (two["blessed"], two["plot_slices"], two["validation_ok"]) == \
        (one["blessed"], one["plot_slices"], one["validation_ok"])
    gated = probe("--baseline", rate_head_model[1], "--max-auc-regression=-0.01", "--workers", "2")
    assert not gated["blessed"] and not gated["validation_ok"]
