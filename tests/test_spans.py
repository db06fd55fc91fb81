"""Ratings as span files (ratings-{SPAN}.csv, TFX's {SPAN} convention) under the data root: which files are read
(every span, a rolling window, what SampleGen recorded), the layouts refused, SampleGen, FeatureSnapshot and the
CLI on spans, and a new span making a new SampleGen execution while no new span is served from cache."""
from __future__ import annotations

import dataclasses
import os
import shutil

import pytest
from tfx.types import artifact_utils

from components.sample_gen import executor as sample_gen_executor
from components.sample_gen import report, spec
from components.sample_gen.config import SampleGenConfig
from dataio import raw_rows
from dataio.examples import read_samples
from pipeline.datasets import synthetic
from recommender import snapshot
from tests.conftest import run_cli
from tests.helpers.executors import run_snapshot
from tests.helpers.sample_gen_runs import run_sample_gen_pipeline
from tests.helpers.samples import sample_key

SPAN_DAYS = 60
DATA_SIZE = 3000


def _paths(root, *names):
    return [os.path.join(root, name) for name in names]


def test_spans_are_read_in_span_order_not_name_order():
    found = _paths("/d", "ratings-10.csv", "ratings-9.csv", "ratings-0011.csv")
    files = raw_rows.ratings_files("/d", found)
    assert files.paths == tuple(_paths("/d", "ratings-9.csv", "ratings-10.csv", "ratings-0011.csv"))
    assert (files.spans, files.newest, files.present, files.missing()) == ((9, 10, 11), 11, 3, ())
    assert files.describe() == "spans 9-11 (3 of 3 span files)"


def test_ratings_csv_alone_is_span_0_as_tfx_records_an_input_without_spans():
    files = raw_rows.ratings_files("/d", _paths("/d", "ratings.csv"))
    assert (files.paths, files.spans, files.newest, files.describe()) == (("/d/ratings.csv",), (), 0, "ratings.csv")


def test_a_rolling_window_reads_the_newest_spans_present():
    found = _paths("/d", "ratings-1.csv", "ratings-2.csv", "ratings-4.csv", "ratings-5.csv")
    files = raw_rows.ratings_files("/d", found, span_window=3)
    assert files.spans == (2, 4, 5) and files.present == 4  # span files counted, as TFX's LatestSpan(n)
    assert files.describe() == "spans 2,4-5 (3 of 4 span files, the newest 3); missing: 3"
    assert raw_rows.ratings_files("/d", found, span_window=10).spans == (1, 2, 4, 5)


def test_recorded_spans_are_read_exactly_and_a_vanished_one_is_an_error():
    found = _paths("/d", "ratings-1.csv", "ratings-2.csv", "ratings-3.csv")
    assert raw_rows.ratings_files("/d", found, spans=(1, 2)).paths == tuple(found[:2])  # span 3 arrived since
    with pytest.raises(ValueError, match=r"span files 4 \(ratings-\{SPAN\}.csv\) that SampleGen read are no longer "
                                         r"in /d"):
        raw_rows.ratings_files("/d", found, spans=(3, 4))


@pytest.mark.parametrize("names, message", [
    (["ratings.csv", "ratings-0001.csv", "ratings-0002.csv"],
     r"/d holds both ratings.csv and span files ratings-\{SPAN\}.csv \(ratings-0001.csv .. ratings-0002.csv, 2 "
     r"files\): the ratings are one file or spans, not both; move ratings.csv's ratings into a span numbered before "
     r"the first, or remove the span files"),
    (["ratings-0001.csv", "ratings-2026-01-02.csv"],
     r"/d/ratings-2026-01-02.csv is neither ratings.csv nor a span file ratings-\{SPAN\}.csv \(SPAN an integer, "
     r"e.g. ratings-0001.csv or ratings-20260101.csv\): rename it, or move it out of /d"),
    (["ratings_old.csv", "ratings.csv"], r"/d/ratings_old.csv is neither ratings.csv nor a span file"),
    (["ratings-1.csv", "ratings-01.csv"], r"/d/ratings-01.csv and /d/ratings-1.csv are both span 1: keep one"),
    ([], r"no ratings in /d: a data root holds ratings.csv or span files ratings-\{SPAN\}.csv"),
])
def test_a_data_root_in_no_layout_says_what_to_do(names, message):
    with pytest.raises(ValueError, match=message):
        raw_rows.ratings_files("/d", _paths("/d", *names))


def test_missing_spans_follow_the_spans_step_and_the_calendar():
    assert raw_rows.missing_spans((1, 2, 4, 7)) == (3, 5, 6)
    assert raw_rows.missing_spans((10, 20, 40)) == (30,)  # spans 10 apart
    assert raw_rows.missing_spans((20260130, 20260131, 20260201)) == ()  # day numbers
    assert raw_rows.missing_spans((20260129, 20260130, 20260202)) == (20260131, 20260201)
    assert raw_rows.missing_spans((20260101, 20260108, 20260122)) == (20260115,)  # weekly
    for spans in [(1, 2, 3, 5), (7,), (20260130, 20260131, 20260201, 20260203), (3, 5, 7)]:
        assert raw_rows.parse_span_ranges(raw_rows.span_ranges(spans)) == spans
    assert raw_rows.span_ranges((20260130, 20260131, 20260201, 20260203)) == "20260130-20260201,20260203"


def test_tfx_resolves_the_same_newest_span(tmp_path):
    """TFX's own {SPAN} matching (the FileBasedDriver's) on the same files: the same newest span and pattern."""
    from tfx.components.example_gen import utils
    from tfx.proto import example_gen_pb2

    for name in ("ratings-0009.csv", "ratings-0010.csv", "ratings-0002.csv"):
        (tmp_path / name).write_text("userId,movieId,rating,timestamp\n")
    split = example_gen_pb2.Input.Split(name="ratings", pattern=raw_rows.RATINGS_SPAN_PATTERN)
    _, span, version = utils.calculate_splits_fingerprint_span_and_version(str(tmp_path), [split])
    ours = raw_rows.local_ratings_files(str(tmp_path))
    assert (span, version) == (ours.newest, None) == (10, None)
    assert split.pattern == os.path.basename(ours.paths[-1])  # TFX filled {SPAN} with the newest file's token


@pytest.fixture(scope="module")
def world():
    return synthetic.generate_world(DATA_SIZE, seed=11)


@pytest.fixture(scope="module")
def span_dirs(world, tmp_path_factory):
    """The same ratings as ratings.csv and as span files of SPAN_DAYS days."""
    whole, spans = (str(tmp_path_factory.mktemp(name)) for name in ("whole", "spans"))
    synthetic.write_movielens(world, whole)
    synthetic.write_movielens(world, spans, span_days=SPAN_DAYS)
    return whole, spans


def test_the_generator_writes_every_rating_once_in_its_period(world, span_dirs):
    _, spans = span_dirs
    files = raw_rows.local_ratings_files(spans)
    assert len(files.spans) >= 4 and files.spans == tuple(range(1, len(files.spans) + 1))  # no gap
    first_day = min(r.timestamp for r in world.ratings) // 86400 * 86400
    read = []
    for span, path in zip(files.spans, files.paths):
        with open(path) as f:
            rows = [raw_rows.parse_rating(line.rstrip("\n")) for line in list(f)[1:]]
        assert all((r.timestamp - first_day) // (SPAN_DAYS * 86400) + 1 == span for r in rows)
        read += rows
    assert sorted(r.astuple() for r in read) == sorted(r.astuple() for r in world.ratings)


def _samples(examples):
    return {split: sorted(read_samples(artifact_utils.get_split_uri([examples], split)), key=sample_key)
            for split in spec.SPLITS}


def _file_ratings(directory: str):
    with open(os.path.join(directory, raw_rows.RATINGS_FILE)) as f:
        return [raw_rows.parse_rating(line.rstrip("\n")) for line in list(f)[1:]]


def _window_dir(spans_dir: str, out_dir: str, window: int) -> str:
    """The newest `window` span files of spans_dir, concatenated into one ratings.csv."""
    os.makedirs(out_dir)
    shutil.copy(os.path.join(spans_dir, raw_rows.MOVIES_FILE), out_dir)
    with open(os.path.join(out_dir, raw_rows.RATINGS_FILE), "w") as out:
        out.write(",".join(raw_rows.RATINGS_HEADER) + "\n")
        for path in raw_rows.local_ratings_files(spans_dir, window).paths:
            with open(path) as f:
                out.writelines(list(f)[1:])
    return out_dir


@pytest.mark.slow
@pytest.mark.parametrize("config", [SampleGenConfig(), SampleGenConfig(span_window=3),
                                    SampleGenConfig(as_of="2000-06-01")], ids=["every span", "window", "as-of"])
def test_sample_gen_on_spans_makes_the_samples_of_their_ratings_in_one_file(span_dirs, tmp_path, config):
    """SampleGen over span files (every span, the newest 3, or as of a time inside them) writes the very samples
    of SampleGen over the same ratings in one ratings.csv, and records the spans on its Examples."""
    whole, spans = span_dirs
    if config.span_window:
        whole = _window_dir(spans, str(tmp_path / "window"), config.span_window)
    first, newest = raw_rows.local_ratings_files(spans).spans[0], raw_rows.local_ratings_files(spans).newest
    if config.as_of:  # a time in the second half of the ratings
        times = sorted(r.timestamp for r in _file_ratings(whole))
        config = dataclasses.replace(config, as_of=raw_rows.utc_time(times[len(times) * 3 // 4]))
    from_spans = sample_gen_executor.run_standalone(spans, str(tmp_path / "from-spans"), config)
    from_file = sample_gen_executor.run_standalone(whole, str(tmp_path / "from-file"),
                                                   dataclasses.replace(config, span_window=0))
    assert _samples(from_spans) == _samples(from_file)
    counts, file_counts = report.load(from_spans.uri), report.load(from_file.uri)
    assert counts[report.RATINGS_READ] == file_counts[report.RATINGS_READ]
    assert counts[report.RATINGS_AFTER_AS_OF] == file_counts[report.RATINGS_AFTER_AS_OF]
    assert (counts[report.RATINGS_AFTER_AS_OF] > 0) == bool(config.as_of)
    read = range(newest - config.span_window + 1 if config.span_window else first, newest + 1)
    assert from_spans.span == from_spans.get_int_custom_property(spec.SPAN_PROPERTY) == newest
    assert from_spans.get_string_custom_property(spec.SPANS_PROPERTY) == f"{read[0]}-{read[-1]}"
    assert from_file.get_int_custom_property(spec.SPAN_PROPERTY) == 0
    assert not from_file.has_custom_property(spec.SPANS_PROPERTY)
    line = report.summary_line({k: from_spans.get_custom_property(k)
                                for k in from_spans.mlmd_artifact.custom_properties})
    total = len(raw_rows.local_ratings_files(spans).spans)
    window = f", the newest {len(read)})" if config.span_window else ")"
    assert line.endswith(f"; ratings spans {read[0]}-{read[-1]} ({len(read)} of {total} span files{window}")


@pytest.mark.slow
def test_a_malformed_row_in_a_span_file_names_the_file_and_line(span_dirs, tmp_path):
    _, spans = span_dirs
    bad = str(tmp_path / "bad")
    shutil.copytree(spans, bad)
    path = raw_rows.local_ratings_files(bad).paths[1]
    with open(path) as f:
        lines = f.readlines()
    lines[3] = lines[3].replace(",", ";", 1)
    with open(path, "w") as f:
        f.writelines(lines)
    with pytest.raises(ValueError, match=rf"SampleGen: 1 malformed input rows \(wrong_column_count: 1\), more than "
                                         rf"max_rejected_rows=0; the first:\n  {path}:4: expected 4 columns"):
        sample_gen_executor.run_standalone(bad, str(tmp_path / "out"))


@pytest.mark.slow
def test_a_data_root_with_both_layouts_fails_sample_gen_naming_both(span_dirs, tmp_path):
    whole, spans = span_dirs
    both = str(tmp_path / "both")
    shutil.copytree(spans, both)
    shutil.copy(os.path.join(whole, raw_rows.RATINGS_FILE), both)
    with pytest.raises(ValueError, match=rf"SampleGen: {both} holds both ratings.csv and span files "):
        sample_gen_executor.run_standalone(both, str(tmp_path / "out"))


@pytest.mark.slow
def test_feature_snapshot_reads_the_spans_sample_gen_read(span_dirs, tmp_path):
    """With a window, the snapshot holds the ratings of the window's spans only; a span that arrives after
    SampleGen ran is not read by the snapshot of its examples."""
    _, spans = span_dirs
    root = str(tmp_path / "root")
    shutil.copytree(spans, root)
    files = raw_rows.local_ratings_files(root)
    newest = files.paths[-1]
    os.rename(newest, newest + ".later")  # not arrived yet
    examples = sample_gen_executor.run_standalone(root, str(tmp_path / "examples"), SampleGenConfig(span_window=2))
    os.rename(newest + ".later", newest)  # arrives while the pipeline runs
    output = run_snapshot(examples, str(tmp_path / "snapshot"), input_base=root,
                          ratings_pattern=raw_rows.RATINGS_GLOB)
    window = files.paths[-3:-1]
    expected = set()
    for path in window:
        with open(path) as f:
            expected |= {raw_rows.parse_rating(line.rstrip("\n")).key for line in list(f)[1:]}
    assert output.get_int_custom_property(snapshot.RATINGS) == len(expected) > 0
    manifest = snapshot.load_manifest(output.uri)
    assert manifest["ratings_source"] == (f"{os.path.join(root, raw_rows.RATINGS_SPAN_PATTERN)} spans "
                                          f"{files.spans[-3]}-{files.spans[-2]}")


def _cli_root(tmp_path, names):
    root = tmp_path / "ml"
    root.mkdir()
    (root / "movies.csv").write_text("movieId,title,genres\n1,A (1999),Drama\n")
    for name, times in names.items():
        (root / name).write_text("userId,movieId,rating,timestamp\n" + "".join(
            f"{i + 1},1,4.0,{t}\n" for i, t in enumerate(times)))
    return str(root)


@pytest.mark.parametrize("files, args, message", [
    ({"ratings.csv": [1000000000], "ratings-0001.csv": [1000000000]}, [],
     "error: --movielens {root}: {root} holds both ratings.csv and span files ratings-{SPAN}.csv (ratings-0001.csv, "
     "1 files): the ratings are one file or spans, not both"),
    ({"ratings-0001.csv": [1000000000], "ratings-latest.csv": [1000000000]}, [],
     "error: --movielens {root}: {root}/ratings-latest.csv is neither ratings.csv nor a span file"),
    ({"ratings-0001.csv": [1000000000], "ratings-0002.csv": [1005000000]}, ["--as-of", "2001-01-01"],
     "error: --as-of 2001-01-01 is not after the first rating of {root}/ratings-{SPAN}.csv spans 1-2 (2 of 2 span "
     "files) (2001-09-09T01:46:40 .. 2001-11-05T22:40:00)"),
    ({"ratings-0001.csv": [1000000000], "ratings-0002.csv": [1005000000]},
     ["--as-of", "2001-10-01", "--sample-option", "span_window=1"],
     "error: --as-of 2001-10-01 is not after the first rating of {root}/ratings-{SPAN}.csv spans 2 (1 of 2 span "
     "files, the newest 1)"),
    ({"ratings-0001.csv": [1000000000], "ratings-0002.csv": [1005000000]}, ["--as-of", "2002-01-01"],
     "error: --as-of 2002-01-01 is after the last rating of {root}/ratings-{SPAN}.csv spans 1-2"),
    ({"ratings-0001.csv": [1000000000]}, ["--sample-option", "span_window=-1"],
     "error: SampleGen: span_window must be >= 0 (0: every span), not -1"),
])
@pytest.mark.slow
def test_cli_refuses_a_bad_span_layout_before_tfx_loads(tmp_path, files, args, message):
    root = _cli_root(tmp_path, files)
    result = run_cli("run", "--movielens", root, "--work-dir", str(tmp_path / "w"), *args, check=False)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines()[-1].startswith(message.replace("{root}", root)), result.stderr
    assert not (tmp_path / "w").exists()


def _sample_gen_state(runs):
    return [run["state"] for run in runs]


@pytest.mark.slow
def test_a_new_span_makes_a_new_sample_gen_execution_and_none_is_a_cache_hit(span_dirs, tmp_path):
    """SampleGen in a real local pipeline (BeamDagRunner, ML Metadata): TFX's driver fingerprints every ratings
    file, so a new span is a new execution with the span recorded, and no new span a cached one."""
    _, spans = span_dirs
    root, work = str(tmp_path / "root"), str(tmp_path / "work")
    shutil.copytree(spans, root)
    files = raw_rows.local_ratings_files(root)
    os.rename(files.paths[-1], str(tmp_path / "later.csv"))  # the newest span has not arrived yet

    first = run_sample_gen_pipeline(root, work)
    assert _sample_gen_state(first) == ["COMPLETE"]
    assert (first[0]["span"], first[0]["spans"]) == (files.spans[-2], f"1-{files.spans[-2]}")

    unchanged = run_sample_gen_pipeline(root, work)
    assert _sample_gen_state(unchanged) == ["COMPLETE", "CACHED"]
    assert unchanged[1]["examples"] == first[0]["examples"]

    os.rename(str(tmp_path / "later.csv"), files.paths[-1])  # the new span arrives
    grown = run_sample_gen_pipeline(root, work)
    assert _sample_gen_state(grown) == ["COMPLETE", "CACHED", "COMPLETE"]
    assert grown[2]["examples"] != first[0]["examples"]
    assert (grown[2]["span"], grown[2]["spans"]) == (files.newest, f"1-{files.newest}")
    with open(files.paths[-1]) as f:
        assert grown[2]["ratings_read"] == first[0]["ratings_read"] + len(f.readlines()) - 1

    again = run_sample_gen_pipeline(root, work)
    assert _sample_gen_state(again) == ["COMPLETE", "CACHED", "COMPLETE", "CACHED"]
    assert again[3]["examples"] == grown[2]["examples"]
