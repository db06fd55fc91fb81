"""SampleGen's Beam job against the brute force of tests/helpers/samples.py: point in time, leaky mode, splits."""
from __future__ import annotations

import collections
import dataclasses
import datetime
import math
import os
from typing import Dict, List, Sequence

import apache_beam as beam
import pytest
import tensorflow as tf
from apache_beam.options.pipeline_options import PipelineOptions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.sample_gen import beam_samples, report, spec
from components.sample_gen import negatives as negatives_lib
from components.sample_gen.config import LEAKY, POINT_IN_TIME, SPLIT_USER_LAST, SampleGenConfig
from dataio.examples import read_samples
from dataio.shuffle_shards import RATINGS_BYTES_PER_SHARD
from models import features, sample_features
from pipeline.datasets import synthetic
from tests.helpers.samples import assert_same_samples, brute_force, brute_force_sample, sample_key

Rating, Movie = sample_features.Rating, sample_features.Movie
HALF_STARS = tuple(x / 2 for x in range(1, 11))
T0 = 946684800  # 2000-01-01: raw rating times must be plausible (raw_rows.TimestampRange)


def write_raw(directory, movies: Dict[int, Movie], ratings: Sequence[Rating]) -> str:
    titles = {m.movie_id: f"Movie {m.movie_id}" + (f" ({m.release_year})" if m.release_year else "")
              for m in movies.values()}
    synthetic.write_movielens(synthetic.World(movies, titles, list(ratings)), str(directory))
    return str(directory)


def run_sample_gen(raw_dir, out_dir, config: SampleGenConfig = SampleGenConfig()):
    """The Beam job on the direct runner; returns ({split: samples}, report)."""
    split_dirs = {split: str(out_dir / split) for split in spec.SPLITS}
    counts = beam_samples.run(beam.Pipeline, [f"{raw_dir}/ratings.csv"], [f"{raw_dir}/movies.csv"], config,
                              split_dirs, str(out_dir))
    return {split: list(read_samples(d)) for split, d in split_dirs.items()}, counts


def real_and_negatives(samples: List[dict]):
    negative = [s for s in samples if s[features.RATED_KEY] == 0]
    assert all(s[features.RATED_KEY] is None for s in samples if s not in negative)
    return [s for s in samples if s[features.RATED_KEY] is None], negative


def assert_negatives_point_in_time(negatives: List[dict], ratings: Sequence[Rating], movies: Dict[int, Movie],
                                   train_before: Dict[int, int]) -> None:
    """The leakage test: a negative at time t is a movie released by t's year that its user had not rated at or
    before t, in train (before `train_before` of its user), and every feature is the brute force's over the ratings
    strictly before t, the only ratings it is given."""
    for sample in negatives:
        user, movie, t = sample_key(sample)
        assert not any(r.user_id == user and r.movie_id == movie and r.timestamp <= t for r in ratings)
        year = movies[movie].release_year
        assert year is None or year <= datetime.datetime.fromtimestamp(t, datetime.timezone.utc).year
        assert t < train_before[user]
        expected = brute_force_sample(Rating(user, movie, math.nan, t), [r for r in ratings if r.timestamp < t],
                                      movies, leaky=False)
        expected.update({features.RATING_KEY: None, features.LABEL_KEY: 0, features.RATED_KEY: 0})
        assert_same_samples([sample], {sample_key(sample): expected})


@st.composite
def small_world(draw, offset: int):
    """A few users and movies (ids above `offset`), timestamps from a narrow range so that ties are common."""
    movies = {}
    for movie_id in range(offset + 1, offset + draw(st.integers(1, 5)) + 1):
        genres = draw(st.lists(st.sampled_from(features.GENRES[:6]), max_size=3, unique=True))
        year = draw(st.one_of(st.none(), st.integers(1920, 2015)))
        movies[movie_id] = Movie(movie_id, year, tuple(genres))
    rows = draw(st.lists(st.tuples(st.integers(offset + 1, offset + 4), st.sampled_from(sorted(movies)),
                                   st.sampled_from(HALF_STARS), st.integers(T0, T0 + 12)),
                         max_size=30, unique_by=lambda t: (t[0], t[1], t[3])))
    return movies, [Rating(u, m, s, t) for u, m, s, t in rows]


@st.composite
def raw_data(draw):
    """Several independent small worlds (disjoint ids) in one input: one Beam run checks them all."""
    movies, ratings = {}, []
    for world in range(draw(st.integers(1, 8))):
        world_movies, world_ratings = draw(small_world(offset=10 * world))
        movies.update(world_movies)
        ratings += world_ratings
    return movies, ratings


@pytest.mark.slow
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=raw_data(), min_user_history=st.integers(0, 3), features_mode=st.sampled_from([POINT_IN_TIME, LEAKY]),
       shuffle_shards=st.sampled_from([1, 3]), negatives_per_rating=st.sampled_from([0, 3]))
def test_every_sample_equals_the_brute_force_over_earlier_ratings(tmp_path_factory, data, min_user_history,
                                                                  features_mode, shuffle_shards,
                                                                  negatives_per_rating):
    movies, ratings = data
    config = SampleGenConfig(min_user_history=min_user_history, features_mode=features_mode,
                             shuffle_shards=shuffle_shards, negatives_per_rating=negatives_per_rating)
    raw_dir = write_raw(tmp_path_factory.mktemp("raw"), movies, ratings)
    samples, counts = run_sample_gen(raw_dir, tmp_path_factory.mktemp("out"), config)
    train, negatives = real_and_negatives(samples[spec.TRAIN_SPLIT])
    assert_same_samples(train + samples[spec.EVAL_SPLIT], brute_force(ratings, movies, config))
    assert counts[report.NEGATIVES_TRAIN] == len(negatives)
    assert bool(negatives) <= bool(negatives_per_rating)
    if features_mode == POINT_IN_TIME:
        cutoff = counts.get("eval_cutoff_timestamp")
        assert_negatives_point_in_time(negatives, ratings, movies, collections.defaultdict(lambda: cutoff))
    # Every valid rating is a sample or a counted skip.
    skipped = sum(v for k, v in report.counts(counts).items() if k.startswith(report.SKIPPED))
    assert counts["ratings_read"] == counts["ratings_valid"] == len(ratings)
    assert counts["samples_train"] + counts["samples_eval"] + skipped == len(ratings)
    # The cutoff is the exact quantile (sharded or not), so every run splits the same ratings the same way.
    times = sorted(r.timestamp for r in ratings)
    expected = times[round((1 - config.eval_fraction) * (len(times) - 1))] if times else 0
    assert counts["eval_cutoff_timestamp"] == expected
    if samples[spec.EVAL_SPLIT]:
        cutoff = counts["eval_cutoff_timestamp"]
        assert all(s["timestamp"] < cutoff for s in samples[spec.TRAIN_SPLIT])  # negatives too
        assert all(s["timestamp"] >= cutoff for s in samples[spec.EVAL_SPLIT])


def test_the_user_window_keeps_the_last_100_earlier_ratings(tmp_path):
    # One user rates 130 movies, several at the same second; the window and its tie order matter here.
    movies = {m: Movie(m, 1950 + m % 60, (features.GENRES[m % 7],)) for m in range(1, 131)}
    ratings = [Rating(1, m, HALF_STARS[(m * 7) % 10], T0 + m // 3) for m in range(1, 131)]
    ratings += [Rating(2, m, 4.0, T0 + 50) for m in range(1, 131, 9)]
    samples, _ = run_sample_gen(write_raw(tmp_path / "raw", movies, ratings), tmp_path / "out")
    config = SampleGenConfig()
    assert_same_samples(samples[spec.TRAIN_SPLIT] + samples[spec.EVAL_SPLIT], brute_force(ratings, movies, config))
    assert max(s["userRatingCount"] for s in samples[spec.TRAIN_SPLIT] + samples[spec.EVAL_SPLIT]) == 100


@pytest.fixture(scope="module")
def world():
    return synthetic.generate_world(1500, seed=5)


def _later_ratings(world: synthetic.World) -> List[Rating]:
    """New ratings after every existing one, by existing users of existing movies (none repeats a pair)."""
    end = max(r.timestamp for r in world.ratings)
    rated = {(r.user_id, r.movie_id) for r in world.ratings}
    users = sorted({r.user_id for r in world.ratings})
    new = [Rating(u, m, HALF_STARS[(u + m) % 10], end + 100 + i)
           for i, (u, m) in enumerate((u, m) for u in users for m in sorted(world.movies)[:40])
           if (u, m) not in rated]
    return new[:400]


@pytest.mark.parametrize("features_mode", [POINT_IN_TIME, LEAKY])
def test_appending_later_ratings_changes_no_feature_unless_leaky(tmp_path, world, features_mode):
    config = SampleGenConfig(features_mode=features_mode)
    later = _later_ratings(world)
    before, _ = run_sample_gen(write_raw(tmp_path / "raw", world.movies, world.ratings), tmp_path / "out", config)
    after, _ = run_sample_gen(write_raw(tmp_path / "raw2", world.movies, world.ratings + later),
                              tmp_path / "out2", config)
    after_by_key = {sample_key(s): s for split in after.values() for s in split}
    old = [s for split in before.values() for s in split]
    changed = [s for s in old if s != after_by_key[sample_key(s)]]
    if features_mode == POINT_IN_TIME:
        assert old and not changed
    else:  # the test can fail: all-time statistics of the movies rated later change
        assert changed == [s for s in old if s["movieId"] in {r.movie_id for r in later}]
        assert all(s["movieRatingCount"] < after_by_key[sample_key(s)]["movieRatingCount"] for s in changed)


@pytest.mark.parametrize("split_mode", ["global_time", SPLIT_USER_LAST])
def test_as_of_reads_the_ratings_before_it_only_as_if_it_were_now(tmp_path, world, split_mode):
    """The same samples and split as SampleGen over the file cut at the as-of time: nothing later is read."""
    later = _later_ratings(world)
    as_of = max(r.timestamp for r in world.ratings) + 1
    as_of_text = datetime.datetime.fromtimestamp(as_of, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    config = SampleGenConfig(split_mode=split_mode)
    cut, cut_report = run_sample_gen(write_raw(tmp_path / "cut", world.movies, world.ratings), tmp_path / "out",
                                     config)
    grown, grown_report = run_sample_gen(write_raw(tmp_path / "grown", world.movies, world.ratings + later),
                                         tmp_path / "out2", dataclasses.replace(config, as_of=as_of_text))
    assert grown == cut
    assert grown_report[report.RATINGS_AFTER_AS_OF] == len(later)
    assert grown_report[report.RATINGS_VALID] == cut_report[report.RATINGS_VALID] == len(world.ratings)
    line = report.summary_line({**grown_report, "features_mode": POINT_IN_TIME, "split_mode": split_mode,
                                "as_of": as_of_text})
    assert f"+ 0 rejected + {len(later):,} at or after the as-of time {as_of_text}" in line


def test_as_of_takes_a_day_or_a_minute_in_utc_and_names_the_formats():
    assert SampleGenConfig(as_of="2016-03-22").as_of == "2016-03-22"
    assert SampleGenConfig(as_of="2016-03-22T10:30").as_of == "2016-03-22T10:30"
    with pytest.raises(ValueError, match=r"as_of: '22/03/2016' is not a time YYYY-MM-DD, YYYY-MM-DDTHH:MM"):
        SampleGenConfig(as_of="22/03/2016")


def test_user_last_split_puts_each_users_last_ratings_in_eval(tmp_path, world):
    config = SampleGenConfig(split_mode=SPLIT_USER_LAST, eval_ratings_per_user=3)
    samples, counts = run_sample_gen(write_raw(tmp_path / "raw", world.movies, world.ratings), tmp_path / "out",
                                     config)
    assert "eval_cutoff_timestamp" not in counts
    expected_eval = set()
    for user in {r.user_id for r in world.ratings}:
        last = sample_features.chronological(r for r in world.ratings if r.user_id == user)[-3:]
        expected_eval |= {r.key for r in last}
    written = {sample_key(s) for s in samples[spec.TRAIN_SPLIT] + samples[spec.EVAL_SPLIT]}
    assert {sample_key(s) for s in samples[spec.EVAL_SPLIT]} == expected_eval & written
    assert not expected_eval & {sample_key(s) for s in samples[spec.TRAIN_SPLIT]}


def test_missing_values_are_absent_features(tmp_path):
    movies = {1: Movie(1, None, ("Drama",)), 2: Movie(2, 1999, ("Comedy", "Romance"))}
    ratings = [Rating(1, 1, 4.0, T0 + 10), Rating(1, 2, 2.0, T0 + 20), Rating(2, 2, 5.0, T0 + 30)]
    samples, _ = run_sample_gen(write_raw(tmp_path / "raw", movies, ratings), tmp_path / "out",
                                SampleGenConfig(min_user_history=0))
    by_key = {sample_key(s): s for split in samples.values() for s in split}
    first = by_key[(1, 1, T0 + 10)]
    assert first["releaseYear"] is None and first["movieAvgRating"] is None and first["userGenre1"] is None
    assert first["movieGenre1"] == "Drama" and first["userRatingCount"] == 0 and first["label"] == 1
    second = by_key[(1, 2, T0 + 20)]
    assert second["userRatedMovie1"] == 1 and second["userGenre1"] == "Drama" and second["userAvgRating"] == 4.0
    assert by_key[(2, 2, T0 + 30)]["movieRatingCount"] == 1


def _with_bad_rows(raw_dir: str, ratings: Sequence[Rating]) -> None:
    """Appends malformed rows, unknown movies, repeated ratings (some repeated twice) and a movie defined twice."""
    with open(f"{raw_dir}/ratings.csv", "a") as f:
        f.write(f"1,x,4.0,{T0}\n7,7,9.0,{T0}\n3,999999,4.0,{T0}\n1,2,3\n")
        f.writelines(f"{r.user_id},{r.movie_id},{r.rating},{r.timestamp}\n" for r in ratings[::97] + ratings[::300])
    with open(f"{raw_dir}/movies.csv", "a") as f:
        f.write(f"{ratings[0].movie_id},Again (1990),Drama\nabc,Broken,Drama\n")


def _sample_multiset(samples: List[dict]) -> collections.Counter:
    return collections.Counter(tuple(sorted(s.items())) for s in samples)


def _rejected_lines(out_dir) -> collections.Counter:
    directory = out_dir / spec.REJECTED_ROWS_DIR
    return collections.Counter(line for name in os.listdir(directory)
                               for line in (directory / name).read_text().splitlines())


@pytest.mark.parametrize("config", [SampleGenConfig(),
                                    SampleGenConfig(split_mode=SPLIT_USER_LAST, features_mode=LEAKY)],
                         ids=["global_time", "user_last-leaky"])
def test_sharded_passes_make_what_one_pipeline_makes(tmp_path, world, config):
    """Shuffle shards are sequential pipelines with intermediates on disk: the same samples, counts, cutoff, first
    rejected rows and rejected rows as one pipeline; the intermediates are gone after the run."""
    raw_dir = write_raw(tmp_path / "raw", world.movies, world.ratings)
    _with_bad_rows(raw_dir, world.ratings)
    runs = {shards: run_sample_gen(raw_dir, tmp_path / f"out{shards}",
                                   dataclasses.replace(config, shuffle_shards=shards)) for shards in (1, 3)}
    (one_samples, one_report), (sharded_samples, sharded_report) = runs[1], runs[3]
    for split in spec.SPLITS:
        assert sharded_samples[split] and _sample_multiset(sharded_samples[split]) == _sample_multiset(
            one_samples[split])
    assert sharded_report == one_report
    assert one_report["rejected_duplicate_rating"] == len(world.ratings[::97]) + len(world.ratings[::300])
    assert one_report["rejected_duplicate_movie"] == 1 and one_report["rejected_unknown_movie"] == 1
    assert len(one_report["first_rejected_rows"]) == 10
    assert (config.split_mode == SPLIT_USER_LAST) == ("eval_cutoff_timestamp" not in one_report)
    assert _rejected_lines(tmp_path / "out3") == _rejected_lines(tmp_path / "out1")
    assert sum(_rejected_lines(tmp_path / "out1").values()) == report.rejected_total(one_report)
    for shards in (1, 3):
        assert not (tmp_path / f"out{shards}" / spec.WORK_DIR).exists()
    assert len(os.listdir(tmp_path / "out3" / "train")) == 3  # a file per user shard


def test_shard_count_follows_the_ratings_size_on_the_direct_runner_only(tmp_path):
    ratings = tmp_path / "ratings.csv"
    ratings.write_bytes(b"x" * (2 * RATINGS_BYTES_PER_SHARD + 1))
    direct, dataflow = PipelineOptions([]), PipelineOptions(["--runner=DataflowRunner"])
    assert beam_samples.shard_count(SampleGenConfig(), [str(ratings)], direct) == 3
    assert beam_samples.shard_count(SampleGenConfig(), [str(ratings)], PipelineOptions(["--runner=direct"])) == 3
    assert beam_samples.shard_count(SampleGenConfig(), [str(ratings)], dataflow) == 1
    assert beam_samples.shard_count(SampleGenConfig(shuffle_shards=5), [str(ratings)], dataflow) == 5
    with pytest.raises(ValueError, match=r"shuffle_shards must be >= 0 \(0: automatic\), not -1"):
        SampleGenConfig(shuffle_shards=-1)


def test_read_samples_takes_csv_example_gen_empty_cells_as_absent(tmp_path):
    """CsvExampleGen writes an empty CSV cell as a feature with no value; SampleGen leaves it out."""
    example = tf.train.Example()
    example.features.feature[features.USER_KEY].int64_list.value.append(7)
    example.features.feature[features.MOVIE_GENRE_KEYS[2]].bytes_list.SetInParent()
    example.features.feature[features.RELEASE_YEAR_KEY].int64_list.SetInParent()
    with tf.io.TFRecordWriter(str(tmp_path / "data.gz"), options="GZIP") as writer:
        writer.write(example.SerializeToString())
    [sample] = read_samples(str(tmp_path))
    assert sample[features.USER_KEY] == 7
    assert sample[features.MOVIE_GENRE_KEYS[2]] is None and sample[features.RELEASE_YEAR_KEY] is None


def test_a_draw_is_kept_by_its_movies_rating_count_as_often_as_the_cap_says():
    draws = [Rating(user, 10, math.nan, 1000 + user) for user in range(4000)]
    kept = {count: sum(negatives_lib.kept_by_popularity(d, count, cap=4, seed=0) for d in draws) / len(draws)
            for count in (0, 1, 3, 50)}
    assert abs(kept[0] - 0.25) < 0.03 and abs(kept[1] - 0.5) < 0.03 and kept[3] == kept[50] == 1.0
    other_seed = [negatives_lib.kept_by_popularity(d, 0, cap=4, seed=1) for d in draws]
    assert other_seed != [negatives_lib.kept_by_popularity(d, 0, cap=4, seed=0) for d in draws]


@pytest.mark.parametrize("config", [SampleGenConfig(negatives_per_rating=4),
                                    SampleGenConfig(split_mode=SPLIT_USER_LAST, eval_ratings_per_user=3,
                                                    negatives_per_rating=6, negatives_popularity_cap=2)],
                         ids=["global_time", "user_last-by_popularity"])
def test_sampled_negatives_leave_the_real_samples_alone_and_read_no_later_rating(tmp_path, world, config):
    """Negatives are added to train only, the same sharded or not, each point in time; the real samples (eval's
    among them, so its AUC stays comparable) are those of a run without negatives."""
    raw_dir = write_raw(tmp_path / "raw", world.movies, world.ratings)
    runs = {shards: run_sample_gen(raw_dir, tmp_path / f"out{shards}",
                                   dataclasses.replace(config, shuffle_shards=shards))
            for shards in (1, 3)}
    plain, plain_report = run_sample_gen(raw_dir, tmp_path / "plain",
                                         dataclasses.replace(config, negatives_per_rating=0, shuffle_shards=1))
    (samples, counts), (sharded, sharded_counts) = runs[1], runs[3]
    for split in spec.SPLITS:
        assert _sample_multiset(sharded[split]) == _sample_multiset(samples[split])
    assert sharded_counts == counts
    train, negatives = real_and_negatives(samples[spec.TRAIN_SPLIT])
    assert _sample_multiset(train) == _sample_multiset(plain[spec.TRAIN_SPLIT])
    assert _sample_multiset(samples[spec.EVAL_SPLIT]) == _sample_multiset(plain[spec.EVAL_SPLIT])
    assert {k: v for k, v in counts.items() if k != report.NEGATIVES_TRAIN} == \
        {k: v for k, v in plain_report.items() if k != report.NEGATIVES_TRAIN}
    assert len(negatives) == counts[report.NEGATIVES_TRAIN] > 2 * len(train)
    assert len({sample_key(s) for s in negatives}) == len(negatives)
    if config.split_mode == SPLIT_USER_LAST:
        train_before = {user: sample_features.chronological(r for r in world.ratings if r.user_id == user)[-3].timestamp
                        for user in {r.user_id for r in world.ratings}}
    else:
        train_before = collections.defaultdict(lambda: counts["eval_cutoff_timestamp"])
    assert_negatives_point_in_time(negatives[::5], world.ratings, world.movies, train_before)
    if config.negatives_popularity_cap:  # each kept by the movie's rating count before its time, nothing later
        counts_before = [sum(r.movie_id == movie and r.timestamp < t for r in world.ratings)
                         for _, movie, t in map(sample_key, negatives)]
        assert all(negatives_lib.kept_by_popularity(Rating(*key[:2], math.nan, key[2]), count,
                                                    config.negatives_popularity_cap, config.negatives_seed)
                   for key, count in zip(map(sample_key, negatives), counts_before))
        assert min(counts_before) == 0  # movies not rated yet are drawn too, a fraction of the time
    assert not any(s[features.LABEL_KEY] or s[features.RATING_KEY] is not None for s in negatives)
