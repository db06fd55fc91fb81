"""The Evaluator: its executor's choice of baseline (components/evaluator) and TFMA's run of the eval config."""
import json
import subprocess
import sys

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components.evaluator import executor
from components.serving_baseline import spec as baseline_spec
from models import model, schema, signatures, trainer
from tests.conftest import REPO_ROOT
from tests.helpers.transform import ROWS, raw_row, transformed_examples

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


def test_a_model_with_the_rate_head_is_evaluated_and_blessed_on_its_liked_probability(tmp_path_factory):
    # The "will rate" head is an output of the Keras model that the serving signature does not return: TFMA's
    # default metrics (the model's compiled ones, per output) failed on it, so no such model was ever blessed.
    files, tft_output = transformed_examples(tmp_path_factory, negatives=ROWS // 2)
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
            row = raw_row(int(rng.integers(1, 40)), int(rng.integers(1, 30)), label=int(rng.random() < 0.5))
            writer.write(coder.encode(dict(row, timestamp=[5000 + second])))
    # In a process of its own, as a pipeline's Evaluator runs (the failure did not show inside this one).
    probe = subprocess.run([sys.executable, "-m", "tests.evaluator_probe", str(examples_dir), str(model_dir),
                            str(tmp_path_factory.mktemp("evaluator"))],
                           cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert probe.returncode == 0, probe.stderr[-3000:]
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    assert result["blessed"] and result["metrics"]["example_count"] == EVAL_ROWS
    assert 0.0 < result["metrics"]["auc"] < 1.0
