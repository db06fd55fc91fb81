"""SampleGen's executor on tiny artifacts: ExampleGen's layout, the report, malformed rows. Real MovieLens data:
tests/test_sample_gen_e2e.py reads what the pipeline's SampleGen made of it."""
from __future__ import annotations

import datetime
import os

import pytest
import tensorflow_data_validation as tfdv
from tfx.types import artifact_utils

from components.sample_gen import executor, report, spec
from components.sample_gen.config import SampleGenConfig
from dataio import raw_rows
from models import schema
from pipeline.datasets import synthetic

GOOD_MOVIES = 'movieId,title,genres\n1,"American President, The (1995)",Comedy|Drama|Romance\n2,Heat (1995),Action\n'


def run_executor(raw_dir, out_dir, config: SampleGenConfig = SampleGenConfig()):
    return executor.run_standalone(str(raw_dir), str(out_dir), config)


def write_files(directory, ratings: str, movies: str = GOOD_MOVIES) -> str:
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "ratings.csv"), "w") as f:
        f.write(ratings)
    with open(os.path.join(directory, "movies.csv"), "w") as f:
        f.write(movies)
    return str(directory)


@pytest.fixture(scope="module")
def synthetic_output(tmp_path_factory):
    raw = tmp_path_factory.mktemp("raw")
    synthetic.write_movielens(synthetic.generate_world(3000, seed=11), str(raw))
    return run_executor(raw, tmp_path_factory.mktemp("examples"))


def test_output_has_example_gens_layout_and_properties(synthetic_output):
    examples = synthetic_output
    assert artifact_utils.decode_split_names(examples.split_names) == ["train", "eval"]
    assert examples.get_string_custom_property("payload_format") == "FORMAT_TF_EXAMPLE"
    assert examples.get_string_custom_property("file_format") == "tfrecords_gzip"
    for split in spec.SPLITS:
        files = os.listdir(artifact_utils.get_split_uri([examples], split))
        assert files and all(f.startswith("data_tfrecord-") and f.endswith(".gz") for f in files)


def test_report_accounts_for_every_rating(synthetic_output):
    examples = synthetic_output
    counts = report.load(examples.uri)
    for name, value in report.counts(counts).items():
        assert examples.get_int_custom_property(name) == value
    skipped = sum(v for k, v in counts.items() if k.startswith(report.SKIPPED))
    assert counts["ratings_read"] == counts["ratings_valid"] > 2000 and report.rejected_total(counts) == 0
    assert counts["samples_train"] + counts["samples_eval"] + skipped == counts["ratings_valid"]
    assert 0.15 < counts["samples_eval"] / (counts["samples_train"] + counts["samples_eval"]) < 0.25
    assert examples.get_string_custom_property("features_mode") == "point_in_time"


def test_examples_validate_against_the_committed_schema(synthetic_output):
    committed = tfdv.load_schema_text(schema.SCHEMA_PATH)
    for split in spec.SPLITS:
        statistics = tfdv.generate_statistics_from_tfrecord(
            os.path.join(artifact_utils.get_split_uri([synthetic_output], split), "*.gz"))
        anomalies = tfdv.validate_statistics(statistics, committed, environment=schema.TRAINING)
        assert not anomalies.anomaly_info, (split, anomalies)


# Line 1 is the header; lines 2-9 are good ratings of users 1-2 (times in 2001), the others are malformed.
RATINGS = """userId,movieId,rating,timestamp
1,1,4.0,1000000100
1,2,3.0,1000000200
1,1,2.0,1000000300
2,2,5.0,1000000100
2,1,1.5,1000000200
2,2,4.5,1000000300
1,2,4.0,1000000400
2,1,4.0,1000000400
1,2,7.0,1000000500
x,1,4.0,1000000500
1,1,4.0
3,99,4.0,1000000500
2,1,4.0,1000000400
"""
BAD_MOVIES = GOOD_MOVIES + "2,Heat again (1995),Action\nabc,Broken,Drama\n"


def test_malformed_rows_are_counted_with_file_and_line(tmp_path):
    raw = write_files(tmp_path / "raw", RATINGS, BAD_MOVIES)
    examples = run_executor(raw, tmp_path / "out", SampleGenConfig(max_rejected_rows=10))
    counts = report.load(examples.uri)
    ratings_path, movies_path = os.path.join(raw, "ratings.csv"), os.path.join(raw, "movies.csv")
    assert counts["first_rejected_rows"] == [
        f"{movies_path}:4: movieId 2 is already defined at {movies_path}:3",
        f"{movies_path}:5: movieId 'abc' is not an integer",
        f"{ratings_path}:10: rating 7.0 is outside [0.5, 5.0]",
        f"{ratings_path}:11: userId 'x' is not an integer",
        f"{ratings_path}:12: expected 4 columns (userId,movieId,rating,timestamp), found 3: '1,1,4.0'",
        f"{ratings_path}:13: movieId 99 is not in movies.csv",
        f"{ratings_path}:14: userId 2, movieId 1 and timestamp 1000000400 repeat {ratings_path}:9",
    ]
    assert {k: v for k, v in counts.items() if k.startswith(report.REJECTED)} == {
        "rejected_duplicate_movie": 1, "rejected_bad_number": 2, "rejected_rating_out_of_range": 1,
        "rejected_wrong_column_count": 1, "rejected_unknown_movie": 1, "rejected_duplicate_rating": 1}
    assert counts["ratings_read"] == 13 and counts["movies_read"] == 4 and counts["ratings_valid"] == 8
    with open(os.path.join(examples.uri, spec.REJECTED_ROWS_DIR, os.listdir(
            os.path.join(examples.uri, spec.REJECTED_ROWS_DIR))[0])) as f:
        assert sorted(f.read().splitlines()) == sorted(counts["first_rejected_rows"])


@pytest.mark.parametrize("shuffle_shards", [1, 3])
def test_any_malformed_row_fails_the_run_by_default(tmp_path, shuffle_shards):
    raw = write_files(tmp_path / "raw", RATINGS.replace("x,1,4.0,1000000500\n", ""), GOOD_MOVIES)
    with pytest.raises(ValueError) as failure:
        run_executor(raw, tmp_path / "out", SampleGenConfig(shuffle_shards=shuffle_shards))
    ratings = os.path.join(raw, "ratings.csv")
    assert str(failure.value) == (
        "SampleGen: 4 malformed input rows (duplicate_rating: 1, rating_out_of_range: 1, unknown_movie: 1, "
        "wrong_column_count: 1), more than max_rejected_rows=0; the first:\n"
        f"  {ratings}:10: rating 7.0 is outside [0.5, 5.0]\n"
        f"  {ratings}:11: expected 4 columns (userId,movieId,rating,timestamp), found 3: '1,1,4.0'\n"
        f"  {ratings}:12: movieId 99 is not in movies.csv\n"
        f"  {ratings}:13: userId 2, movieId 1 and timestamp 1000000400 repeat {ratings}:9\n"
        f"all of them: {tmp_path / 'out'}-{spec.REJECTED_ROWS_DIR}\n"
        "Fix the rows, or let up to N through with --sample-option max_rejected_rows=N (they are then left out and "
        "counted)")
    kept = tmp_path / f"out-{spec.REJECTED_ROWS_DIR}"  # beside the artifact, which TFX deletes after a failure
    assert sorted(line for name in os.listdir(kept) for line in (kept / name).read_text().splitlines()) == [
        line.strip() for line in str(failure.value).splitlines()[1:5]]
    assert not os.path.exists(tmp_path / "out" / spec.WORK_DIR)  # the intermediates, also of a failed run


def test_implausible_timestamps_are_malformed_rows(tmp_path):
    ratings = RATINGS.split("1,2,7.0")[0] + "1,1,5.0,1000000600000\n2,2,1.0,788918399\n"
    raw = write_files(tmp_path / "raw", ratings)
    counts = report.load(run_executor(raw, tmp_path / "out", SampleGenConfig(max_rejected_rows=2)).uri)
    path = os.path.join(raw, "ratings.csv")
    assert counts["first_rejected_rows"] == [
        f"{path}:10: timestamp 1000000600000 (year 33658) is after the plausible range 1995-01-01..{_tomorrow()} "
        "(milliseconds? ratings.csv has seconds since 1970); widen it with --sample-option "
        "earliest_rating_date=YYYY-MM-DD or latest_rating_days_ahead=DAYS",
        f"{path}:11: timestamp 788918399 (year 1994) is before the plausible range 1995-01-01..{_tomorrow()}; "
        "widen it with --sample-option earliest_rating_date=YYYY-MM-DD or latest_rating_days_ahead=DAYS"]
    assert counts["rejected_implausible_timestamp"] == 2 and counts["ratings_valid"] == 8
    # The option the message names lets the 1994 rating through.
    widened = report.load(run_executor(raw, tmp_path / "widened", SampleGenConfig(
        max_rejected_rows=1, earliest_rating_date="1990-01-01")).uri)
    assert widened["rejected_implausible_timestamp"] == 1 and widened["ratings_valid"] == 9


def _tomorrow() -> str:
    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)).strftime("%Y-%m-%d")


def test_timestamp_range_is_configurable():
    plausible = raw_rows.TimestampRange.of("1970-01-01", 0, now=1000)
    assert plausible == (0, 1000) and raw_rows.parse_rating("1,2,4.0,1000", plausible).timestamp == 1000
    with pytest.raises(raw_rows.BadRow, match="timestamp 1001 .* is after"):
        raw_rows.parse_rating("1,2,4.0,1001", plausible)
    with pytest.raises(ValueError, match="earliest_rating_date must be a date YYYY-MM-DD, not '95-1-1'"):
        SampleGenConfig(earliest_rating_date="95-1-1")


def test_wrong_header_or_missing_file_stops_with_the_path(tmp_path):
    raw = write_files(tmp_path / "raw", "user,movie,rating,time\n1,1,4.0,100\n")
    with pytest.raises(Exception, match=r"ratings\.csv:1: expected the header 'userId,movieId,rating,timestamp'"):
        run_executor(raw, tmp_path / "out")
    os.remove(os.path.join(raw, "movies.csv"))
    with pytest.raises(FileNotFoundError, match=r"no movies file matches .*movies\.csv"):
        run_executor(raw, tmp_path / "out2")


def test_options_are_checked_with_clear_messages():
    with pytest.raises(ValueError, match=r"eval_fraction must be in \(0, 1\), not 1.5.*features_mode must be"):
        SampleGenConfig(eval_fraction=1.5, features_mode="future")
    with pytest.raises(ValueError, match="min_user_history must be of type int, not 'many'"):
        SampleGenConfig(min_user_history="many")
    assert SampleGenConfig(eval_fraction=1e-1 * 3).eval_fraction == pytest.approx(0.3)
