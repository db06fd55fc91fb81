"""AtomicPusher's contract: TFX Pusher's keys, plus the feature snapshot, the serving policy and the training
statistics that are published with the model."""
from tfx.proto import pusher_pb2
from tfx.types import component_spec, standard_artifacts, standard_component_specs

from components.catalogue_eval import spec as catalogue_spec
from components.data_gate import spec as data_gate_spec
from components.feature_snapshot import spec as snapshot_spec

MODEL_KEY = standard_component_specs.MODEL_KEY
MODEL_BLESSING_KEY = standard_component_specs.MODEL_BLESSING_KEY
FEATURE_SNAPSHOT_KEY = snapshot_spec.SNAPSHOT_KEY
# The CatalogueEvaluator's output: its serving policy (a first-run fallback), where it wrote one, is published inside
# the version (recommender/serving_policy.py)
CATALOGUE_EVALUATION_KEY = catalogue_spec.EVALUATION_KEY
# StatisticsGen's output: its training split's statistics are published inside the version
# (serving_dir.TRAINING_STATISTICS_FILE), for the next run's drift check (components/data_gate/drift.py)
STATISTICS_KEY = standard_component_specs.STATISTICS_KEY
STATISTICS_SPLIT = data_gate_spec.DRIFT_SPLIT
PUSH_DESTINATION_KEY = standard_component_specs.PUSH_DESTINATION_KEY
PUSHED_MODEL_KEY = standard_component_specs.PUSHED_MODEL_KEY
# Custom property on the pushed model when the same model and snapshot were already serving (not pushed again).
ALREADY_SERVED_PROPERTY = "already_served"
# Custom property on the pushed model: the serving policy published with it, in words ("" without one).
SERVING_POLICY_PROPERTY = "serving_policy"
# Custom property on the pushed model: the `recommend` signatures' paths, e.g. "recommend, recommend_candidates:
# with_history model, cold_start cold_start_most_rated" ("" when the version has none; recommender/export.py).
RECOMMEND_PROPERTY = "recommend_signatures"


class AtomicPusherSpec(component_spec.ComponentSpec):
    PARAMETERS = {PUSH_DESTINATION_KEY: component_spec.ExecutionParameter(type=pusher_pb2.PushDestination)}
    INPUTS = {
        MODEL_KEY: component_spec.ChannelParameter(type=standard_artifacts.Model),
        MODEL_BLESSING_KEY: component_spec.ChannelParameter(type=standard_artifacts.ModelBlessing),
        FEATURE_SNAPSHOT_KEY: component_spec.ChannelParameter(type=snapshot_spec.SnapshotArtifact, optional=True),
        CATALOGUE_EVALUATION_KEY: component_spec.ChannelParameter(type=catalogue_spec.CatalogueEvaluation,
                                                                  optional=True),
        STATISTICS_KEY: component_spec.ChannelParameter(type=standard_artifacts.ExampleStatistics, optional=True),
    }
    OUTPUTS = {PUSHED_MODEL_KEY: component_spec.ChannelParameter(type=standard_artifacts.PushedModel)}
