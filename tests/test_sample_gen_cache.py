"""SampleGen's cache run locally: unchanged raw files are served from it, changed ones (same directory, same
options) are read again. TFX's file-based driver fingerprints the files; compiled specs, which have no driver,
turn KFP's cache off for the task instead (tests/test_kubeflow_compile.py)."""
from __future__ import annotations

import os

import pytest

from tests.helpers.sample_gen_runs import run_sample_gen_pipeline as run_sample_gen

DATA_SIZE = 2000  # ratings: the smallest data SampleGen makes both splits of


@pytest.mark.slow
def test_changed_raw_files_are_not_served_from_cache(tmp_path):
    from pipeline.datasets import synthetic

    synthetic.generate(str(tmp_path / "data"), DATA_SIZE)
    raw_dir, work_dir = str(tmp_path / "data" / "raw"), str(tmp_path / "work")
    first = run_sample_gen(raw_dir, work_dir)
    assert [e["state"] for e in first] == ["COMPLETE"]

    unchanged = run_sample_gen(raw_dir, work_dir)
    assert [e["state"] for e in unchanged] == ["COMPLETE", "CACHED"]
    assert unchanged[1]["examples"] == first[0]["examples"]

    ratings = os.path.join(raw_dir, "ratings.csv")
    with open(ratings) as f:
        lines = f.readlines()
    with open(ratings, "w") as f:  # the same file name and directory, one rating fewer
        f.writelines(lines[:-1])
    changed = run_sample_gen(raw_dir, work_dir)
    assert [e["state"] for e in changed] == ["COMPLETE", "CACHED", "COMPLETE"]
    assert changed[2]["examples"] != first[0]["examples"]
    assert (first[0]["ratings_read"], changed[2]["ratings_read"]) == (len(lines) - 1, len(lines) - 2)  # a header
