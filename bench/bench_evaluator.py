"""The Evaluator alone on a finished run's artifacts: its seconds, and where TFMA's model route spends them.

    python -m bench.bench_evaluator --from-run .work/eval-speed            # the project's Evaluator, then TFX's
    python -m bench.bench_evaluator --from-run .work/eval-speed --breakdown # and TFMA's model route, piece by piece
    python -m bench.bench_evaluator --from-run .work/eval-speed --routes project --one-process  # vs in one process

Each measurement runs in a process of its own (as a pipeline's Evaluator runs) on the run's eval split and model:
"first run" evaluates the candidate alone (nothing serving), "with baseline" also the same model as a serving
baseline, which is what a later run evaluates. "project" is this project's Evaluator executor, "tfx" TFX's stock
executor on the same eval config (TFMA loads the model and calls its signatures per Beam batch); "one process"
is the project's executor with its Beam pipeline in the executor's process (executor.DIRECT_WORKERS = 1), as it ran
before it used the direct runner's worker processes. The breakdown
runs TFX's executor with parts of the eval config taken away (the plots, the slices, the ranking metric, every
metric but the count), times one batched pass of the model's signatures outside Beam, and the Beam read alone.
Every measurement's overall figures are kept, so the routes can be compared figure by figure.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Optional, Sequence

from bench import common

ROUTES = ("project", "tfx")
ONE_PROCESS = "one_process"  # the project's executor, its Beam pipeline in the executor's process
WORKERS_ENV = "BENCH_EVALUATOR_WORKERS"  # set: the project's executor in this many processes whatever the split's size
PLOTS = ("CalibrationPlot", "ConfusionMatrixPlot")
# Parts of the eval config taken away, each measured with TFX's executor (the model route).
BREAKDOWN = {
    "no plots": "no_plots",
    "overall slice only": "overall_only",
    "no UserRanking": "no_ranking",
    "ExampleCount only, overall slice": "count_only",
}


def run_artifacts(work_dir: Path) -> Dict[str, str]:
    """The eval examples and the model the run's Evaluator read (ML Metadata)."""
    from pipeline import configs
    from pipeline.report import metadata

    record = metadata.latest_run(str(work_dir / "metadata.sqlite"), configs.PIPELINE_NAME)
    if record is None or record.node("Evaluator") is None:
        raise SystemExit(f"no run with an Evaluator in {work_dir}")
    inputs = record.node("Evaluator").inputs
    return {"examples": inputs["examples"][0].uri, "model": inputs["model"][0].uri}


def _config(variant: str):
    """The pipeline's eval config (gate at 0, so every variant blesses), with a part taken away."""
    from components.evaluator import eval_config

    config = eval_config.eval_config(0.0, max_auc_regression=1.0)
    if variant in ("no_plots", "count_only"):  # "one_process": the pipeline's config
        for spec in config.metrics_specs:
            kept = [m for m in spec.metrics if m.class_name not in PLOTS]
            del spec.metrics[:]
            spec.metrics.extend(kept)
    if variant in ("overall_only", "count_only"):
        del config.slicing_specs[1:]
    if variant == "no_ranking":
        for spec in config.metrics_specs:
            kept = [m for m in spec.metrics if m.class_name != "UserRanking"]
            del spec.metrics[:]
            spec.metrics.extend(kept)
    if variant == "count_only":
        for spec in config.metrics_specs:
            kept = [m for m in spec.metrics if m.class_name in ("ExampleCount", "AUC")]
            del spec.metrics[:]
            spec.metrics.extend(kept)
    return config


def evaluate_once(route: str, variant: str, examples_uri: str, model_uri: str, baseline: bool, output: str) -> dict:
    """One Evaluator execution, timed: its seconds, blessing and overall figures."""
    import tensorflow_model_analysis as tfma
    from tfx.components.evaluator import constants
    from tfx.components.evaluator import executor as tfx_executor
    from tfx.types import artifact_utils, standard_artifacts
    from tfx.types import standard_component_specs as specs
    from tfx.utils import proto_utils

    from components.evaluator import executor
    from components.serving_baseline import spec as baseline_spec

    examples = standard_artifacts.Examples()
    examples.uri = examples_uri
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    inputs = {specs.EXAMPLES_KEY: [examples], specs.MODEL_KEY: [_model(model_uri, 7)]}
    if baseline:
        inputs[specs.BASELINE_MODEL_KEY] = [_model(model_uri, 8)]
        inputs[specs.BASELINE_MODEL_KEY][0].set_int_custom_property(baseline_spec.IS_CANDIDATE_PROPERTY, 0)
    evaluation, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
    evaluation.uri, blessing.uri = os.path.join(output, "evaluation"), os.path.join(output, "blessing")
    executor_class = executor.Executor if route == "project" else tfx_executor.Executor
    if variant == ONE_PROCESS:
        executor.DIRECT_WORKERS = 1
    elif route == "project" and os.environ.get(WORKERS_ENV):  # a split below the size the executor chooses it at
        executor.DIRECT_WORKERS, executor.WORKERS_MIN_BYTES = int(os.environ[WORKERS_ENV]), 0
    start = time.perf_counter()
    executor_class().Do(inputs, {specs.EVALUATION_KEY: [evaluation], specs.BLESSING_KEY: [blessing]},
                        {specs.EVAL_CONFIG_KEY: proto_utils.proto_to_json(_config(variant)),
                         specs.EXAMPLE_SPLITS_KEY: json.dumps(["eval"])})
    seconds = time.perf_counter() - start
    figures, slices = {}, set()
    for proto in tfma.load_metrics(evaluation.uri):
        slices.add(str(proto.slice_key))
        if proto.slice_key.single_slice_keys:
            continue
        for item in proto.metric_keys_and_values:
            if item.value.WhichOneof("type") == "double_value":
                name = item.key.name + (f"@{item.key.sub_key.top_k.value}" if item.key.sub_key.HasField("top_k")
                                        else "")
                model = item.key.model_name or "candidate"
                figures[f"{model}{' diff' if item.key.is_diff else ''} {name}"] = item.value.double_value.value
    plot_slices = sum(1 for _ in tfma.load_plots(evaluation.uri))
    return {"seconds": round(seconds, 1), "blessed": os.path.exists(os.path.join(blessing.uri,
                                                                                 constants.BLESSED_FILE_NAME)),
            "slices": len(slices), "plot_slices": plot_slices, "overall": figures}


def _model(uri: str, artifact_id: int):
    from tfx.types import standard_artifacts

    model = standard_artifacts.Model()
    model.uri = uri
    model.id = artifact_id
    return model


def inference_once(examples_uri: str, model_uri: str) -> dict:
    """One pass of the model's serving and transform signatures over the eval split, in batches, outside Beam."""
    import tensorflow as tf
    from tfx.utils import path_utils

    from models import signatures

    start = time.perf_counter()
    model = tf.saved_model.load(path_utils.serving_model_path(model_uri))
    loaded = time.perf_counter()
    files = tf.io.gfile.glob(os.path.join(examples_uri, "Split-eval", "*"))
    records = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
    read = time.perf_counter()
    serve = model.signatures[signatures.SERVING_SIGNATURE]
    transform = model.signatures[signatures.TRANSFORM_SIGNATURE]
    timings = {}
    for name, function in (("serving_default", serve), ("transform_features", transform)):
        begin = time.perf_counter()
        for first in range(0, len(records), 1000):
            function(examples=tf.constant(records[first:first + 1000]))
        timings[name] = round(time.perf_counter() - begin, 1)
    return {"examples": len(records), "load_s": round(loaded - start, 1), "read_s": round(read - loaded, 1),
            **{f"{name}_s": value for name, value in timings.items()}}


def beam_read_once(examples_uri: str) -> dict:
    """The Beam direct runner reading the eval split as the Evaluator does (tfxio to Arrow), and counting."""
    import apache_beam as beam
    from tfx.components.util import tfxio_utils
    from tfx.types import artifact_utils, standard_artifacts

    examples = standard_artifacts.Examples()
    examples.uri = examples_uri
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    start = time.perf_counter()
    factory = tfxio_utils.get_tfxio_factory_from_artifact([examples], ["bench"], raw_record_column_name="__raw__")
    with beam.Pipeline() as pipeline:
        _ = (pipeline | factory(os.path.join(examples_uri, "Split-eval", "*")).BeamSource()
             | beam.combiners.Count.Globally())
    return {"seconds": round(time.perf_counter() - start, 1)}


def _in_process(args: Sequence[str]) -> dict:
    """A measurement in a fresh process; its result is the last line it prints."""
    process = subprocess.run([sys.executable, "-m", "bench.bench_evaluator", *args], cwd=common.REPO_ROOT,
                             capture_output=True, text=True)
    if process.returncode:
        raise RuntimeError(f"bench_evaluator {' '.join(args)} failed:\n{process.stderr[-3000:]}")
    return json.loads(process.stdout.strip().splitlines()[-1])


def measure(work_dir: Path, breakdown: bool, routes: Sequence[str], one_process: bool = False) -> Dict[str, object]:
    artifacts = run_artifacts(work_dir)
    results: Dict[str, object] = {"artifacts": artifacts, "runs": {}}
    plan = [(route, "pipeline", baseline) for route in routes for baseline in (False, True)]
    if one_process:
        plan += [("project", ONE_PROCESS, baseline) for baseline in (False, True)]
    if breakdown:
        plan += [("tfx", variant, False) for variant in BREAKDOWN.values()]
    with tempfile.TemporaryDirectory(prefix="bench-evaluator-") as scratch:
        for index, (route, variant, baseline) in enumerate(plan):
            name = f"{route} {variant}{' with baseline' if baseline else ''}"
            results["runs"][name] = _in_process(
                ["--one", route, variant, artifacts["examples"], artifacts["model"], str(int(baseline)),
                 os.path.join(scratch, str(index))])
            print(f"{name}: {results['runs'][name]['seconds']} s", flush=True)
        if breakdown:
            results["inference"] = _in_process(["--inference", artifacts["examples"], artifacts["model"]])
            print(f"inference outside Beam: {results['inference']}", flush=True)
            results["beam_read"] = _in_process(["--beam-read", artifacts["examples"]])
            print(f"Beam read and count: {results['beam_read']}", flush=True)
    return results


def print_tables(results: Dict[str, object]) -> None:
    """Seconds per measurement, then the overall figures of TFMA's model route beside the project's."""
    runs = results["runs"]
    for name, run in runs.items():
        print(f"{name:<48} {run['seconds']:>7.1f} s  slices {run['slices']}, plot slices {run['plot_slices']}")
    for suffix in ("", " with baseline"):
        project = runs.get(f"project pipeline{suffix}")
        for other in ("tfx pipeline", f"project {ONE_PROCESS}"):
            before = runs.get(f"{other}{suffix}")
            if project and before:
                figures = {name: {"project": project["overall"].get(name), other: value}
                           for name, value in before["overall"].items()}
                print(f"overall figures{suffix or ', first run'} (seconds: project {project['seconds']}, "
                      f"{other} {before['seconds']}, blessed {project['blessed']} / {before['blessed']}):")
                print(common.side_by_side(figures, "project", [other]))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_evaluator", description=__doc__.split("\n")[0])
    parser.add_argument("--from-run", type=Path, help="a work dir whose latest run finished its Evaluator")
    parser.add_argument("--breakdown", action="store_true", help="also TFMA's model route piece by piece")
    parser.add_argument("--routes", nargs="+", choices=ROUTES, default=list(ROUTES))
    parser.add_argument("--one-process", action="store_true",
                        help="also the project's executor with its Beam pipeline in one process")
    parser.add_argument("--name", default="evaluator", help="results/<name>.json")
    parser.add_argument("--one", nargs=6, help=argparse.SUPPRESS)
    parser.add_argument("--inference", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--beam-read", nargs=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        route, variant, examples, model, baseline, output = args.one
        print(json.dumps(evaluate_once(route, variant, examples, model, baseline == "1", output)))
        return 0
    if args.inference:
        print(json.dumps(inference_once(*args.inference)))
        return 0
    if args.beam_read:
        print(json.dumps(beam_read_once(args.beam_read[0])))
        return 0
    if args.from_run is None:
        parser.error("--from-run is required")
    results = measure(args.from_run, args.breakdown, args.routes, args.one_process)
    print_tables(results)
    print(f"wrote {common.write_results(args.name, {'from_run': str(args.from_run), **results})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
