"""DataGate executor: ExampleValidator, then stop the run when the statistics break the schema.

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
from tfx.types import artifact_utils

from components.data_gate import report, spec


class DataAnomaliesError(RuntimeError):
    """The examples do not match the schema; the message lists each anomaly."""


def read_anomalies(anomalies: types.Artifact) -> Dict[str, anomalies_pb2.Anomalies]:
    found = {}
    for split in artifact_utils.decode_split_names(anomalies.split_names):
        path = os.path.join(artifact_utils.get_split_uri([anomalies], split), tfx_validator.DEFAULT_FILE_NAME)
        with tf.io.gfile.GFile(path, "rb") as f:
            found[split] = anomalies_pb2.Anomalies.FromString(f.read())
    return found


class Executor(tfx_validator.Executor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]):
        result = super().Do(input_dict, output_dict, exec_properties)
        anomalies = artifact_utils.get_single_instance(output_dict[spec.ANOMALIES_KEY])
        lines = report.report(read_anomalies(anomalies))
        if not lines:
            return result
        listing = "\n".join(f"  {line}" for line in lines)
        if not exec_properties.get(spec.ALLOW_ANOMALIES_KEY):
            raise DataAnomaliesError(
                f"the examples break the schema ({len(lines)} anomalies; split, feature: problem):\n{listing}\n"
                "Fix the data, or let it through with --allow-anomalies.")
        logging.warning("Data anomalies allowed (allow_anomalies=1):\n%s", listing)
        anomalies.set_string_custom_property(spec.ALLOWED_ANOMALIES_PROPERTY, "\n".join(lines))
        # The base executor already put the artifact into its output; publish the property with it.
        result.output_artifacts[spec.ANOMALIES_KEY].artifacts[0].CopyFrom(anomalies.mlmd_artifact)
        return result
