"""AtomicPusher's contract: TFX Pusher's keys, plus the feature snapshot that is published with the model."""
from tfx.proto import pusher_pb2
from tfx.types import component_spec, standard_artifacts, standard_component_specs

from components.feature_snapshot import spec as snapshot_spec

MODEL_KEY = standard_component_specs.MODEL_KEY
MODEL_BLESSING_KEY = standard_component_specs.MODEL_BLESSING_KEY
FEATURE_SNAPSHOT_KEY = snapshot_spec.SNAPSHOT_KEY
PUSH_DESTINATION_KEY = standard_component_specs.PUSH_DESTINATION_KEY
PUSHED_MODEL_KEY = standard_component_specs.PUSHED_MODEL_KEY
# Custom property on the pushed model when the same model and snapshot were already serving (not pushed again).
ALREADY_SERVED_PROPERTY = "already_served"


class AtomicPusherSpec(component_spec.ComponentSpec):
    PARAMETERS = {PUSH_DESTINATION_KEY: component_spec.ExecutionParameter(type=pusher_pb2.PushDestination)}
    INPUTS = {
        MODEL_KEY: component_spec.ChannelParameter(type=standard_artifacts.Model),
        MODEL_BLESSING_KEY: component_spec.ChannelParameter(type=standard_artifacts.ModelBlessing),
        FEATURE_SNAPSHOT_KEY: component_spec.ChannelParameter(type=snapshot_spec.SnapshotArtifact, optional=True),
    }
    OUTPUTS = {PUSHED_MODEL_KEY: component_spec.ChannelParameter(type=standard_artifacts.PushedModel)}
