"""The TFMA evaluation: metrics, slices from the feature spec, and the blessing gate.

The gate applies to the overall slice only (small slices would fail any fixed threshold by chance): ROC AUC
above `min_auc`, and no worse than the serving model's by more than `max_auc_regression`.
"""
from __future__ import annotations

import tensorflow_model_analysis as tfma

from components import features, serving

AUC_METRIC = "AUC"
PR_AUC_METRIC = "AUCPrecisionRecall"
CONFUSION_THRESHOLDS = (0.3, 0.5, 0.7)


def slicing_specs() -> list:
    keys = features.SLICE_FEATURE_KEYS + tuple(b.name for b in features.SLICE_BUCKETS)
    return [tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=[k]) for k in keys]


def metrics_specs(min_auc: float, max_auc_regression: float) -> list:
    gate = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": min_auc}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -max_auc_regression}))
    metrics = [
        tfma.MetricConfig(class_name="ExampleCount"),
        tfma.MetricConfig(class_name=AUC_METRIC, per_slice_thresholds=[
            tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=gate)]),
        tfma.MetricConfig(class_name=PR_AUC_METRIC),
        tfma.MetricConfig(class_name="BinaryAccuracy"),
        tfma.MetricConfig(class_name="MeanLabel"),
        tfma.MetricConfig(class_name="MeanPrediction"),
        tfma.MetricConfig(class_name="Calibration"),
        tfma.MetricConfig(class_name="CalibrationPlot"),
        tfma.MetricConfig(class_name="ConfusionMatrixPlot"),
        tfma.MetricConfig(class_name="ConfusionMatrixAtThresholds",
                          config=f'"thresholds": {list(CONFUSION_THRESHOLDS)}'),
    ]
    return [tfma.MetricsSpec(metrics=metrics)]


def eval_config(min_auc: float, max_auc_regression: float) -> tfma.EvalConfig:
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(
            signature_name=serving.SERVING_SIGNATURE, label_key=features.LABEL_KEY,
            preprocessing_function_names=[serving.TRANSFORM_SIGNATURE])],
        slicing_specs=slicing_specs(),
        metrics_specs=metrics_specs(min_auc, max_auc_regression))
