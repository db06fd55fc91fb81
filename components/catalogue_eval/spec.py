"""CatalogueEvaluator's contract: keys defined once for the component, the executor, the summary and the tests."""
from tfx import types
from tfx.types import component_spec, standard_artifacts

from components.feature_snapshot import spec as snapshot_spec

EXAMPLES_KEY = "examples"
MODEL_KEY = "model"
# The run's feature snapshot: its back-tests, over the same training split, are what `recommend` serves
FEATURE_SNAPSHOT_KEY = "feature_snapshot"
EVALUATION_KEY = "catalogue_evaluation"
TOP_N_KEY = "top_n"
MIN_LIKED_KEY = "min_liked"
MIN_RATIO_KEY = "min_ratio_to_popularity"  # the gate: ours >= this x most-rated; 0 turns it off
METRICS_FILE = "catalogue_metrics.json"  # recommender.catalogue.evaluate's result, every ranker and group
TRAIN_SPLIT, EVAL_SPLIT = "train", "eval"
# Rankers computed in the pass: what `recommend` serves and the baselines a practitioner compares with. The liked-
# only item-kNN reference stays in bench/: one more neighbour pass on every run, for a reference, not a gate.
OURS = "ours"
BASELINES = ("most_rated", "recent_most_rated")
# The gate compares ours with the simplest alternative, over every eval user (cold-start ones included: what they
# are served counts too), on the share of their later liked movies found in the top N.
GATE_BASELINE = "most_rated"
GATE_METRIC = "recall"
BLESSED_PROPERTY = "blessed"  # 1/0, read by the Pusher's condition beside the Evaluator's blessing
GATE_PROPERTY = "gate"  # the comparison in words, for summaries
COLD_START_PROPERTY = "cold_start"  # the cold-start ranker ours serves users without ratings, and why, in words
WILL_RATE_PROPERTY = "will_rate"  # the will-rate estimate ours multiplies P(like | rated) by, and why, in words


def property_name(ranker: str, group: str, metric: str) -> str:
    """The MLMD custom property of one figure, e.g. ours_with_history_recall_at_10."""
    return f"{ranker}_{group}_{metric.replace('@', '_at_')}"


class CatalogueEvaluation(types.Artifact):
    """Top-N over the catalogue: ours and the baselines, per user group (METRICS_FILE; figures also as properties)."""
    TYPE_NAME = "sparrow_tfx.CatalogueEvaluation"  # KFP v2 takes a custom type only as <namespace>.<Title>


class CatalogueEvaluatorSpec(component_spec.ComponentSpec):
    PARAMETERS = {TOP_N_KEY: component_spec.ExecutionParameter(type=int),
                  MIN_LIKED_KEY: component_spec.ExecutionParameter(type=int),
                  MIN_RATIO_KEY: component_spec.ExecutionParameter(type=float)}
    INPUTS = {EXAMPLES_KEY: component_spec.ChannelParameter(type=standard_artifacts.Examples),
              MODEL_KEY: component_spec.ChannelParameter(type=standard_artifacts.Model),
              FEATURE_SNAPSHOT_KEY: component_spec.ChannelParameter(type=snapshot_spec.SnapshotArtifact)}
    OUTPUTS = {EVALUATION_KEY: component_spec.ChannelParameter(type=CatalogueEvaluation)}
