"""The container entry point of the compiled pipeline: TFX's Kubeflow V2 executor entry point, made to accept
the ExecutorInput that the open-source Kubeflow Pipelines launcher sends.

TFX's `kubeflow_v2_run_executor` finds each artifact's Python class from the artifact's type in the
ExecutorInput. Under open-source KFP two things break that:
1. upstream input artifacts arrive with an empty type (`instanceSchema: ""`, as the backend does not keep the
   schema; newer backends may send a generic `system.*` title): TFX fails with AttributeError/ImportError. The
   component's inputs spec (`--json_serialized_inputs_spec_args`, compiled with pipeline spec 2.1) declares the
   type of every input, so the declared type is used.
2. the launcher adds an output of its own, `executor-logs` typed `system.Artifact`, to publish the logs: TFX has
   no class for it (ImportError). It is not the component's output, so the executor does not see it; the
   launcher keeps its own record of it.
3. TFX imports a custom artifact type's class from its schema title, which KFP requires to be `<namespace>.<Title>`:
   a class path of one module level, which ours (components.<component>.spec) are not. Each of our custom types is
   registered in TFX's map from title to class path (the map TFX keeps for its standard types).
4. the launcher makes no directory for an output artifact (TFX's own launchers do, `outputs_utils.make_output_dirs`)
   and some executors write files straight into theirs: on a pipeline root every pod mounts (a local path) the
   directory must exist; object stores need none.
`python -m pipeline.runners.kfp_entrypoint` takes TFX's arguments, adapts the ExecutorInput and runs TFX's entry point.
The TFX internals it uses (the argument parser, the title -> class path map) are behind compat/kfp.py.
"""
from __future__ import annotations

import json
import os
from typing import Optional, Tuple

import yaml
from absl import logging

SYSTEM_TITLE_PREFIX = "system."  # KFP's generic artifact types (system.Artifact, system.Model, ...)


def schema_title(artifact_type: dict) -> str:
    """The title of an ArtifactTypeSchema in JSON form ("" when it has none)."""
    if artifact_type.get("schemaTitle"):
        return artifact_type["schemaTitle"]
    schema = yaml.safe_load(artifact_type.get("instanceSchema") or "") or {}
    return schema.get("title", "") if isinstance(schema, dict) else ""


def _is_generic(artifact_type: dict) -> bool:
    title = schema_title(artifact_type)
    return not title or title.startswith(SYSTEM_TITLE_PREFIX)


def adapt_executor_input(executor_input: dict, inputs_spec: Optional[dict]) -> Tuple[dict, list]:
    """The ExecutorInput (JSON form) as TFX's entry point needs it, and what was changed (for the log).

    Inputs with an empty or generic type take the type their component declares; outputs of a generic type
    (the launcher's own, like `executor-logs`) are left out. An input the spec does not declare is an error.
    """
    adapted = json.loads(json.dumps(executor_input))
    declared = (inputs_spec or {}).get("artifacts", {})
    changes = []
    for key, artifact_list in adapted.get("inputs", {}).get("artifacts", {}).items():
        for artifact in artifact_list.get("artifacts", []):
            if not _is_generic(artifact.get("type", {})):
                continue
            if key not in declared:
                raise ValueError(f"input artifact {key!r} has no type ({artifact.get('type')}) and the component's "
                                 f"inputs spec does not declare it (declared: {sorted(declared)})")
            artifact["type"] = declared[key]["artifactType"]
            changes.append(f"input {key}: type {schema_title(artifact['type'])} from the inputs spec")
    outputs = adapted.get("outputs", {}).get("artifacts", {})
    launchers_own = [key for key, artifact_list in outputs.items() if artifact_list.get("artifacts")
                     and all(_is_generic(a.get("type", {})) for a in artifact_list["artifacts"])]
    for key in launchers_own:
        del outputs[key]
        changes.append(f"output {key}: the launcher's own, not passed to the executor")
    return adapted, changes


def make_local_output_dirs(executor_input: dict) -> None:
    """Each output artifact's directory on a mounted (local) root, as TFX's launchers make it."""
    for artifact_list in executor_input.get("outputs", {}).get("artifacts", {}).values():
        for artifact in artifact_list.get("artifacts", []):
            if "://" not in artifact.get("uri", "://"):
                os.makedirs(artifact["uri"], exist_ok=True)


def register_custom_artifact_types() -> None:
    """Our custom artifact types in TFX's title -> class path map, so that the entry point finds their classes."""
    from compat import kfp as compat_kfp
    from components.catalogue_eval import spec as catalogue_eval_spec

    for artifact_type in (catalogue_eval_spec.CatalogueEvaluation,):
        compat_kfp.register_artifact_class_path(artifact_type.TYPE_NAME,
                                                f"{artifact_type.__module__}.{artifact_type.__qualname__}")


def _run(parsed_argv) -> None:
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor

    from compat import file_systems

    args, beam_args = parsed_argv
    if file_systems.S3_SCHEME in args.json_serialized_invocation_args:  # an artifact or the serving dir on S3
        file_systems.register_for(file_systems.S3_SCHEME)
    inputs_spec = json.loads(args.json_serialized_inputs_spec_args or "{}")
    adapted, changes = adapt_executor_input(json.loads(args.json_serialized_invocation_args), inputs_spec)
    logging.set_verbosity(logging.INFO)  # as TFX's entry point does
    register_custom_artifact_types()
    make_local_output_dirs(adapted)
    for change in changes:
        logging.info("kfp_entrypoint: %s", change)
    args.json_serialized_invocation_args = json.dumps(adapted)
    kubeflow_v2_run_executor.main((args, beam_args))


def _run_and_leave(parsed_argv) -> None:
    from compat import file_systems

    _run(parsed_argv)
    file_systems.leave(0)


def main() -> None:
    from absl import app

    from compat import kfp as compat_kfp

    # TFX's own flags: --executor_class_path, --json_serialized_invocation_args, --json_serialized_inputs_spec_args,
    # then Beam's.
    app.run(_run_and_leave, flags_parser=compat_kfp.parse_executor_flags)


if __name__ == "__main__":
    main()
