"""Runs this project's Evaluator executor (TFX's, through TFMA) on an eval split and a model, in its own process as
a pipeline's Evaluator runs; prints whether the model was blessed and the overall metrics, as JSON.

Run as `python -m tests.evaluator_probe EXAMPLES_DIR MODEL_DIR OUTPUT_DIR`: EXAMPLES_DIR holds `Split-eval/`, MODEL_DIR
`Format-Serving/`, as ExampleGen and the Trainer write them. The eval config is the pipeline's, gate included (with
no serving model the change threshold is rubber-stamped).
"""
from __future__ import annotations

import json
import os
import sys

import tensorflow_model_analysis as tfma
from tfx.components.evaluator import constants
from tfx.types import artifact_utils, standard_artifacts
from tfx.types import standard_component_specs as specs
from tfx.utils import proto_utils

from components.evaluator import eval_config, executor

MIN_AUC = 0.0


def evaluate(examples_dir: str, model_dir: str, output_dir: str) -> dict:
    examples = standard_artifacts.Examples()
    examples.uri = examples_dir
    examples.split_names = artifact_utils.encode_split_names(["eval"])
    model = standard_artifacts.Model()
    model.uri = model_dir
    evaluation_artifact, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
    evaluation_artifact.uri, blessing.uri = os.path.join(output_dir, "evaluation"), os.path.join(output_dir, "blessing")
    executor.Executor().Do(
        {specs.EXAMPLES_KEY: [examples], specs.MODEL_KEY: [model]},
        {specs.EVALUATION_KEY: [evaluation_artifact], specs.BLESSING_KEY: [blessing]},
        {specs.EVAL_CONFIG_KEY: proto_utils.proto_to_json(eval_config.eval_config(MIN_AUC, max_auc_regression=1.0)),
         specs.EXAMPLE_SPLITS_KEY: json.dumps(["eval"])})
    result = tfma.load_eval_result(evaluation_artifact.uri)
    overall = dict(result.slicing_metrics)[()][""][""]
    return {"blessed": os.path.exists(os.path.join(blessing.uri, constants.BLESSED_FILE_NAME)),
            "metrics": {name: value.get("doubleValue") for name, value in overall.items()}}


if __name__ == "__main__":
    print(json.dumps(evaluate(*sys.argv[1:4])))
