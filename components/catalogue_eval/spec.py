"""CatalogueEvaluator's contract: keys defined once for the component, the executor, the summary and the tests."""
from tfx import types
from tfx.types import component_spec, standard_artifacts

from components.feature_snapshot import spec as snapshot_spec
from components.serving_baseline import spec as baseline_spec
from recommender import serving_policy

EXAMPLES_KEY = "examples"
MODEL_KEY = "model"
# The run's feature snapshot: its back-tests, over the same training split, are what `recommend` serves
FEATURE_SNAPSHOT_KEY = "feature_snapshot"
# ServingBaseline's output: the version serving now (its model, its snapshot, its serving policy), or the candidate
# itself when nothing serves (custom property is_candidate 1)
BASELINE_MODEL_KEY = baseline_spec.BASELINE_MODEL_KEY
EVALUATION_KEY = "catalogue_evaluation"
TOP_N_KEY = "top_n"
MIN_LIKED_KEY = "min_liked"
MIN_RATIO_KEY = "min_ratio_to_popularity"  # the popularity gate: ours >= this x most-rated; 0 turns it off
# The serving-version gate: ours >= (1 - this) x the serving version's, ranked as it serves; 1 turns it off
MAX_REGRESSION_KEY = "max_regression_to_serving"
# At most this many eval users are ranked, a seeded sample of them when there are more (0: every one): ranking is
# the pass's per-user cost; the figures then carry bootstrap intervals (INTERVALS_FILE).
MAX_USERS_KEY = "max_eval_users"
METRICS_FILE = "catalogue_metrics.json"  # recommender.catalogue.evaluate's result, every ranker and group
# Each figure's and each ratio to GATE_BASELINE's 90% bootstrap interval over the users ranked, and how they were
# chosen (recommender.catalogue.Pass.intervals)
INTERVALS_FILE = "catalogue_intervals.json"
TRAIN_SPLIT, EVAL_SPLIT = "train", "eval"
# Rankers computed in the pass: what `recommend` serves and the baselines a practitioner compares with. The liked-
# only item-kNN reference stays in bench/: one more neighbour pass on every run, for a reference, not a gate.
OURS = "ours"
BASELINES = ("most_rated", "recent_most_rated", "popular_now")
SERVING = "serving_version"  # the version serving now, ranked as it serves (with a serving version only)
# The gate compares ours with the simplest alternative, over every eval user (cold-start ones included: what they
# are served counts too), on the share of their later liked movies found in the top N.
GATE_BASELINE = "most_rated"
GATE_METRIC = "recall"
BLESSED_PROPERTY = "blessed"  # 1/0, read by the Pusher's condition beside the Evaluator's blessing
GATE_PROPERTY = "gate"  # the deciding gate's comparison in words, for summaries
DECIDED_BY_PROPERTY = "decided_by"  # which gate decided: one of DECIDERS
POPULARITY_GATE = "popularity"  # ours against the most-rated list
SERVING_GATE = "serving_version"  # ours against the version serving now
FIRST_RUN_FALLBACK = "first_run_fallback"  # nothing serves, ours lost to popularity: blessed with a fallback
DECIDERS = (POPULARITY_GATE, SERVING_GATE, FIRST_RUN_FALLBACK)
POPULARITY_GATE_PROPERTY = "popularity_gate"  # each gate's comparison in words ("" for a gate not applied)
SERVING_GATE_PROPERTY = "serving_gate"
SERVING_VERSION_PROPERTY = "serving_version"  # the version compared with; "" when nothing serves
FALLBACK_PROPERTY = "fallback"  # the serving policy in words ("" without one)
POLICY_FILE = serving_policy.POLICY_FILE  # written beside METRICS_FILE when blessed with a fallback
COLD_START_PROPERTY = "cold_start"  # the cold-start ranker ours serves users without ratings, and why, in words
WILL_RATE_PROPERTY = "will_rate"  # the will-rate estimate ours multiplies P(like | rated) by, and why, in words
INTERVALS_PROPERTY = "intervals"  # the gates' figures and ratios with their bootstrap intervals, in words
# Custom properties that are not figures (the figures' names: property_name)
NON_FIGURE_PROPERTIES = (BLESSED_PROPERTY, GATE_PROPERTY, COLD_START_PROPERTY, WILL_RATE_PROPERTY, DECIDED_BY_PROPERTY,
                         POPULARITY_GATE_PROPERTY, SERVING_GATE_PROPERTY, SERVING_VERSION_PROPERTY, FALLBACK_PROPERTY,
                         INTERVALS_PROPERTY)


def property_name(ranker: str, group: str, metric: str) -> str:
    """The MLMD custom property of one figure, e.g. ours_with_history_recall_at_10."""
    return f"{ranker}_{group}_{metric.replace('@', '_at_')}"


class CatalogueEvaluation(types.Artifact):
    """Top-N over the catalogue: ours, the baselines and the serving version, per user group (METRICS_FILE; figures
    also as properties), and the serving policy (POLICY_FILE) when blessed with a first-run fallback."""
    TYPE_NAME = "sparrow_tfx.CatalogueEvaluation"  # KFP v2 takes a custom type only as <namespace>.<Title>


class CatalogueEvaluatorSpec(component_spec.ComponentSpec):
    PARAMETERS = {TOP_N_KEY: component_spec.ExecutionParameter(type=int),
                  MIN_LIKED_KEY: component_spec.ExecutionParameter(type=int),
                  MIN_RATIO_KEY: component_spec.ExecutionParameter(type=float),
                  MAX_REGRESSION_KEY: component_spec.ExecutionParameter(type=float),
                  MAX_USERS_KEY: component_spec.ExecutionParameter(type=int, optional=True)}
    INPUTS = {EXAMPLES_KEY: component_spec.ChannelParameter(type=standard_artifacts.Examples),
              MODEL_KEY: component_spec.ChannelParameter(type=standard_artifacts.Model),
              FEATURE_SNAPSHOT_KEY: component_spec.ChannelParameter(type=snapshot_spec.SnapshotArtifact),
              BASELINE_MODEL_KEY: component_spec.ChannelParameter(type=standard_artifacts.Model, optional=True)}
    OUTPUTS = {EVALUATION_KEY: component_spec.ChannelParameter(type=CatalogueEvaluation)}
