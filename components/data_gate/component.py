"""DataGate: TFX's ExampleValidator whose anomalies stop the run before Transform and training.

It keeps the node id `ExampleValidator`, so ML Metadata, summaries and dashboards find the validation where
they expect it. `allow_anomalies=True` downgrades the gate to a warning recorded on the anomalies artifact.
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

    def __init__(self, statistics: types.BaseChannel, schema: types.BaseChannel, allow_anomalies: bool = False):
        super().__init__(spec.DataGateSpec(
            statistics=statistics, schema=schema, exclude_splits=json_utils.dumps([]),
            allow_anomalies=int(allow_anomalies),
            anomalies=types.Channel(type=standard_artifacts.ExampleAnomalies)))
        self.with_id(NODE_ID)
