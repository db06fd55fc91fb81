"""The adapters in compat/ over private TFX, KFP and TensorFlow APIs: each test checks that what one adapter relies on
is still there, with the shape it uses, and fails naming the installed version and the adapter to revisit. The
last tests check that no module outside compat/ reaches into those libraries' private names.
(compat/file_systems.py, the adapter over Beam's S3 uploader, has its own test in test_file_systems.py.)"""
from __future__ import annotations

import ast
import importlib.metadata
import inspect
import os
from typing import Iterator, List, Set

import pytest

from pipeline import configs

DISPLAY_NAMES = {"tfx": "TFX", "kfp": "KFP", "tensorflow": "TensorFlow", "tf-keras": "tf-keras"}


def revisit(adapter, distribution: str, problem: str) -> str:
    """The assertion message: `<Library> <installed version>'s <problem>; revisit compat/<adapter>.py`."""
    name = DISPLAY_NAMES[distribution]
    installed = importlib.metadata.version(distribution)
    pinned = adapter.PINNED_VERSIONS[distribution]
    written_for = "" if installed == pinned else f" (written for {name} {pinned})"
    return f"{name} {installed}'s {problem}; revisit compat/{adapter.__name__.rsplit('.', 1)[-1]}.py{written_for}"


def test_tfx_orchestration_adapter_relies_on_what_beam_dag_runner_has():
    from tfx.orchestration.beam import beam_dag_runner
    from tfx.proto.orchestration import pipeline_pb2

    from compat import tfx_orchestration

    runner_class = beam_dag_runner.BeamDagRunner
    assert getattr(runner_class, "_PIPELINE_NODE_DO_FN_CLS", None) is beam_dag_runner.PipelineNodeAsDoFn, revisit(
        tfx_orchestration, "tfx", "BeamDagRunner no longer has _PIPELINE_NODE_DO_FN_CLS = PipelineNodeAsDoFn")
    calls = [node for node in ast.walk(ast.parse(inspect.getsource(beam_dag_runner)))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
             and node.func.attr == "_PIPELINE_NODE_DO_FN_CLS"]
    assert calls and all(not call.args and all(k.arg for k in call.keywords) for call in calls), revisit(
        tfx_orchestration, "tfx", "BeamDagRunner no longer makes each node's DoFn by calling "
        "self._PIPELINE_NODE_DO_FN_CLS with keyword arguments only")

    run_node = getattr(beam_dag_runner.PipelineNodeAsDoFn, "_run_node", None)
    assert callable(run_node) and list(inspect.signature(run_node).parameters) == ["self"], revisit(
        tfx_orchestration, "tfx", "PipelineNodeAsDoFn no longer has _run_node(self)")

    node = pipeline_pb2.PipelineNode(upstream_nodes=["SampleGen"])
    node.node_info.id = "Transform"
    parameters = list(inspect.signature(beam_dag_runner.PipelineNodeAsDoFn).parameters)
    do_fn = tfx_orchestration.NodeDoFn(**{name: node if name == "pipeline_node" else None for name in parameters})
    try:
        seen = (do_fn.node_id, list(do_fn.upstream_node_ids))
    except AttributeError as error:
        seen = error
    assert seen == ("Transform", ["SampleGen"]), revisit(
        tfx_orchestration, "tfx", f"PipelineNodeAsDoFn no longer keeps its node as _node_id and _pipeline_node "
        f"({seen})")


def test_kfp_adapter_parses_tfx_entry_point_flags():
    from compat import kfp as compat_kfp

    try:
        args, rest = compat_kfp.parse_executor_flags([
            "--executor_class_path", "components.serving_baseline.executor.Executor",
            "--json_serialized_invocation_args", "{}", "--json_serialized_inputs_spec_args", '{"artifacts": {}}',
            "--runner=DirectRunner"])
        seen = ((args.executor_class_path, args.json_serialized_invocation_args, args.json_serialized_inputs_spec_args),
                rest)
    except (AttributeError, TypeError, SystemExit) as error:
        seen = error
    assert seen == (("components.serving_baseline.executor.Executor", "{}", '{"artifacts": {}}'),
                    ["--runner=DirectRunner"]), revisit(
        compat_kfp, "tfx", f"kubeflow_v2_run_executor._parse_flags(argv) no longer parses the entry point's "
        f"arguments into (args, beam_args) ({seen})")


def test_kfp_adapter_registers_artifact_classes_where_tfx_entry_point_reads_them():
    from kfp.pipeline_spec import pipeline_spec_pb2
    from tfx.orchestration.kubeflow.v2 import compiler_utils
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils

    from compat import kfp as compat_kfp

    title_to_class_path = getattr(compiler_utils, "TITLE_TO_CLASS_PATH", None)
    assert isinstance(title_to_class_path, dict) and \
        title_to_class_path.get("tfx.Model") == "tfx.types.standard_artifacts.Model", revisit(
            compat_kfp, "tfx", "compiler_utils.TITLE_TO_CLASS_PATH is no longer a dict from type title to class path")
    title = "sparrow_tfx.CompatProbe"
    compat_kfp.register_artifact_class_path(title, "components.catalogue_eval.spec.CatalogueEvaluation")
    try:
        schema = pipeline_spec_pb2.ArtifactTypeSchema(instance_schema=f"title: {title}\n")
        class_path = kubeflow_v2_entrypoint_utils._retrieve_class_path(schema)
    finally:
        del title_to_class_path[title]
    assert class_path == "components.catalogue_eval.spec.CatalogueEvaluation", revisit(
        compat_kfp, "tfx", "Kubeflow V2 entry point no longer finds an artifact's class in "
        "compiler_utils.TITLE_TO_CLASS_PATH")


def test_kfp_adapter_writes_a_pipeline_spec_as_kfps_compiler_does(tmp_path):
    import yaml
    from kfp.compiler import pipeline_spec_builder
    from kfp.pipeline_spec import pipeline_spec_pb2

    from compat import kfp as compat_kfp

    write = getattr(pipeline_spec_builder, "write_pipeline_spec_to_file", None)
    assert callable(write) and list(inspect.signature(write).parameters) == [
        "pipeline_spec", "pipeline_description", "platform_spec", "package_path"], revisit(
        compat_kfp, "kfp", "pipeline_spec_builder no longer has write_pipeline_spec_to_file(pipeline_spec, "
        "pipeline_description, platform_spec, package_path)")
    spec = pipeline_spec_pb2.PipelineSpec()
    spec.pipeline_info.name = "probe"
    spec.root.input_definitions.parameters["serving_dir"].parameter_type = pipeline_spec_pb2.ParameterType.STRING
    output = str(tmp_path / "pipeline.yaml")
    compat_kfp.write_pipeline_spec(spec, "a probe pipeline", output)
    with open(output) as f:
        text = f.read()
    assert "# Description: a probe pipeline" in text and yaml.safe_load(text)["pipelineInfo"] == {"name": "probe"}, \
        revisit(compat_kfp, "kfp", f"write_pipeline_spec_to_file writes another file:\n{text}")


def test_keras_adapter_keeps_autograph_off_tf_keras(monkeypatch):
    from tensorflow.python.autograph.core import config
    from tensorflow.python.autograph.impl import conversion

    from compat import keras as compat_keras

    rules = getattr(config, "CONVERSION_RULES", None)
    assert isinstance(rules, tuple) and any(
        isinstance(rule, config.DoNotConvert) and rule.matches("tf_keras.src.engine.training") for rule in rules), \
        revisit(compat_keras, "tensorflow", "AutoGraph config no longer has CONVERSION_RULES, a tuple of rules")
    fit = compat_keras.keras.Model.fit
    assert conversion.is_allowlisted(fit), revisit(
        compat_keras, "tensorflow", "AutoGraph converts tf_keras despite a DoNotConvert rule in CONVERSION_RULES")
    monkeypatch.setattr(config, "CONVERSION_RULES", tuple(r for r in rules if not r.matches("tf_keras")))
    assert not conversion.is_allowlisted(fit), revisit(
        compat_keras, "tensorflow", "AutoGraph leaves tf_keras alone without the rule: compat/keras.py's rule may go")


# --- No module outside compat/ reaches into the libraries' private names.

SOURCE_DIRS = ("pipeline", "components", "models", "recommender", "dataio", "serving", "bench")
LIBRARIES = ("tfx", "tfx_bsl", "kfp", "tensorflow", "tensorflow_transform", "tensorflow_model_analysis",
             "tensorflow_data_validation", "tensorflow_io", "tf_keras", "apache_beam", "ml_metadata")
# Private although their names do not say so: TensorFlow's implementation package, and the names compat/ wraps.
PRIVATE_MODULES = ("tensorflow.python", "kfp.compiler.pipeline_spec_builder")
PRIVATE_NAMES = ("pipeline_spec_builder", "TITLE_TO_CLASS_PATH", "CONVERSION_RULES")


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _from_library(module: str) -> bool:
    return module.split(".")[0] in LIBRARIES


def private_uses(source: str) -> List[str]:
    """`line: what` for each private name of LIBRARIES that source uses: an attribute with a leading underscore of
    a name an import of theirs binds (`kubeflow_v2_run_executor._parse_flags`, `tf.compat.v1._x`), an imported
    name with one, a module of PRIVATE_MODULES, or one of PRIVATE_NAMES."""
    tree = ast.parse(source)
    bound: Set[str] = set()
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _from_library(alias.name):
                    bound.add(alias.asname or alias.name.split(".")[0])
                if alias.name.startswith(PRIVATE_MODULES):
                    uses.append(f"{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level and _from_library(node.module):
            for alias in node.names:
                bound.add(alias.asname or alias.name)
                full_name = f"{node.module}.{alias.name}"
                if _is_private(alias.name) or alias.name in PRIVATE_NAMES or full_name.startswith(PRIVATE_MODULES):
                    uses.append(f"{node.lineno}: from {node.module} import {alias.name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and (_is_private(node.attr) or node.attr in PRIVATE_NAMES):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in bound:
                uses.append(f"{node.lineno}: {ast.unparse(node)}")
    return sorted(set(uses), key=lambda use: int(use.split(":")[0]))


def project_sources() -> Iterator[str]:
    """Paths, relative to the project root, of the Python modules outside compat/ and tests/."""
    for source_dir in SOURCE_DIRS:
        for directory, _, files in os.walk(os.path.join(configs.PROJECT_ROOT, source_dir)):
            for name in sorted(files):
                if name.endswith(".py"):
                    yield os.path.relpath(os.path.join(directory, name), configs.PROJECT_ROOT)


@pytest.mark.parametrize("source, expected", [
    ("from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor\n"
     "parse = kubeflow_v2_run_executor._parse_flags\n", ["2: kubeflow_v2_run_executor._parse_flags"]),
    ("import tensorflow as tf\nx = tf.compat.v1._private\n", ["2: tf.compat.v1._private"]),
    ("def f():\n    from tfx.orchestration.beam import beam_dag_runner\n"
     "    return beam_dag_runner.BeamDagRunner._PIPELINE_NODE_DO_FN_CLS\n",
     ["3: beam_dag_runner.BeamDagRunner._PIPELINE_NODE_DO_FN_CLS"]),
    ("from tensorflow.python.autograph.core import config\n",
     ["1: from tensorflow.python.autograph.core import config"]),
    ("from kfp.compiler import pipeline_spec_builder\n", ["1: from kfp.compiler import pipeline_spec_builder"]),
    ("from tfx.orchestration.kubeflow.v2 import compiler_utils\ncompiler_utils.TITLE_TO_CLASS_PATH['a'] = 'b'\n",
     ["2: compiler_utils.TITLE_TO_CLASS_PATH"]),
    ("import os\nfrom tfx import types\nos._exit(0)\nself._node_id\ntypes.__name__\n", []),
])
def test_the_scan_finds_private_uses(source, expected):
    assert private_uses(source) == expected


def test_no_module_outside_compat_uses_a_private_api_of_tfx_kfp_tensorflow_or_beam():
    found = {}
    for path in project_sources():
        with open(os.path.join(configs.PROJECT_ROOT, path)) as f:
            uses = private_uses(f.read())
        if uses:
            found[path] = uses
    assert not found, ("private APIs used outside compat/; put each behind an adapter in compat/ with a test here:\n"
                       + "\n".join(f"{path}:{use}" for path, uses in found.items() for use in uses))
