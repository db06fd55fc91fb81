"""What a run did, in a few numbers: blessing, overall eval metrics, pushed version, time per component."""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Tuple

from ml_metadata.proto import metadata_store_pb2

from components.catalogue_eval import spec as catalogue_spec
from components.data_gate import drift as drift_lib
from components.data_gate import spec as data_gate_spec
from pipeline.report import metadata

EVALUATOR = "Evaluator"
CATALOGUE_EVALUATOR = "CatalogueEvaluator"
PUSHER = "Pusher"
SERVING_BASELINE = "ServingBaseline"
DATA_GATE = "ExampleValidator"  # components.data_gate.component.NODE_ID (not imported: it imports TFX)
BASELINE_MODEL = "baseline"  # the Evaluator's name for the baseline model spec (tfma.constants.BASELINE_KEY)
CANDIDATE_MODEL = "candidate"  # tfma.constants.CANDIDATE_KEY


def model_name(key) -> str:
    """The model a TFMA key belongs to; a run without a baseline leaves its one model unnamed."""
    return key.model_name or CANDIDATE_MODEL


def stored_model_name(evaluation_uri: str, model: str = CANDIDATE_MODEL) -> str:
    """The name TFMA wrote `model`'s results under in an Evaluator's output: "" for the candidate of a run without
    a baseline (TFMA leaves a single model unnamed), the model's own name otherwise."""
    import tensorflow_model_analysis as tfma

    stored = {item.key.model_name for proto in tfma.load_metrics(evaluation_uri)
              for item in proto.metric_keys_and_values}
    if model in stored:
        return model
    if model == CANDIDATE_MODEL and stored == {""}:
        return ""
    raise ValueError(f"{evaluation_uri}: no results of the {model} model (models there: {sorted(stored)})")
SliceKey = Tuple[Tuple[str, Any], ...]  # ((column, value), ...); () is the overall slice
OVERALL: SliceKey = ()


def metric_name(key) -> str:
    """A MetricKey proto as one name: `auc`, `ndcg@10` (top-k sub key); diffs are kept apart by the caller."""
    return key.name + (f"@{key.sub_key.top_k.value}" if key.sub_key.HasField("top_k") else "")


@dataclasses.dataclass
class SliceMetrics:
    """One slice's double-valued metrics: the candidate's, the baseline's and candidate minus baseline."""
    candidate: Dict[str, float] = dataclasses.field(default_factory=dict)
    baseline: Dict[str, float] = dataclasses.field(default_factory=dict)
    diff: Dict[str, float] = dataclasses.field(default_factory=dict)


def load_slice_metrics(evaluation_uri: str) -> Dict[SliceKey, SliceMetrics]:
    """Every slice of TFMA's output (an Evaluator's `evaluation` artifact)."""
    import tensorflow_model_analysis as tfma  # heavy; only when metrics are asked for

    slices = {}
    for proto in tfma.load_metrics(evaluation_uri):
        metrics = slices.setdefault(tfma.slicer.deserialize_slice_key(proto.slice_key), SliceMetrics())
        for item in proto.metric_keys_and_values:
            if item.value.WhichOneof("type") != "double_value":
                continue
            target = (metrics.diff if item.key.is_diff else
                      metrics.baseline if item.key.model_name == BASELINE_MODEL else metrics.candidate)
            target[metric_name(item.key)] = item.value.double_value.value
    return slices


def _flat(metrics: SliceMetrics) -> Dict[str, float]:
    """The candidate's metrics; comparisons with the baseline get a `_diff` suffix."""
    return {**metrics.candidate, **{f"{name}_diff": value for name, value in metrics.diff.items()}}


def compared_metrics() -> Tuple[str, ...]:
    """The overall metrics the gate's summary puts side by side (candidate vs. baseline)."""
    from components.evaluator import eval_config

    k = eval_config.RANKING_K
    return ("auc", "auc_precision_recall", "binary_accuracy", "calibration", f"ndcg@{k}", f"recall@{k}")


def _failure_reason(failure, slice_key: SliceKey) -> str:
    """A TFMA validation failure as a sentence (TFMA leaves `message` empty for a plain threshold miss)."""
    name, value, threshold = metric_name(failure.metric_key), failure.metric_value.double_value.value, \
        failure.metric_threshold
    where = f" on slice {dict(slice_key)}" if slice_key else ""
    if failure.message.strip():
        return f"{name}{where}: {failure.message.strip()}"
    if threshold.HasField("change_threshold"):
        allowed = threshold.change_threshold.absolute.value
        return f"{name} changed by {value:+.4f} against the baseline{where}; the gate allows {allowed:+.4f}"
    bounds = threshold.value_threshold
    if bounds.HasField("lower_bound") and value < bounds.lower_bound.value:
        return f"{name} = {value:.4f}{where} is below the minimum {bounds.lower_bound.value:.4f}"
    return f"{name} = {value:.4f}{where} is above the maximum {bounds.upper_bound.value:.4f}"


def _baseline_model(record: metadata.RunRecord) -> Optional[metadata_store_pb2.Artifact]:
    from components.serving_baseline import spec as baseline_spec

    node = record.node(SERVING_BASELINE)
    return node.output(baseline_spec.BASELINE_MODEL_KEY) if node else None


@dataclasses.dataclass
class GateReport:
    """What the blessing compared: the thresholds, the baseline model, candidate vs. baseline, and why it failed."""
    min_auc: float
    max_auc_regression: float
    baseline_version: Optional[str]  # None: nothing was serving, so no comparison
    comparisons: Dict[str, Tuple[float, float]]  # metric -> (candidate, baseline), overall slice
    failures: List[str]

    @property
    def passed(self) -> bool:
        return not self.failures

    @classmethod
    def load(cls, evaluation_uri: str, overall: SliceMetrics,
             baseline: Optional[metadata_store_pb2.Artifact]) -> "GateReport":
        import tensorflow_model_analysis as tfma
        from tensorflow_model_analysis.writers import eval_config_writer

        from components.evaluator import eval_config
        from components.serving_baseline import spec as baseline_spec

        gate = eval_config.Gate.from_eval_config(eval_config_writer.load_eval_run(evaluation_uri)[0])
        validation = tfma.load_validation_result(evaluation_uri)
        failures = [_failure_reason(failure, tfma.slicer.deserialize_slice_key(per_slice.slice_key))
                    for per_slice in validation.metric_validations_per_slice for failure in per_slice.failures]
        if not validation.validation_ok and not failures:
            failures.append("TFMA reported the validation as failed without a metric failure "
                            f"(missing slices: {list(validation.missing_slices)})")
        is_candidate = baseline is None or metadata.custom_property(baseline, baseline_spec.IS_CANDIDATE_PROPERTY, 1)
        return cls(
            min_auc=gate.min_auc, max_auc_regression=gate.max_auc_regression,
            baseline_version=None if is_candidate else
            metadata.custom_property(baseline, baseline_spec.BASELINE_VERSION_PROPERTY),
            comparisons={name: (overall.candidate[name], overall.baseline.get(name, float("nan")))
                         for name in compared_metrics() if name in overall.candidate},
            failures=failures)

    @property
    def has_baseline(self) -> bool:
        return self.baseline_version is not None

    @property
    def baseline_text(self) -> str:
        return (f"serving version {self.baseline_version}" if self.has_baseline
                else "none serving yet, so only the minimum applies")

    @property
    def rule(self) -> str:
        """The gate in words (TFMA drops the change threshold from the recorded config when there is no baseline)."""
        if not self.has_baseline:
            return f"overall ROC AUC >= {self.min_auc:.4f}"
        return f"overall ROC AUC >= {self.min_auc:.4f} and at most {self.max_auc_regression:.4f} below the baseline"

    def lines(self) -> list:
        out = [f"gate: {self.rule} ({self.baseline_text})"]
        if self.has_baseline:
            out.append(f"  {'metric':<22} {'candidate':>10} {'baseline':>10} {'diff':>9}")
            out += [f"  {name:<22} {cand:>10.4f} {base:>10.4f} {cand - base:>+9.4f}"
                    for name, (cand, base) in self.comparisons.items()]
        else:
            out.append(f"  {'metric':<22} {'candidate':>10}")
            out += [f"  {name:<22} {cand:>10.4f}" for name, (cand, _) in self.comparisons.items()]
        out += ["  passed" if self.passed else "  failed: " + "; ".join(self.failures)]
        return out


@dataclasses.dataclass
class CatalogueDecision:
    """Which catalogue gate decided, and each gate's comparison in words (the CatalogueEvaluator's properties)."""
    decided_by: str  # one of catalogue_spec.DECIDERS
    popularity_gate: str
    serving_gate: str  # "" when nothing serves
    serving_version: str  # "" when nothing serves
    fallback: str = ""  # the first-run fallback's serving policy in words

    @property
    def label(self) -> str:
        return {catalogue_spec.POPULARITY_GATE: "the popularity gate",
                catalogue_spec.SERVING_GATE: "the serving-version gate",
                catalogue_spec.FIRST_RUN_FALLBACK: "the popularity gate, with the first-run fallback"
                }.get(self.decided_by, self.decided_by)

    @property
    def is_first_run_fallback(self) -> bool:
        return self.decided_by == catalogue_spec.FIRST_RUN_FALLBACK

    def line(self) -> str:
        """Which gate decided, and the other gate's comparison."""
        if self.decided_by == catalogue_spec.SERVING_GATE:
            return f"catalogue gate decided by {self.label} (popularity gate: {self.popularity_gate}: passed)"
        other = f"serving-version gate: {self.serving_gate}" if self.serving_gate else \
            "no serving-version gate: nothing serves yet"
        return f"catalogue gate decided by {self.label} ({other})"


@dataclasses.dataclass
class RunSummary:
    run_id: str
    states: Dict[str, str]
    seconds: Dict[str, float]
    blessed: Optional[bool]
    metrics: Dict[str, float]
    pushed_dir: Optional[str]  # the version directory now serving this model (new or already there)
    newly_pushed: bool
    gate: Optional[GateReport] = None
    catalogue: Dict[str, float] = dataclasses.field(default_factory=dict)  # CatalogueEvaluator's figures
    catalogue_gate: Optional[Tuple[bool, str]] = None  # passed, and the deciding gate's comparison in words
    catalogue_decision: Optional[CatalogueDecision] = None  # which catalogue gate decided
    drift: Optional[drift_lib.DriftReport] = None  # the data gate's drift check against the serving version

    @property
    def succeeded(self) -> bool:
        return all(s in ("COMPLETE", "CACHED") for s in self.states.values())

    @classmethod
    def from_record(cls, record: metadata.RunRecord) -> "RunSummary":
        evaluator, pusher = record.node(EVALUATOR), record.node(PUSHER)
        blessing = evaluator.output("blessing") if evaluator else None
        evaluation = evaluator.output("evaluation") if evaluator else None
        pushed = pusher.output("pushed_model") if pusher else None
        # A cached Pusher re-publishes the earlier run's artifact: it pushed nothing this time.
        newly_pushed = bool(pushed and pusher.state == "COMPLETE" and metadata.custom_property(pushed, "pushed", 0))
        pushed_dir = None
        if pushed:
            pushed_dir = (metadata.custom_property(pushed, "pushed_destination")
                          or metadata.custom_property(pushed, "already_served"))
        overall = load_slice_metrics(evaluation.uri).get(OVERALL, SliceMetrics()) if evaluation else None
        catalogue_gate = _catalogue_gate(record)
        blessed = bool(metadata.custom_property(blessing, "blessed", 0)) if blessing else None
        if blessed and catalogue_gate:
            blessed = catalogue_gate[0]
        return cls(
            run_id=record.run_id,
            states={n.node_id: n.state for n in record.nodes.values()},
            seconds={n.node_id: n.seconds for n in record.nodes.values()},
            blessed=blessed,
            metrics=_flat(overall) if overall else {},
            pushed_dir=pushed_dir,
            newly_pushed=newly_pushed,
            gate=GateReport.load(evaluation.uri, overall, _baseline_model(record)) if evaluation else None,
            catalogue=_catalogue_figures(record),
            catalogue_gate=catalogue_gate,
            catalogue_decision=_catalogue_decision(record),
            drift=drift_report(record))

    def lines(self) -> list:
        out = [f"run {self.run_id}"]
        out += [f"  {node:<18} {self.states[node]:<9} {self.seconds[node]:7.1f} s" for node in self.states]
        if self.drift:
            out += self.drift.summary_lines()
        auc, pr_auc = self.metrics.get("auc"), self.metrics.get("auc_precision_recall")
        if auc is not None:
            out.append(f"eval ROC AUC {auc:.4f}  PR AUC {pr_auc:.4f}  accuracy "
                       f"{self.metrics.get('binary_accuracy', float('nan')):.4f}  "
                       f"examples {self.metrics.get('example_count', 0):.0f}")
        out += catalogue_lines(self.catalogue)
        if self.gate:
            out += self.gate.lines()
        if self.catalogue_gate:
            passed, comparison = self.catalogue_gate
            out.append(f"catalogue gate: {comparison}: {'passed' if passed else 'failed'}")
        if self.catalogue_decision:
            out.append(self.catalogue_decision.line())
        fallback = self.catalogue_decision is not None and self.catalogue_decision.is_first_run_fallback
        out.append(f"blessed: {'yes' if self.blessed else 'no'}"
                   + (" (with the first-run fallback: popularity lists where they beat the model)"
                      if self.blessed and fallback else ""))
        if self.pushed_dir:
            how = "pushed" if self.newly_pushed else "already serving, not pushed again"
            out.append(f"serving model: {self.pushed_dir} ({how})")
        else:
            out.append("serving model: unchanged (nothing pushed)")
        return out


def drift_report(record: metadata.RunRecord) -> Optional[drift_lib.DriftReport]:
    """The data gate's drift check (components/data_gate/drift.py); None for a run without one (no serving dir, or
    the gate did not finish: a run it stopped names the drifted features in its error)."""
    node = record.node(DATA_GATE)
    anomalies = node.output(data_gate_spec.ANOMALIES_KEY) if node else None
    found = metadata.custom_property(anomalies, data_gate_spec.DRIFT_PROPERTY) if anomalies else None
    return drift_lib.DriftReport.from_json(found) if found else None


def _catalogue_evaluation(record: metadata.RunRecord) -> Optional[metadata_store_pb2.Artifact]:
    node = record.node(CATALOGUE_EVALUATOR)
    return node.output(catalogue_spec.EVALUATION_KEY) if node else None


def _catalogue_figures(record: metadata.RunRecord) -> Dict[str, float]:
    artifact = _catalogue_evaluation(record)
    return {name: metadata.custom_property(artifact, name) for name in artifact.custom_properties
            if name not in catalogue_spec.NON_FIGURE_PROPERTIES} if artifact else {}


def _catalogue_gate(record: metadata.RunRecord) -> Optional[Tuple[bool, str]]:
    artifact = _catalogue_evaluation(record)
    if artifact is None or catalogue_spec.BLESSED_PROPERTY not in artifact.custom_properties:
        return None
    return (bool(metadata.custom_property(artifact, catalogue_spec.BLESSED_PROPERTY)),
            metadata.custom_property(artifact, catalogue_spec.GATE_PROPERTY, ""))


def _catalogue_decision(record: metadata.RunRecord) -> Optional[CatalogueDecision]:
    artifact = _catalogue_evaluation(record)
    if artifact is None or catalogue_spec.DECIDED_BY_PROPERTY not in artifact.custom_properties:
        return None  # a run before the serving-version gate
    return CatalogueDecision(*(metadata.custom_property(artifact, name, "") for name in (
        catalogue_spec.DECIDED_BY_PROPERTY, catalogue_spec.POPULARITY_GATE_PROPERTY,
        catalogue_spec.SERVING_GATE_PROPERTY, catalogue_spec.SERVING_VERSION_PROPERTY,
        catalogue_spec.FALLBACK_PROPERTY)))


def catalogue_lines(figures: Dict[str, float], top_n: int = 10) -> List[str]:
    """Top-N over the catalogue, ours beside each baseline and the serving version (when one serves), users with
    history and cold-start users apart."""
    out = []
    for group, label in (("with_history", "users with history"), ("cold_start", "cold-start users")):
        users = figures.get(catalogue_spec.property_name(catalogue_spec.OURS, group, "users"))
        if not users:
            continue
        out.append(f"top {top_n} over the catalogue, {int(users)} {label}:")
        for metric in (f"hit@{top_n}", f"recall@{top_n}", f"ndcg@{top_n}"):
            ours = figures[catalogue_spec.property_name(catalogue_spec.OURS, group, metric)]
            cells = [f"ours {ours:.4f}"]
            for baseline in (*catalogue_spec.BASELINES, catalogue_spec.SERVING):
                value = figures.get(catalogue_spec.property_name(baseline, group, metric))
                if value is None:
                    continue
                cells.append(f"{baseline} {value:.4f}" + (f" ({ours / value:.2f}x)" if value else ""))
            out.append(f"  {metric:<10} " + "  ".join(cells))
    return out
