"""DataGate executor: ExampleValidator, then stop the run when the statistics break the schema; then the drift check
against the serving version's training statistics (reported, and with stop_on_drift a stop).

TFX's ExampleValidator only records anomalies; Transform and the Trainer would go on training on the bad data.
Raising here fails the node (on every orchestrator: Beam, Kubeflow), so nothing downstream of the gate runs.
"""
import logging
import os
from typing import Any, Dict, List

import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import types
from tfx.components.example_validator import executor as tfx_validator
from tfx.components.statistics_gen import executor as statistics_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils

from components.data_gate import drift, report, spec


class DataAnomaliesError(RuntimeError):
    """The examples do not match the schema; the message lists each anomaly."""


class DataDriftError(RuntimeError):
    """The training data drifted from the serving version's above the schema's thresholds (with stop_on_drift)."""


def read_anomalies(anomalies: types.Artifact) -> Dict[str, anomalies_pb2.Anomalies]:
    found = {}
    for split in artifact_utils.decode_split_names(anomalies.split_names):
        path = os.path.join(artifact_utils.get_split_uri([anomalies], split), tfx_validator.DEFAULT_FILE_NAME)
        with tf.io.gfile.GFile(path, "rb") as f:
            found[split] = anomalies_pb2.Anomalies.FromString(f.read())
    return found


def split_statistics(statistics: types.Artifact, split: str):
    """One split's statistics of a StatisticsGen output (a DatasetFeatureStatisticsList)."""
    return drift.read_statistics(os.path.join(artifact_utils.get_split_uri([statistics], split),
                                              statistics_executor.DEFAULT_FILE_NAME))


def check_drift(input_dict: Dict[str, List[types.Artifact]], serving_dir: str, stop_on_drift: bool
                ) -> drift.DriftReport:
    """The run's training statistics against the serving version's, with the schema's drift comparators."""
    statistics = artifact_utils.get_single_instance(input_dict[spec.STATISTICS_KEY])
    schema = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(
        artifact_utils.get_single_uri(input_dict[spec.SCHEMA_KEY])))
    return drift.compare(split_statistics(statistics, spec.DRIFT_SPLIT), schema, serving_dir, stop_on_drift)


class Executor(tfx_validator.Executor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]):
        result = super().Do(input_dict, output_dict, exec_properties)
        anomalies = artifact_utils.get_single_instance(output_dict[spec.ANOMALIES_KEY])
        lines = report.report(read_anomalies(anomalies))
        if lines:
            listing = "\n".join(f"  {line}" for line in lines)
            if not exec_properties.get(spec.ALLOW_ANOMALIES_KEY):
                raise DataAnomaliesError(
                    f"the examples break the schema ({len(lines)} anomalies; split, feature: problem):\n{listing}\n"
                    "Fix the data, or let it through with --allow-anomalies.")
            logging.warning("Data anomalies allowed (allow_anomalies=1):\n%s", listing)
            anomalies.set_string_custom_property(spec.ALLOWED_ANOMALIES_PROPERTY, "\n".join(lines))
        if exec_properties.get(spec.SERVING_DIR_KEY):
            found = check_drift(input_dict, exec_properties[spec.SERVING_DIR_KEY],
                                bool(exec_properties.get(spec.STOP_ON_DRIFT_KEY)))
            logging.info("Drift check:\n%s", "\n".join(found.summary_lines()))
            if found.stopped:
                raise DataDriftError(found.error_message())
            with tf.io.gfile.GFile(os.path.join(anomalies.uri, spec.DRIFT_FILE), "w") as f:
                f.write(found.to_json())
            anomalies.set_string_custom_property(spec.DRIFT_PROPERTY, found.to_json())
        # The base executor already put the artifact into its output; publish the properties with it.
        result.output_artifacts[spec.ANOMALIES_KEY].artifacts[0].CopyFrom(anomalies.mlmd_artifact)
        return result
