"""DataGate: TFX's ExampleValidator whose anomalies stop the run before Transform and training, and which measures
the drift of the run's training statistics from the serving version's.

It keeps the node id `ExampleValidator`, so ML Metadata, summaries and dashboards find the validation where
they expect it. `allow_anomalies=True` downgrades the gate to a warning recorded on the anomalies artifact.
With a serving_dir it compares the training split's statistics with those the newest version there was trained on
(the schema's drift comparators; components/data_gate/drift.py): reported on the anomalies artifact, and with
`stop_on_drift=True` drift above a threshold stops the run. Its result then depends on what serves: a caching
runner passes serving_state (as ServingBaseline's), a compiled spec disables caching for this node.
"""
from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.utils import json_utils

from components.data_gate import executor, spec

NODE_ID = "ExampleValidator"


class DataGate(base_component.BaseComponent):
    SPEC_CLASS = spec.DataGateSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, statistics: types.BaseChannel, schema: types.BaseChannel, allow_anomalies: bool = False,
                 serving_dir: str = "", serving_state: str = "", stop_on_drift: bool = False):
        super().__init__(spec.DataGateSpec(
            statistics=statistics, schema=schema, exclude_splits=json_utils.dumps([]),
            allow_anomalies=int(allow_anomalies), serving_dir=serving_dir, serving_state=serving_state,
            stop_on_drift=int(stop_on_drift),
            anomalies=types.Channel(type=standard_artifacts.ExampleAnomalies)))
        self.with_id(NODE_ID)
