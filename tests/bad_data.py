"""Bad sample data for the reliability tests, and one small real pipeline that validates it.

Each bad case is a copy of clean generated samples with one thing broken. The validation pipeline is the front
of the real one (CsvExampleGen, StatisticsGen, ImportSchemaGen of the committed schema, the DataGate) with one
input split per case, so one Beam run tries them all; the clean split is the control.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import os
from typing import Callable, Dict, List, Optional, Tuple

from models import features, schema
from pipeline import configs
from pipeline.report import metadata

PIPELINE_NAME = "bad-inputs"
Rows = List[List[str]]
_COLUMN = {name: i for i, name in enumerate(features.COLUMN_NAMES)}


def clean_samples(out_dir: str, size: int = 2000, rows: int = 150) -> Tuple[List[str], Rows]:
    """The header and the last `rows` train samples of a small generated dataset (late samples have every
    optional feature, so no column is empty)."""
    from pipeline.datasets import synthetic

    synthetic.generate(out_dir, size, configs.DEFAULT_DATA_SEED)
    with open(os.path.join(out_dir, "samples", "train", "samples.csv"), newline="") as f:
        table = list(csv.reader(f))
    return table[0], table[-rows:]


def write_csv(path: str, header: List[str], rows: Rows) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def with_cell(rows: Rows, row: int, column: str, value: str) -> Rows:
    changed = [list(r) for r in rows]
    changed[row][_COLUMN[column]] = value
    return changed


def without_columns(header: List[str], rows: Rows, *columns: str) -> Tuple[List[str], Rows]:
    keep = [i for i, name in enumerate(header) if name not in columns]
    return [header[i] for i in keep], [[r[i] for i in keep] for r in rows]


@dataclasses.dataclass(frozen=True)
class Case:
    """A broken input: what breaks, in which split of the validation pipeline, and what the gate must say."""
    name: str
    split: str
    feature: str
    expected: str  # in the gate's line for this split and feature


# Cases sharing a split break different features (and rows), so each anomaly line belongs to one case.
VALUE_CASES = (
    (Case("NaN value", "values", "movieAvgRating", "NaN values"), "movieAvgRating", "nan"),
    (Case("inf value", "values", "userAvgRating", "Inf values"), "userAvgRating", "inf"),
    (Case("label outside {0,1}", "values", features.LABEL_KEY, "Unexpectedly large value: 2"),
     features.LABEL_KEY, "2"),
    (Case("unseen genre", "values", "movieGenre1", "Cyberpunk"), "movieGenre1", "Cyberpunk"),
    (Case("negative count", "values", "movieRatingCount", "Unexpectedly small value: -3"),
     "movieRatingCount", "-3"),
    (Case("rating 50", "values", features.RATING_KEY, "Unexpectedly high value: 50"), features.RATING_KEY, "50.0"),
    (Case("wrong type in a numeric column", "values", "userRatingCount", "Expected data of type: INT but got STRING"),
     "userRatingCount", "many"),
)
LABEL_MISSING = Case("label missing in a row", "label_missing", features.LABEL_KEY, "not always present")
COLUMN_CASES = (
    Case("missing column (label)", "columns", features.LABEL_KEY, "Column dropped"),
    Case("missing column (optional userAvgReleaseYear)", "columns", "userAvgReleaseYear", "Column dropped"),
    Case("extra column", "columns", "extra", "New column"),
)
EMPTY_SPLIT = Case("empty split (header only)", "empty", "(dataset)", "no examples")
CASES = tuple(case for case, _, _ in VALUE_CASES) + (LABEL_MISSING,) + COLUMN_CASES + (EMPTY_SPLIT,)
CLEAN_SPLIT = "clean"


def write_cases(data_root: str, header: List[str], rows: Rows) -> List[str]:
    """One directory per split under data_root; returns the split names."""
    def path(split: str) -> str:
        return os.path.join(data_root, split, "samples.csv")

    values = rows
    for row, (_, column, value) in enumerate(VALUE_CASES):
        values = with_cell(values, row, column, value)
    write_csv(path("values"), header, values)
    write_csv(path(LABEL_MISSING.split), header, with_cell(rows, 0, features.LABEL_KEY, ""))
    narrow_header, narrow_rows = without_columns(header, rows, features.LABEL_KEY, "userAvgReleaseYear")
    write_csv(path("columns"), narrow_header + ["extra"], [r + ["1"] for r in narrow_rows])
    write_csv(path(EMPTY_SPLIT.split), header, [])
    write_csv(path(CLEAN_SPLIT), header, rows)
    return sorted(os.listdir(data_root))


def validation_pipeline(data_root: str, splits: List[str], work_dir: str, allow_anomalies: bool = False):
    from tfx import v1 as tfx

    from components.data_gate.component import DataGate
    from pipeline.runners import beam

    example_gen = tfx.components.CsvExampleGen(input_base=data_root, input_config=tfx.proto.Input(
        splits=[tfx.proto.Input.Split(name=split, pattern=f"{split}/*") for split in splits]))
    schema_gen = tfx.components.ImportSchemaGen(schema_file=schema.SCHEMA_PATH)
    # As the pipeline makes them: with the schema (the ids categorical)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"],
                                                  schema=schema_gen.outputs["schema"])
    gate = DataGate(statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"],
                    allow_anomalies=allow_anomalies)
    return tfx.dsl.Pipeline(
        pipeline_name=PIPELINE_NAME, pipeline_root=os.path.join(work_dir, "pipeline_root"),
        components=[example_gen, statistics_gen, schema_gen, gate],
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            os.path.join(work_dir, "metadata.sqlite")),
        beam_pipeline_args=beam.direct_args())


@dataclasses.dataclass(frozen=True)
class ValidationRun:
    error: Optional[Exception]
    record: metadata.RunRecord

    def lines(self, split: str) -> List[str]:
        """The gate's report lines about one split."""
        return [line.strip() for line in str(self.error).splitlines() if line.strip().startswith(f"{split} ")]


def run_validation(work_dir: str) -> ValidationRun:
    """Writes every case and validates them in one real pipeline run."""
    from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

    header, rows = clean_samples(os.path.join(work_dir, "generated"))
    data_root = os.path.join(work_dir, "data")
    splits = write_cases(data_root, header, rows)
    error = None
    try:
        BeamDagRunner().run(validation_pipeline(data_root, splits, work_dir))
    except Exception as raised:  # the gate's error, as the runner passes it on
        error = raised
    return ValidationRun(error, metadata.latest_run(os.path.join(work_dir, "metadata.sqlite"), PIPELINE_NAME))


def tree_digest(root: str) -> Dict[str, str]:
    """sha256 of every file under root, by relative path: equal digests mean byte-for-byte equal trees."""
    digests = {}
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                digests[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return digests


def mutate_file(path: str, mutate: Callable[[List[str], Rows], Tuple[List[str], Rows]]) -> None:
    """Rewrites a sample CSV through mutate(header, rows)."""
    with open(path, newline="") as f:
        table = list(csv.reader(f))
    header, rows = mutate(table[0], table[1:])
    write_csv(path, header, rows)
