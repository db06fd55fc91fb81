"""Defaults and locations shared by every runner. No I/O at import time."""
from __future__ import annotations

import dataclasses
import hashlib
import os
from typing import Optional

import components

PIPELINE_NAME = "sparrow-tfx"  # KFP needs [a-z0-9][a-z0-9-]*
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA_PATH = os.path.join(PROJECT_ROOT, "schema", "schema.pbtxt")
DEFAULT_WORK_DIR = os.path.join(PROJECT_ROOT, ".work")

DEFAULT_MIN_AUC = 0.70
DEFAULT_MAX_AUC_REGRESSION = 0.01
# Blessing also needs recall@10 over the catalogue at least this times the most-rated list's (0: off): at most 10%
# below it, since on the random sparrow split today's model is 0.96x it (README, "Top-N over the catalogue").
DEFAULT_MIN_CATALOGUE_RATIO = 0.9
DEFAULT_DATA_SIZE = 24000  # ratings of the embedded synthetic dataset (about 20k samples)
DEFAULT_DATA_SEED = 42


@dataclasses.dataclass(frozen=True)
class LocalPaths:
    """Where a local run keeps its state; everything lives under one (gitignored) work directory."""
    work_dir: str

    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.work_dir, "pipeline_root")

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.work_dir, "metadata.sqlite")

    @property
    def serving_dir(self) -> str:
        return os.path.join(self.work_dir, "serving")

    @property
    def data_dir(self) -> str:
        return os.path.join(self.work_dir, "data")


def code_version(package_dir: Optional[str] = None) -> str:
    """A digest of the model code (every .py under components/), so code changes invalidate the cache."""
    package_dir = package_dir or os.path.dirname(components.__file__)
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(package_dir):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(f for f in files if f.endswith(".py")):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, package_dir).encode())
            with open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()[:16]
