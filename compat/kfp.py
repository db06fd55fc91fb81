"""The private parts of TFX's Kubeflow V2 integration and of the KFP compiler that the Kubeflow runner and its
container entry point use. Written for TFX 1.16.0 and kfp 2.5.0.

- `tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor._parse_flags`: the parser of TFX's entry-point
  arguments (--executor_class_path, --json_serialized_invocation_args, --json_serialized_inputs_spec_args, then
  Beam's). pipeline/runners/kfp_entrypoint.py takes the same arguments and hands what it parses to TFX's `main`.
- `tfx.orchestration.kubeflow.v2.compiler_utils.TITLE_TO_CLASS_PATH`: the map from artifact type title to class
  path that TFX's entry point reads for its standard types; any other title must itself be a class path. KFP
  requires a custom title of the form `<namespace>.<Title>`, which our artifact classes' paths are not, so the entry
  point registers them in this map.
- `kfp.compiler.pipeline_spec_builder.write_pipeline_spec_to_file`: how KFP's own compiler writes a PipelineSpec
  (YAML, with the description and the inputs and outputs as comments); kfp.compiler does not export it. TFX's
  runner writes a Vertex PipelineJob instead, which the KFP API server rejects.

TFX and KFP are imported inside the functions: the entry point's adaptation and the CLI load without them.
tests/test_compat.py checks each of these against the installed TFX and KFP.
"""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, List, Tuple

if TYPE_CHECKING:
    from kfp.pipeline_spec import pipeline_spec_pb2

PINNED_VERSIONS = {"tfx": "1.16.0", "kfp": "2.5.0"}


def parse_executor_flags(argv: List[str]) -> Tuple[argparse.Namespace, List[str]]:
    """TFX's Kubeflow V2 entry-point arguments in argv, and the rest (Beam's), as TFX's own entry point parses them."""
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor

    return kubeflow_v2_run_executor._parse_flags(argv)


def register_artifact_class_path(type_name: str, class_path: str) -> None:
    """Makes TFX's Kubeflow V2 entry point import the artifact class at class_path for an artifact whose type
    (schema title) is type_name."""
    from tfx.orchestration.kubeflow.v2 import compiler_utils

    compiler_utils.TITLE_TO_CLASS_PATH[type_name] = class_path


def write_pipeline_spec(spec: pipeline_spec_pb2.PipelineSpec, description: str, output: str) -> None:
    """Writes spec to output (.yaml) as KFP's compiler does, description in its header, with no platform config."""
    from kfp.compiler import pipeline_spec_builder
    from kfp.pipeline_spec import pipeline_spec_pb2

    pipeline_spec_builder.write_pipeline_spec_to_file(spec, description, pipeline_spec_pb2.PlatformSpec(), output)
