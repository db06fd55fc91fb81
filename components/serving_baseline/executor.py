"""ServingBaseline executor: copy the newest served version (or the candidate) into the baseline artifact."""
import logging
from typing import Any, Dict, List

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components.serving_baseline import spec
from recommender import serving_dir


class Executor(base_executor.BaseExecutor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        candidate = artifact_utils.get_single_instance(input_dict[spec.CANDIDATE_MODEL_KEY])
        baseline = artifact_utils.get_single_instance(output_dict[spec.BASELINE_MODEL_KEY])
        served = serving_dir.latest_version_dir(exec_properties[spec.SERVING_DIR_KEY])
        source = served or path_utils.serving_model_path(candidate.uri)
        serving_dir.copy_tree(source, path_utils.serving_model_dir(baseline.uri))
        baseline.set_string_custom_property(spec.BASELINE_VERSION_PROPERTY, served.rstrip("/").split("/")[-1]
                                            if served else "")
        baseline.set_int_custom_property(spec.IS_CANDIDATE_PROPERTY, 0 if served else 1)
        logging.info("Evaluation baseline: %s", source if served else "none served yet; the candidate itself")
