"""Everything the report shows about one run, read from ML Metadata and the run's artifacts (no rendering here)."""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from typing import Dict, List, Tuple

from pipeline.report import metadata, summary

STATISTICS_GEN = "StatisticsGen"
EXAMPLE_VALIDATOR = "ExampleValidator"
CALIBRATION_BINS = 10  # TFMA's calibration histogram has 1000 buckets; the plot merges them into these


@dataclasses.dataclass
class Confusion:
    threshold: float
    true_positives: float
    false_positives: float
    true_negatives: float
    false_negatives: float
    precision: float
    recall: float


@dataclasses.dataclass
class CalibrationBin:
    mean_prediction: float
    positive_rate: float
    examples: float


@dataclasses.dataclass
class ModelCurves:
    """One model's overall-slice plots: ROC and PR points from TFMA's confusion matrices, calibration bins."""
    roc: List[Tuple[float, float]]  # (false positive rate, recall)
    pr: List[Tuple[float, float]]  # (recall, precision)
    calibration: List[CalibrationBin]
    confusion: List[Confusion]  # at the evaluation's ConfusionMatrixAtThresholds thresholds


@dataclasses.dataclass
class FeatureStats:
    name: str
    kind: str  # INT, FLOAT, STRING
    missing: Dict[str, float]  # split -> fraction of examples without the feature
    summary: Dict[str, str]  # split -> mean (numbers) or distinct values (strings)


@dataclasses.dataclass
class Anomaly:
    split: str
    feature: str
    severity: str
    description: str


@dataclasses.dataclass
class ArtifactLink:
    node_id: str
    key: str
    type_name: str
    artifact_id: int
    uri: str

    @property
    def href(self) -> str:
        return pathlib.Path(os.path.abspath(self.uri)).as_uri() if "://" not in self.uri else self.uri


@dataclasses.dataclass
class Review:
    record: metadata.RunRecord
    summary: summary.RunSummary
    slices: Dict[summary.SliceKey, summary.SliceMetrics]
    curves: Dict[str, ModelCurves]  # model name ("candidate", "baseline") -> its plots
    examples: Dict[str, int]  # split -> example count (StatisticsGen)
    features: List[FeatureStats]
    anomalies: List[Anomaly]
    artifacts: List[ArtifactLink]
    catalogue: Dict[str, Dict[str, Dict[str, float]]]  # CatalogueEvaluator's: ranker -> user group -> metric


def _confusion(matrix) -> Confusion:
    return Confusion(matrix.threshold, matrix.true_positives, matrix.false_positives, matrix.true_negatives,
                     matrix.false_negatives, matrix.precision, matrix.recall)


def _calibration_bins(histogram) -> List[CalibrationBin]:
    sums: Dict[int, List[float]] = {}
    for bucket in histogram.buckets:
        count = bucket.num_weighted_examples.value
        if not count:
            continue
        index = min(int(max(bucket.lower_threshold_inclusive, 0.0) * CALIBRATION_BINS), CALIBRATION_BINS - 1)
        total = sums.setdefault(index, [0.0, 0.0, 0.0])
        total[0] += count
        total[1] += bucket.total_weighted_label.value
        total[2] += bucket.total_weighted_refined_prediction.value
    return [CalibrationBin(pred / n, labels / n, n) for _, (n, labels, pred) in sorted(sums.items())]


def load_curves(evaluation_uri: str) -> Dict[str, ModelCurves]:
    """Overall-slice plots and confusion matrices of each model in TFMA's output."""
    import tensorflow_model_analysis as tfma

    curves: Dict[str, ModelCurves] = {}
    for plots in tfma.load_plots(evaluation_uri):
        if plots.slice_key.single_slice_keys:
            continue
        for item in plots.plot_keys_and_values:
            matrices = item.value.confusion_matrix_at_thresholds.matrices
            curves[summary.model_name(item.key)] = ModelCurves(
                roc=[(m.false_positive_rate, m.recall) for m in matrices],
                pr=[(m.recall, m.precision) for m in matrices if m.true_positives + m.false_positives > 0],
                calibration=_calibration_bins(item.value.calibration_histogram_buckets), confusion=[])
    for metrics in tfma.load_metrics(evaluation_uri):
        if metrics.slice_key.single_slice_keys:
            continue
        for item in metrics.metric_keys_and_values:
            if item.value.HasField("confusion_matrix_at_thresholds") and not item.key.is_diff \
                    and summary.model_name(item.key) in curves:
                curves[summary.model_name(item.key)].confusion = [
                    _confusion(m) for m in item.value.confusion_matrix_at_thresholds.matrices]
    return curves


def load_eval_result(evaluation_uri: str, model: str = summary.CANDIDATE_MODEL):
    """TFMA's EvalResult of one model of the run, what TFMA's widgets (render_slicing_metrics, render_plot) take."""
    import tensorflow_model_analysis as tfma

    return tfma.load_eval_result(evaluation_uri, model_name=summary.stored_model_name(evaluation_uri, model))


def _split_names(artifact) -> List[str]:
    return json.loads(artifact.properties["split_names"].string_value)


def load_statistics(statistics) -> Tuple[Dict[str, int], List[FeatureStats]]:
    """Example counts per split and, per feature, the missing fraction and mean or distinct values."""
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import statistics_pb2

    examples, by_name = {}, {}
    for split in _split_names(statistics):
        dataset = tfdv.load_stats_binary(os.path.join(statistics.uri, f"Split-{split}", "FeatureStats.pb")).datasets[0]
        examples[split] = dataset.num_examples
        for feature in dataset.features:
            name = ".".join(feature.path.step) or feature.name
            stats = by_name.setdefault(name, FeatureStats(
                name, statistics_pb2.FeatureNameStatistics.Type.Name(feature.type), {}, {}))
            kind = feature.WhichOneof("stats")
            missing = getattr(feature, kind).common_stats.num_missing
            stats.missing[split] = missing / dataset.num_examples if dataset.num_examples else 0.0
            stats.summary[split] = (f"mean {feature.num_stats.mean:.4g}" if kind == "num_stats"
                                    else f"{feature.string_stats.unique} distinct")
    return examples, sorted(by_name.values(), key=lambda f: f.name)


def load_anomalies(anomalies) -> List[Anomaly]:
    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    found = []
    for split in _split_names(anomalies):
        path = os.path.join(anomalies.uri, f"Split-{split}", "SchemaDiff.pb")
        with tf.io.gfile.GFile(path, "rb") as f:  # the artifact may be on object storage
            proto = anomalies_pb2.Anomalies.FromString(f.read())
        for feature, info in sorted(proto.anomaly_info.items()):
            found.append(Anomaly(split, feature, anomalies_pb2.AnomalyInfo.Severity.Name(info.severity),
                                 info.description or info.short_description))
        if proto.HasField("dataset_anomaly_info"):
            info = proto.dataset_anomaly_info
            found.append(Anomaly(split, "(dataset)", anomalies_pb2.AnomalyInfo.Severity.Name(info.severity),
                                 info.description or info.short_description))
    return found


def _artifacts(record: metadata.RunRecord) -> List[ArtifactLink]:
    return [ArtifactLink(node.node_id, key, artifact.type, artifact.id, artifact.uri)
            for node in record.nodes.values() for key, artifacts in sorted(node.outputs.items())
            for artifact in artifacts]


def _output(record: metadata.RunRecord, node_id: str, key: str):
    node = record.node(node_id)
    return node.output(key) if node else None


def load(record: metadata.RunRecord) -> Review:
    from compat import file_systems

    file_systems.register_for(*(artifact.uri for node in record.nodes.values()
                                for artifacts in node.outputs.values() for artifact in artifacts))
    run = summary.RunSummary.from_record(record)
    evaluation = _output(record, summary.EVALUATOR, "evaluation")
    statistics = _output(record, STATISTICS_GEN, "statistics")
    anomalies = _output(record, EXAMPLE_VALIDATOR, "anomalies")
    examples, feature_stats = load_statistics(statistics) if statistics else ({}, [])
    return Review(
        record=record,
        summary=run,
        slices=summary.load_slice_metrics(evaluation.uri) if evaluation else {},
        curves=load_curves(evaluation.uri) if evaluation else {},
        examples=examples,
        features=feature_stats,
        anomalies=load_anomalies(anomalies) if anomalies else [],
        artifacts=_artifacts(record),
        catalogue=load_catalogue(record))


def load_catalogue(record: metadata.RunRecord) -> Dict[str, Dict[str, Dict[str, float]]]:
    """The CatalogueEvaluator's figures of the run: ranker -> user group -> metric ({} without the node)."""
    from components.catalogue_eval import executor as catalogue_executor
    from components.catalogue_eval import spec as catalogue_spec

    evaluation = _output(record, summary.CATALOGUE_EVALUATOR, catalogue_spec.EVALUATION_KEY)
    return catalogue_executor.read_metrics(evaluation.uri) if evaluation else {}


def select_run(runs: List[metadata.RunRecord], run_id: str) -> metadata.RunRecord:
    """`latest` or a run id as `sparrow-tfx runs` lists it."""
    if not runs:
        raise SystemExit("error: the ML Metadata store has no run of this pipeline yet")
    if run_id == "latest":
        return runs[-1]
    for run in runs:
        if run.run_id == run_id:
            return run
    raise SystemExit(f"error: no run {run_id!r}; recorded runs: {', '.join(r.run_id for r in runs)}")
