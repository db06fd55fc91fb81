"""The Transform/Trainer cache key changes with the code they run, and only with it."""
from __future__ import annotations

import os
import shutil

import pytest

from pipeline import configs


@pytest.fixture
def project(tmp_path) -> str:
    """A copy of the project's components/ package to edit."""
    shutil.copytree(os.path.join(configs.PROJECT_ROOT, "components"), tmp_path / "components",
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
    edit(project, "components/features.py", '"""The single source of truth', '"""The one place that defines')
    edit(project, "components/trainer.py", "\nimport tensorflow as tf\n", "\n# why TF\nimport tensorflow as tf\n")
    assert configs.code_version(project) == before


@pytest.mark.parametrize("relative_path", ["components/preprocessing.py", "components/trainer.py",
                                           "components/features.py",  # imported by both
                                           "components/keras.py"])  # imported by model.py, which trainer imports
def test_code_the_model_runs_changes_it(project, relative_path):
    before = configs.code_version(project)
    with open(os.path.join(project, relative_path), "a") as f:
        f.write("\nCHANGED = 1\n")
    assert configs.code_version(project) != before


@pytest.mark.slow  # imports TFX
def test_it_starts_from_the_pipelines_preprocessing_and_training_modules():
    from pipeline import pipeline as pipeline_lib

    assert set(configs.MODEL_CODE_MODULES) == {pipeline_lib.PREPROCESSING_FN.rsplit(".", 1)[0],
                                               pipeline_lib.RUN_FN.rsplit(".", 1)[0]}
