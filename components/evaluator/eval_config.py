"""The TFMA evaluation: metrics, slices from the feature spec, and the blessing gate.

The gate applies to the overall slice only (small slices would fail any fixed threshold by chance): ROC AUC
at least `min_auc`, and no worse than the serving model's by more than `max_auc_regression`.
Ranking quality is measured per user (each user's eval examples are one query, ranked by the model's score):
NDCG@10 and recall@10 with the label as gain; they are reported, not gated.
"""
from __future__ import annotations

import dataclasses
import json

import tensorflow_model_analysis as tfma
from google.protobuf import wrappers_pb2

from components.evaluator import ranking_metrics
from models import features, signatures

AUC_METRIC = "AUC"
PR_AUC_METRIC = "AUCPrecisionRecall"
CONFUSION_THRESHOLDS = (0.3, 0.5, 0.7)
RANKING_K = 10


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
        ranking_metric_config(),
    ]
    return [tfma.MetricsSpec(metrics=metrics)]


def ranking_metric_config() -> tfma.MetricConfig:
    """NDCG@k and recall@k per user; the label is the gain (a liked movie is relevant, a disliked one is not)."""
    return tfma.MetricConfig(
        class_name=ranking_metrics.UserRanking.__name__, module=ranking_metrics.__name__,
        config=json.dumps({"user_key": features.USER_KEY, "top_k_list": [RANKING_K]}))


@dataclasses.dataclass(frozen=True)
class Gate:
    """The blessing thresholds as an EvalConfig holds them (read back from an Evaluator's output)."""
    min_auc: float
    max_auc_regression: float

    @classmethod
    def from_eval_config(cls, config: tfma.EvalConfig) -> "Gate":
        for spec in config.metrics_specs:
            for metric in spec.metrics:
                if metric.class_name == AUC_METRIC and metric.per_slice_thresholds:
                    threshold = metric.per_slice_thresholds[0].threshold
                    return cls(threshold.value_threshold.lower_bound.value,
                               -threshold.change_threshold.absolute.value)
        raise ValueError(f"the eval config has no {AUC_METRIC} gate: {config}")


def eval_config(min_auc: float, max_auc_regression: float) -> tfma.EvalConfig:
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(
            signature_name=signatures.SERVING_SIGNATURE, label_key=features.LABEL_KEY,
            preprocessing_function_names=[signatures.TRANSFORM_SIGNATURE])],
        slicing_specs=slicing_specs(),
        metrics_specs=metrics_specs(min_auc, max_auc_regression),
        # Not the Keras model's compiled metrics: TFMA would compute them per output, and a model with the
        # "will rate" head has an output the serving signature does not return (TFMA then fails on it).
        options=tfma.Options(include_default_metrics=wrappers_pb2.BoolValue(value=False)))
