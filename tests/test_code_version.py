"""The Transform/Trainer cache key changes with the code they run, and only with it."""
from __future__ import annotations

import os
import shutil

import pytest

from pipeline import configs


@pytest.fixture
def project(tmp_path) -> str:
    """A copy of the project's packages to edit."""
    for package in ("components", "models", "compat", "recommender", "dataio"):
        shutil.copytree(os.path.join(configs.PROJECT_ROOT, package), tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return str(tmp_path)


def edit(root: str, relative_path: str, old: str, new: str) -> None:
    path = os.path.join(root, relative_path)
    with open(path) as f:
        text = f.read()
    assert old in text, f"{relative_path} no longer has {old!r}; pick another edit"
    with open(path, "w") as f:
        f.write(text.replace(old, new, 1))


def test_error_messages_elsewhere_docstrings_and_comments_keep_it(project):
    before = configs.code_version(project)
    assert before == configs.code_version()  # the copy is the project's code
    edit(project, "components/sample_gen/executor.py", 'f"SampleGen: no {split.name} file matches',
         'f"SampleGen found no {split.name} file matching')
    edit(project, "models/features.py", '"""The single source of truth', '"""The one place that defines')
    edit(project, "models/trainer.py", "\nimport tensorflow as tf\n", "\n# why TF\nimport tensorflow as tf\n")
    assert configs.code_version(project) == before


@pytest.mark.parametrize("relative_path", ["models/preprocessing.py", "models/trainer.py", "models/features.py",
                                           "models/schema.py",  # in the package, though neither imports it
                                           "compat/keras.py"])  # imported by model.py, which trainer imports
def test_code_the_model_runs_changes_it(project, relative_path):
    before = configs.code_version(project)
    with open(os.path.join(project, relative_path), "a") as f:
        f.write("\nCHANGED = 1\n")
    assert configs.code_version(project) != before


def test_recommender_and_component_code_keep_it(project):
    before = configs.code_version(project)
    for relative_path in ("recommender/catalogue.py", "components/sample_gen/executor.py", "dataio/examples.py"):
        with open(os.path.join(project, relative_path), "a") as f:
            f.write("\nCHANGED = 1\n")
    assert configs.code_version(project) == before


@pytest.mark.slow  # imports TFX
def test_the_pipelines_preprocessing_and_training_modules_are_model_code():
    from pipeline import pipeline as pipeline_lib

    modules = set(configs.model_code_modules())
    assert {pipeline_lib.PREPROCESSING_FN.rsplit(".", 1)[0], pipeline_lib.RUN_FN.rsplit(".", 1)[0]} <= modules


def test_model_code_imports_only_itself_and_the_compat_adapters():
    import ast

    for module in configs.model_code_modules():
        path = os.path.join(configs.PROJECT_ROOT, *module.split(".")) + ".py"
        with open(path) as f:
            tree = ast.parse(f.read())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module} | \
            {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        project = {name for name in imported
                   if name.split(".")[0] in ("components", "recommender", "dataio", "pipeline", "bench")}
        assert not project, f"{module} imports {project}: the model code digest would not cover them"
