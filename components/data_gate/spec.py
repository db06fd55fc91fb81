"""DataGate's contract: ExampleValidator's inputs, outputs and parameters, plus the gate's switch."""
from tfx.types import component_spec, standard_component_specs

STATISTICS_KEY = standard_component_specs.STATISTICS_KEY
SCHEMA_KEY = standard_component_specs.SCHEMA_KEY
ANOMALIES_KEY = standard_component_specs.ANOMALIES_KEY
# 1: anomalies are logged and recorded on the artifact, the run goes on; 0: they stop the run.
ALLOW_ANOMALIES_KEY = "allow_anomalies"
# Custom property on the anomalies artifact: the report of anomalies let through with allow_anomalies.
ALLOWED_ANOMALIES_PROPERTY = "allowed_anomalies"


class DataGateSpec(standard_component_specs.ExampleValidatorSpec):
    PARAMETERS = {
        **standard_component_specs.ExampleValidatorSpec.PARAMETERS,
        ALLOW_ANOMALIES_KEY: component_spec.ExecutionParameter(type=int),
    }
