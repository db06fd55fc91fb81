"""Checks the sample CSVs before the pipeline starts, and counts their rows per split.

CsvExampleGen fails deep inside Beam on a malformed file (a row with too many cells, an empty file) without
naming the file, and no schema can see duplicate samples. These checks name `file:line` instead. Values (ranges,
NaN, unknown genres, missing labels) are the data gate's job: the schema describes them there, for every runner.
"""
from __future__ import annotations

import csv
import glob
import os
import re
from typing import Dict, List, Tuple

from models import features

MAX_PROBLEMS = 20  # a systematic problem repeats on every row; the first ones are enough to fix it
_INT = re.compile(r"^[+-]?\d+$")
_KEY = (features.USER_KEY, features.MOVIE_KEY, "timestamp")  # one rating: a sample must appear once


class PreflightError(ValueError):
    """The sample files cannot be read as the sample format; the message lists `file:line: problem`."""

    def __init__(self, problems: List[str], stopped_early: bool):
        self.problems = problems
        more = f"\n  (the check stops at {MAX_PROBLEMS} problems)" if stopped_early else ""
        super().__init__("the sample CSVs are malformed:\n" + "\n".join(f"  {p}" for p in problems) + more)


def _cell_problem(column: features.Column, cell: str) -> str:
    if not cell:
        return ""  # missing values are the schema's business (presence)
    if column.kind == "int" and not _INT.match(cell):
        return f"column {column.name}: expected an integer, got {cell!r}"
    if column.kind == "float":
        try:
            float(cell)
        except ValueError:
            return f"column {column.name}: expected a number, got {cell!r}"
    return ""


def _header_problem(header: List[str]) -> str:
    expected = list(features.COLUMN_NAMES)
    if header == expected:
        return ""
    missing = [c for c in expected if c not in header]
    unexpected = [c for c in header if c not in expected]
    if missing or unexpected:
        return (f"header does not match the sample format: missing columns {missing or 'none'}, "
                f"unexpected columns {unexpected or 'none'}")
    return f"header has the sample columns in another order; expected {','.join(expected)}"


class _Checker:
    def __init__(self):
        self.problems: List[str] = []
        self.first_seen: Dict[Tuple[str, ...], str] = {}

    @property
    def full(self) -> bool:
        return len(self.problems) >= MAX_PROBLEMS

    def report(self, where: str, problem: str) -> None:
        if not self.full:
            self.problems.append(f"{where}: {problem}")

    def check_file(self, path: str) -> int:
        """Checks one CSV; returns its number of data rows."""
        rows = 0
        with open(path, newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                self.report(path, "file is empty (no header row)")
                return 0
            header_problem = _header_problem(header)
            if header_problem:
                self.report(f"{path}:1", header_problem)
                return 0
            key_index = [header.index(k) for k in _KEY]
            for row in reader:
                if not row:
                    continue  # a blank line: CsvExampleGen skips it too
                rows += 1
                if not self.full:
                    self.check_row(f"{path}:{reader.line_num}", row, key_index)
        return rows

    def check_row(self, where: str, row: List[str], key_index: List[int]) -> None:
        if len(row) != len(features.COLUMNS):
            self.report(where, f"row has {len(row)} cells, expected {len(features.COLUMNS)}")
            return
        if any("\n" in cell for cell in row):
            self.report(where, "a quoted cell spans lines (CsvExampleGen reads one row per line)")
            return
        for column, cell in zip(features.COLUMNS, row):
            problem = _cell_problem(column, cell)
            if problem:
                self.report(where, problem)
        key = tuple(row[i] for i in key_index)
        if key in self.first_seen:
            self.report(where, f"duplicate sample ({', '.join(f'{k}={v}' for k, v in zip(_KEY, key))}) "
                               f"first seen at {self.first_seen[key]}")
        else:
            self.first_seen[key] = where


def check_samples(data_root: str, split_patterns: Dict[str, str]) -> Dict[str, int]:
    """Checks every file of every split (`{split: glob pattern under data_root}`); returns data rows per split.

    Raises PreflightError listing the first problems found. Duplicates are looked for across splits too: a
    sample in both train and eval leaks the answer into the evaluation.
    """
    checker = _Checker()
    rows: Dict[str, int] = {}
    for split, pattern in split_patterns.items():
        paths = sorted(p for p in glob.glob(os.path.join(data_root, pattern)) if os.path.isfile(p))
        if not paths:
            checker.report(os.path.join(data_root, pattern), f"no files for split {split!r}")
            continue
        known = len(checker.problems)
        rows[split] = sum(checker.check_file(path) for path in paths)
        if rows[split] == 0 and len(checker.problems) == known:
            checker.report(os.path.join(data_root, pattern), f"split {split!r} has no data rows")
    if checker.problems:
        raise PreflightError(checker.problems, checker.full)
    return rows
