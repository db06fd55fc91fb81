"""Runs this project's Evaluator executor (or TFX's, `--tfx`) on an eval split and a model, in its own process as
a pipeline's Evaluator runs; prints whether the model was blessed, the overall metrics, every slice's metrics and
the slices with plots, as JSON.

Run as `python -m tests.evaluator_probe EXAMPLES_DIR MODEL_DIR OUTPUT_DIR [--baseline MODEL_DIR] [--tfx]`:
EXAMPLES_DIR holds `Split-eval/`, MODEL_DIR `Format-Serving/`, as ExampleGen and the Trainer write them. The eval
config is the pipeline's, gate included (min AUC 0; with no serving model the change threshold is rubber-stamped).
`--baseline` evaluates that model as the serving one; `--tfx` runs TFX's stock executor (TFMA's model route);
`--workers N` runs ours in N direct runner processes whatever the split's size.
"""
from __future__ import annotations

import argparse
import json
import os

import tensorflow_model_analysis as tfma
from tfx.components.evaluator import constants
from tfx.components.evaluator import executor as tfx_executor
from tfx.types import artifact_utils, standard_artifacts
from tfx.types import standard_component_specs as specs
from tfx.utils import proto_utils

from components.evaluator import eval_config, executor
from components.serving_baseline import spec as baseline_spec

MIN_AUC = 0.0


def _model(uri: str, artifact_id: int, is_candidate: int = 0):
    model = standard_artifacts.Model()
    model.uri = uri
    model.id = artifact_id
    model.set_int_custom_property(baseline_spec.IS_CANDIDATE_PROPERTY, is_candidate)
    return model


def _slice_name(slice_key) -> str:
    return ",".join(f"{k.column}={k.bytes_value.decode() if k.HasField('bytes_value') else k.int64_value}"
                    for k in slice_key.single_slice_keys) or "overall"


def evaluate(examples_dir: str, model_dir: str, output_dir: str, baseline_dir: str = "", tfx: bool = False,
             max_auc_regression: float = 1.0) -> dict:
    examples = standard_artifacts.Examples()
    examples.uri = examples_dir
    examples.split_names = artifact_utils.encode_split_names(["eval"])
    inputs = {specs.EXAMPLES_KEY: [examples], specs.MODEL_KEY: [_model(model_dir, 1)]}
    if baseline_dir:
        inputs[specs.BASELINE_MODEL_KEY] = [_model(baseline_dir, 2)]
    evaluation_artifact, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
    evaluation_artifact.uri, blessing.uri = os.path.join(output_dir, "evaluation"), os.path.join(output_dir, "blessing")
    (tfx_executor.Executor if tfx else executor.Executor)().Do(
        inputs, {specs.EVALUATION_KEY: [evaluation_artifact], specs.BLESSING_KEY: [blessing]},
        {specs.EVAL_CONFIG_KEY: proto_utils.proto_to_json(eval_config.eval_config(MIN_AUC, max_auc_regression)),
         specs.EXAMPLE_SPLITS_KEY: json.dumps(["eval"])})
    slices = {}
    for proto in tfma.load_metrics(evaluation_artifact.uri):
        figures = slices.setdefault(_slice_name(proto.slice_key), {})
        for item in proto.metric_keys_and_values:
            if item.value.WhichOneof("type") == "double_value":
                top_k = f"@{item.key.sub_key.top_k.value}" if item.key.sub_key.HasField("top_k") else ""
                diff = " diff" if item.key.is_diff else ""
                figures[f"{item.key.model_name or 'candidate'}{diff} {item.key.name}{top_k}"] = \
                    item.value.double_value.value
    return {"blessed": os.path.exists(os.path.join(blessing.uri, constants.BLESSED_FILE_NAME)),
            "blessing": {name: blessing.get_custom_property(name) for name in blessing.mlmd_artifact.custom_properties},
            "metrics": {name.split(" ", 1)[1]: value for name, value in slices["overall"].items()
                        if name.startswith("candidate ") and " diff " not in name},
            "slices": slices,
            "plot_slices": sorted(_slice_name(p.slice_key) for p in tfma.load_plots(evaluation_artifact.uri)),
            "validation_ok": tfma.load_validation_result(evaluation_artifact.uri).validation_ok}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("examples_dir")
    parser.add_argument("model_dir")
    parser.add_argument("output_dir")
    parser.add_argument("--baseline", default="")
    parser.add_argument("--tfx", action="store_true")
    parser.add_argument("--max-auc-regression", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    if args.workers:
        executor.DIRECT_WORKERS, executor.WORKERS_MIN_BYTES = args.workers, 0
    print(json.dumps(evaluate(args.examples_dir, args.model_dir, args.output_dir, args.baseline, args.tfx,
                              args.max_auc_regression)))
