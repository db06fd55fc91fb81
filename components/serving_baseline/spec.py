"""ServingBaseline's contract: keys defined once for the component, the executor and the tests."""
from tfx.types import component_spec, standard_artifacts

CANDIDATE_MODEL_KEY = "model"
BASELINE_MODEL_KEY = "baseline_model"
SERVING_DIR_KEY = "serving_dir"
# What serves now (serving_dir.serving_state), filled by a runner that caches: TFX's cache key is the inputs and
# the exec properties, so without it a run after another run's push would reuse the old baseline.
SERVING_STATE_KEY = "serving_state"
# Custom properties on the baseline artifact.
BASELINE_VERSION_PROPERTY = "baseline_version"  # "" on the first run
IS_CANDIDATE_PROPERTY = "is_candidate"  # 1 when there is no serving model yet and the candidate stands in


class ServingBaselineSpec(component_spec.ComponentSpec):
    PARAMETERS = {SERVING_DIR_KEY: component_spec.ExecutionParameter(type=str),
                  SERVING_STATE_KEY: component_spec.ExecutionParameter(type=str, optional=True)}
    INPUTS = {CANDIDATE_MODEL_KEY: component_spec.ChannelParameter(type=standard_artifacts.Model)}
    OUTPUTS = {BASELINE_MODEL_KEY: component_spec.ChannelParameter(type=standard_artifacts.Model)}
