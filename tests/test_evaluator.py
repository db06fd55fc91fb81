"""The Evaluator executor's choice of baseline (components/evaluator)."""
from tfx.types import standard_artifacts

from components.evaluator import executor
from components.serving_baseline import spec as baseline_spec


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
