"""Bad inputs: each one stops the run with an error naming the file and line or the split and feature, and
none reaches training or serving.

Three layers, cheapest first: the preflight on malformed CSVs (no TFX), the real validation front of the
pipeline on value problems (one Beam run for every case, see tests/bad_data.py), and the whole `sparrow-tfx run`
on one case of each kind.
"""
from __future__ import annotations

import os
import re
import shutil

import pytest

from models import features
from pipeline import configs
from pipeline.report import metadata
from pipeline.runners import preflight
from tests import bad_data
from tests.conftest import run_cli

SPLIT_PATTERNS = {"train": "train/*", "eval": "eval/*"}
TRAIN_ROWS = 100


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return bad_data.clean_samples(str(tmp_path_factory.mktemp("clean")))


def write_splits(data_root: str, header, rows) -> None:
    bad_data.write_csv(os.path.join(data_root, "train", "samples.csv"), header, rows[:TRAIN_ROWS])
    bad_data.write_csv(os.path.join(data_root, "eval", "samples.csv"), header, rows[TRAIN_ROWS:])


def append_line(path: str, line: str) -> None:
    with open(path, "a") as f:
        f.write(line + "\n")


def train_file(data_root: str) -> str:
    return os.path.join(data_root, "train", "samples.csv")


def _extra_cell(root, header, rows):
    append_line(train_file(root), ",".join(rows[0]) + ",7")


def _short_row(root, header, rows):
    append_line(train_file(root), ",".join(rows[0][:5]))


def _blank_line(root, header, rows):
    append_line(train_file(root), "")


def _missing_column(root, header, rows):
    bad_data.write_csv(train_file(root), *bad_data.without_columns(header, rows[:TRAIN_ROWS], "userAvgReleaseYear"))


def _extra_column(root, header, rows):
    bad_data.write_csv(train_file(root), header + ["extra"], [r + ["1"] for r in rows[:TRAIN_ROWS]])


def _reordered_columns(root, header, rows):
    bad_data.write_csv(train_file(root), header[1:] + header[:1], [r[1:] + r[:1] for r in rows[:TRAIN_ROWS]])


def _text_in_int_column(root, header, rows):
    bad_data.write_csv(train_file(root), header, bad_data.with_cell(rows[:TRAIN_ROWS], 2, "userRatingCount", "many"))


def _float_in_int_column(root, header, rows):
    bad_data.write_csv(train_file(root), header, bad_data.with_cell(rows[:TRAIN_ROWS], 2, "movieId", "12.5"))


def _text_in_float_column(root, header, rows):
    bad_data.write_csv(train_file(root), header, bad_data.with_cell(rows[:TRAIN_ROWS], 2, "rating", "four"))


def _empty_file(root, header, rows):
    open(os.path.join(root, "train", "more.csv"), "w").close()


def _header_only_split(root, header, rows):
    bad_data.write_csv(os.path.join(root, "eval", "samples.csv"), header, [])


def _no_files(root, header, rows):
    os.remove(os.path.join(root, "eval", "samples.csv"))


def _duplicate_in_split(root, header, rows):
    append_line(train_file(root), ",".join(rows[3]))


def _duplicate_across_splits(root, header, rows):
    append_line(os.path.join(root, "eval", "samples.csv"), ",".join(rows[3]))


def _cell_spanning_lines(root, header, rows):
    append_line(train_file(root), ",".join(rows[0][:6]) + ',"Comedy\nDrama",' + ",".join(rows[0][7:]))


# (case, how the data is broken, where the error must point, what it must say)
PREFLIGHT_CASES = [
    ("malformed row: a cell too many", _extra_cell, "train/samples.csv:102", "row has 28 cells, expected 27"),
    ("malformed row: truncated", _short_row, "train/samples.csv:102", "row has 5 cells, expected 27"),
    ("missing column", _missing_column, "train/samples.csv:1", "missing columns ['userAvgReleaseYear']"),
    ("extra column", _extra_column, "train/samples.csv:1", "unexpected columns ['extra']"),
    ("columns in another order", _reordered_columns, "train/samples.csv:1", "in another order"),
    ("text in an integer column", _text_in_int_column, "train/samples.csv:4",
     "column userRatingCount: expected an integer, got 'many'"),
    ("decimal in an integer column", _float_in_int_column, "train/samples.csv:4",
     "column movieId: expected an integer, got '12.5'"),
    ("text in a number column", _text_in_float_column, "train/samples.csv:4",
     "column rating: expected a number, got 'four'"),
    ("empty file", _empty_file, "train/more.csv", "file is empty (no header row)"),
    ("empty split (header only)", _header_only_split, "eval/*", "split 'eval' has no data rows"),
    ("no files for a split", _no_files, "eval/*", "no files for split 'eval'"),
    ("duplicate row in a split", _duplicate_in_split, "train/samples.csv:102",
     "first seen at {root}/train/samples.csv:5"),
    ("duplicate row across splits", _duplicate_across_splits, "eval/samples.csv:52",
     "first seen at {root}/train/samples.csv:5"),
    ("quoted cell spanning lines", _cell_spanning_lines, "train/samples.csv:103", "a quoted cell spans lines"),
]


@pytest.mark.parametrize("harmless", [None, _blank_line], ids=["clean", "blank line (CsvExampleGen skips it)"])
def test_clean_samples_pass_the_preflight_with_their_row_counts(clean, tmp_path, harmless):
    header, rows = clean
    write_splits(str(tmp_path), header, rows)
    if harmless:
        harmless(str(tmp_path), header, rows)
    assert preflight.check_samples(str(tmp_path), SPLIT_PATTERNS) == {"train": TRAIN_ROWS,
                                                                     "eval": len(rows) - TRAIN_ROWS}


@pytest.mark.parametrize("case,breaks,where,says", PREFLIGHT_CASES, ids=[c[0] for c in PREFLIGHT_CASES])
def test_preflight_names_file_line_and_problem(clean, tmp_path, case, breaks, where, says):
    root = str(tmp_path)
    write_splits(root, *clean)
    breaks(root, *clean)
    with pytest.raises(preflight.PreflightError) as raised:
        preflight.check_samples(root, SPLIT_PATTERNS)
    problems = raised.value.problems
    assert any(p.startswith(os.path.join(root, where)) and says.format(root=root) in p for p in problems), problems


def test_preflight_stops_listing_after_the_first_problems(clean, tmp_path):
    header, rows = clean
    root = str(tmp_path)
    write_splits(root, header, [r[:-1] for r in rows])  # every row a cell short
    with pytest.raises(preflight.PreflightError) as raised:
        preflight.check_samples(root, SPLIT_PATTERNS)
    assert len(raised.value.problems) == preflight.MAX_PROBLEMS
    assert f"stops at {preflight.MAX_PROBLEMS} problems" in str(raised.value)


# --- the real validation front of the pipeline, one run for all value cases ---

@pytest.mark.slow
def test_data_gate_stops_the_run_on_bad_values(bad_inputs_validation):
    from components.data_gate.executor import DataAnomaliesError

    assert isinstance(bad_inputs_validation.error, DataAnomaliesError)
    states = {node: record.state for node, record in bad_inputs_validation.record.nodes.items()}
    assert states["ExampleValidator"] == "FAILED"
    assert states["StatisticsGen"] == "COMPLETE"
    assert bad_inputs_validation.lines(bad_data.CLEAN_SPLIT) == []  # the control split has no anomaly


@pytest.mark.slow
@pytest.mark.parametrize("case", bad_data.CASES, ids=[c.name for c in bad_data.CASES])
def test_data_gate_names_split_feature_and_problem(bad_inputs_validation, case):
    lines = bad_inputs_validation.lines(case.split)
    mine = [line for line in lines if line.startswith(f"{case.split} {case.feature}:")]
    assert len(mine) == 1 and case.expected in mine[0], lines


# --- whole `sparrow-tfx run`: the user's view ---

def _bad_run_dir(e2e_run, tmp_path, breaks):
    """A work dir whose serving directory holds e2e_run's model, and a copy of its data broken by breaks."""
    work_dir, data_root = str(tmp_path / "work"), str(tmp_path / "data")
    shutil.copytree(e2e_run.paths.serving_dir, configs.LocalPaths(work_dir).serving_dir)
    shutil.copytree(e2e_run.data_root, data_root)
    breaks(data_root)
    return work_dir, data_root


def _assert_nothing_served(work_dir, before):
    assert bad_data.tree_digest(configs.LocalPaths(work_dir).serving_dir) == before


@pytest.mark.e2e
def test_run_on_a_malformed_csv_stops_before_the_pipeline(e2e_run, tmp_path):
    def breaks(data_root):
        append_line(train_file(data_root), "1,2,3")

    work_dir, data_root = _bad_run_dir(e2e_run, tmp_path, breaks)
    before = bad_data.tree_digest(e2e_run.paths.serving_dir)
    lines = sum(1 for _ in open(train_file(data_root)))
    result = run_cli("run", "--data", data_root, "--work-dir", work_dir, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{train_file(data_root)}:{lines}: row has 3 cells, expected 27" in result.stderr
    assert not os.path.exists(configs.LocalPaths(work_dir).metadata_path)  # no component ran
    _assert_nothing_served(work_dir, before)


@pytest.mark.e2e
@pytest.mark.slow
def test_run_on_labels_outside_0_1_stops_at_the_data_gate(e2e_run, tmp_path):
    def breaks(data_root):
        bad_data.mutate_file(train_file(data_root),
                             lambda header, rows: (header, bad_data.with_cell(rows, 10, features.LABEL_KEY, "2")))

    work_dir, data_root = _bad_run_dir(e2e_run, tmp_path, breaks)
    before = bad_data.tree_digest(e2e_run.paths.serving_dir)
    result = run_cli("run", "--data", data_root, "--work-dir", work_dir, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "error: ExampleValidator failed: the examples break the schema" in result.stderr
    assert "train label: Out-of-range values (Unexpectedly large value: 2.)" in result.stderr
    assert "--allow-anomalies" in result.stderr
    record = metadata.latest_run(configs.LocalPaths(work_dir).metadata_path, configs.PIPELINE_NAME)
    assert record.node("ExampleValidator").state == "FAILED"
    assert not {"Transform", "Trainer", "Pusher"} & set(record.nodes)  # nothing downstream of the gate ran
    assert re.search(r"ExampleValidator\s+FAILED", result.stdout)
    _assert_nothing_served(work_dir, before)
