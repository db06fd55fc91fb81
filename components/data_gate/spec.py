"""DataGate's contract: ExampleValidator's inputs, outputs and parameters, plus the gate's switches and the drift
check against the serving version."""
from tfx.types import component_spec, standard_component_specs

STATISTICS_KEY = standard_component_specs.STATISTICS_KEY
SCHEMA_KEY = standard_component_specs.SCHEMA_KEY
ANOMALIES_KEY = standard_component_specs.ANOMALIES_KEY
# 1: anomalies are logged and recorded on the artifact, the run goes on; 0: they stop the run.
ALLOW_ANOMALIES_KEY = "allow_anomalies"
# Custom property on the anomalies artifact: the report of anomalies let through with allow_anomalies.
ALLOWED_ANOMALIES_PROPERTY = "allowed_anomalies"
# The serving directory: the drift check compares the run's training statistics with those its newest version was
# trained on ("": no drift check).
SERVING_DIR_KEY = "serving_dir"
# What serves now (recommender.serving_dir.serving_state), filled by a runner that caches: part of the cache key, so
# a run after another run's push compares with the new version (as ServingBaseline's).
SERVING_STATE_KEY = "serving_state"
# 1: drift above a schema threshold stops the run; 0: it is reported only.
STOP_ON_DRIFT_KEY = "stop_on_drift"
# The split whose statistics are compared and published with a pushed version (the AtomicPusher's statistics input).
DRIFT_SPLIT = "train"
# Custom property on the anomalies artifact: the drift check as JSON (components.data_gate.drift.DriftReport), and
# the same JSON as DRIFT_FILE inside the artifact.
DRIFT_PROPERTY = "drift"
DRIFT_FILE = "drift.json"


class DataGateSpec(standard_component_specs.ExampleValidatorSpec):
    PARAMETERS = {
        **standard_component_specs.ExampleValidatorSpec.PARAMETERS,
        ALLOW_ANOMALIES_KEY: component_spec.ExecutionParameter(type=int),
        SERVING_DIR_KEY: component_spec.ExecutionParameter(type=str, optional=True),
        SERVING_STATE_KEY: component_spec.ExecutionParameter(type=str, optional=True),
        STOP_ON_DRIFT_KEY: component_spec.ExecutionParameter(type=int, optional=True),
    }
