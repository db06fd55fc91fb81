"""Compiles `create_pipeline` for Kubeflow Pipelines 2.x: one YAML PipelineSpec (schema 2.1) that open-source
KFP accepts and runs, written with TFX's KubeflowV2DagRunner.

What TFX's compiler output needs for open-source KFP (docs/kubeflow.md):
- every container runs `python -m pipeline.runners.kfp_entrypoint` (TFX's entry point adapted to the KFP launcher);
- run-time parameters keep their defaults (TFX puts them only into the Vertex PipelineJob, which a YAML drops);
- the pipeline root TFX writes to is the spec's default (KFP's own default, minio://, is not a TFX filesystem);
- a trigger condition names the artifact by the task's input key (TFX 1.16 writes the producer's implicit key,
  `_Evaluator.blessing`, which is not an input of the task, so KFP's driver could not resolve it).
"""
from __future__ import annotations

import dataclasses
import re
from typing import Dict, List, Optional

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx import version as tfx_version
from tfx.components import CsvExampleGen
from tfx.orchestration import data_types
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

from components.data_gate import component as data_gate
from components.sample_gen.component import SampleGen
from components.serving_baseline.component import ServingBaseline
from pipeline import configs
from pipeline import pipeline as pipeline_lib
from pipeline.runners import image as pipeline_image

# TFX reads and writes artifact URIs itself: roots its filesystem layer knows, or a path every pod mounts.
REMOTE_ROOT_SCHEMES = ("gs://", "s3://", "hdfs://")
# Tasks whose result depends on more than their inputs and parameters, all that KFP's cache key sees: the baseline
# is what serves now, which a push of another run changes, and so is the data gate's drift check (it compares with
# the serving version's training statistics); SampleGen's and CsvExampleGen's examples are what the
# files under data_root hold now (TFX's file-based driver, which fingerprints them, is a preCacheCheck hook that
# open-source KFP never runs). A task's new artifact re-runs the tasks that read it: on Kubeflow every run makes
# its examples and trains; a local run's driver serves unchanged files from cache.
UNCACHED_TASKS = (ServingBaseline.__name__, data_gate.NODE_ID, SampleGen.__name__, CsvExampleGen.__name__)
_INPUT_ARTIFACT_REFERENCE = re.compile(r"inputs\.artifacts\['([^']+)'\]")


@dataclasses.dataclass(frozen=True)
class CompileSettings:
    """Where the compiled pipeline runs; what it trains on and how it gates are `settings`, the run-time
    parameters' defaults."""
    image: str
    settings: configs.Settings = configs.Settings()
    pipeline_root: Optional[str] = None  # None: given when the run is created (`sparrow-tfx submit --pipeline-root`)
    serving_dir: Optional[str] = None  # None: <pipeline_root>/serving


def check_root(flag: str, uri: str) -> None:
    """Fails with a clear message for a root TFX cannot use on a cluster."""
    if not (uri.startswith(REMOTE_ROOT_SCHEMES) or uri.startswith("/")):
        raise ValueError(f"{flag} must be a {', '.join(REMOTE_ROOT_SCHEMES)} URI or an absolute path every pod "
                         f"mounts; got {uri!r} (TFX cannot write KFP's default minio:// root)")


def serving_dir(compile_settings: CompileSettings) -> str:
    if compile_settings.serving_dir:
        check_root("--serving-dir", compile_settings.serving_dir)
        return compile_settings.serving_dir
    if not compile_settings.pipeline_root:
        raise ValueError("--serving-dir is required without --pipeline-root (the default is <pipeline root>/serving)")
    return compile_settings.pipeline_root.rstrip("/") + "/serving"


def build_pipeline(compile_settings: CompileSettings):
    if compile_settings.pipeline_root:
        check_root("--pipeline-root", compile_settings.pipeline_root)
    return pipeline_lib.create_pipeline(
        compile_settings.settings,
        pipeline_root=compile_settings.pipeline_root or "",
        schema_path=pipeline_image.SCHEMA_PATH_IN_IMAGE,
        serving_dir=serving_dir(compile_settings),
        code_version=configs.code_version(),
        runtime_parameters=True)


def compile_spec(compile_settings: CompileSettings) -> pipeline_spec_pb2.PipelineSpec:
    pipeline = build_pipeline(compile_settings)
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
        default_image=compile_settings.image, default_commands=list(pipeline_image.ENTRYPOINT_COMMAND),
        use_pipeline_spec_2_1=True))
    job = runner.run(pipeline, write_out=False)
    spec = json_format.ParseDict(job["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
    set_parameter_defaults(spec, runtime_parameter_defaults(pipeline))
    name_condition_inputs_by_task_keys(spec)
    for task_name in set(UNCACHED_TASKS) & set(spec.root.dag.tasks):
        spec.root.dag.tasks[task_name].caching_options.enable_cache = False
    if compile_settings.pipeline_root:
        spec.default_pipeline_root = compile_settings.pipeline_root
    return spec


def runtime_parameter_defaults(pipeline) -> Dict[str, object]:
    """Default of every run-time parameter in the pipeline's components (None: no default)."""
    return {value.name: value.default for component in pipeline.components
            for value in component.exec_properties.values() if isinstance(value, data_types.RuntimeParameter)}


def set_parameter_defaults(spec: pipeline_spec_pb2.PipelineSpec, defaults: Dict[str, object]) -> None:
    for name, default in defaults.items():
        if default is None:
            continue
        parameter = spec.root.input_definitions.parameters[name]
        if isinstance(default, str):
            parameter.default_value.string_value = default
        else:
            parameter.default_value.number_value = default
        parameter.is_optional = True


def name_condition_inputs_by_task_keys(spec: pipeline_spec_pb2.PipelineSpec) -> None:
    """Rewrites `inputs.artifacts['_<producer>.<output>']` in trigger conditions to the task's own input key."""
    for task_name, task in spec.root.dag.tasks.items():
        condition = task.trigger_policy.condition
        if not condition:
            continue
        input_keys = {(spec_.task_output_artifact.producer_task, spec_.task_output_artifact.output_artifact_key): key
                      for key, spec_ in task.inputs.artifacts.items()}

        def task_key(match: re.Match) -> str:
            key = match.group(1)
            if key in task.inputs.artifacts:
                return match.group(0)
            producer, _, output = key.lstrip("_").partition(".")
            if (producer, output) not in input_keys:
                raise ValueError(f"task {task_name}: its trigger condition reads {key!r}, which is not an input")
            return f"inputs.artifacts['{input_keys[(producer, output)]}']"

        task.trigger_policy.condition = _INPUT_ARTIFACT_REFERENCE.sub(task_key, condition)


def task_order(spec: pipeline_spec_pb2.PipelineSpec) -> List[str]:
    """The tasks in an order KFP may run them: each after the tasks it depends on (ties by name)."""
    tasks = spec.root.dag.tasks
    done: List[str] = []
    while len(done) < len(tasks):
        ready = sorted(name for name, task in tasks.items()
                       if name not in done and set(task.dependent_tasks) <= set(done))
        if not ready:
            raise ValueError(f"the DAG has a cycle among {sorted(set(tasks) - set(done))}")
        done += ready
    return done


def executor_kinds(spec: pipeline_spec_pb2.PipelineSpec) -> Dict[str, int]:
    """How many executors of each kind (container, importer, resolver, ...) the spec has."""
    kinds: Dict[str, int] = {}
    for executor in spec.deployment_spec["executors"].values():
        for kind in executor.keys():
            kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def write_spec(spec: pipeline_spec_pb2.PipelineSpec, output: str) -> None:
    """Writes the bare PipelineSpec, as KFP's own compiler does (TFX's runner would write a Vertex PipelineJob for
    a .json output, which the KFP API server rejects)."""
    from compat import kfp as compat_kfp

    compat_kfp.write_pipeline_spec(
        spec, f"{configs.PIPELINE_NAME}: TFX {tfx_version.__version__} pipeline compiled for Kubeflow Pipelines",
        output)
