"""SampleGen's Beam job: raw MovieLens files -> point-in-time samples as tf.Examples, split by time.

Two shuffles, each of small tuples, so memory does not grow with what a sample carries:
1. ratings by movie: duplicates rejected, then the movie's aggregates per rating (strictly earlier ratings, or
   all of them in leaky mode), from `sample_features`;
2. (rating, movie aggregates) by user: the user's point-in-time features, the assembled sample, its split.
Samples come out grouped by user (each user's in time order), which the Trainer's shuffle buffer mixes.
Counts (ratings read, samples per split, rows skipped and rejected by reason) are Beam counters, so counting keeps
no data in memory; `report.complete` adds them to the report the job writes.

The direct runner holds each shuffle's whole input in memory. So on it, large inputs run as sequential pipelines
that each shuffle one hash shard (`shard_count`), with the shards in files in between: ratings read, parsed and
written to shards by movie; per movie shard, its ratings grouped by movie and written to shards by user; the eval
cutoff over them all; per user shard, its samples. The passes compose the same stages as the one pipeline, so
their output, counts and report are the same; memory is that of one shard.
"""
from __future__ import annotations

import collections
import functools
import json
import logging
import math
import os
import pickle
import struct
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions
from tfx.dsl.io import fileio

from components.sample_gen import config as config_lib
from components.sample_gen import negatives, report, spec
from components.sample_gen.example_encoding import to_example
from dataio import raw_rows, shuffle_shards
from models import features, sample_features

TFRECORD_PREFIX = "data_tfrecord"  # ExampleGen's file names: data_tfrecord-00000-of-00001.gz
REJECTED_EXAMPLES_KEPT = 10  # the report lists the first rejected rows (by file and line)
_DAY = 86_400  # the exact cutoff is found in two counting passes: which day, then which second of it
_REJECTED = "rejected"
# Shuffled values are packed bytes: the direct runner holds each shuffle's values in memory as Python objects,
# and a bytes value is several times smaller than the tuple it packs.
_READ_RATING = struct.Struct("<IIqqdq")  # file index, line, then the Rating's fields
# The Rating's fields, then its movie part: the aggregates and the time features (NaN where missing).
_RATED = struct.Struct("<qqdqqdd" + "qqqdd")
_RATED_TIMESTAMP = struct.Struct("<q")  # the Rating's timestamp in _RATED, after userId, movieId and rating
_RATED_TIMESTAMP_OFFSET = struct.calcsize("<qqd")
_RATED_RATING = struct.Struct("<d")
_RATED_RATING_OFFSET = struct.calcsize("<qq")


_MOVIE_PART_KEYS = sample_features.MOVIE_AGGREGATE_KEYS + sample_features.MOVIE_TIME_KEYS
_MOVIE_PART_INTS = {features.MOVIE_RATING_COUNT_KEY, features.MOVIE_AGE_KEY,
                    *features.MOVIE_RECENT_COUNT_KEYS.values()}


def _pack_rated(rating: sample_features.Rating, movie_part: Mapping[str, Optional[float]]) -> bytes:
    part = (movie_part[k] for k in _MOVIE_PART_KEYS)
    return _RATED.pack(*rating.astuple(), *(math.nan if v is None else v for v in part))


def _unpack_rated(packed: bytes) -> Tuple[sample_features.Rating, dict]:
    values = _RATED.unpack(packed)
    rating, part = values[:4], values[4:]
    return sample_features.Rating(*rating), {
        k: None if v != v else int(v) if k in _MOVIE_PART_INTS else v for k, v in zip(_MOVIE_PART_KEYS, part)}


def _rated_timestamp(packed: bytes) -> int:
    return _RATED_TIMESTAMP.unpack_from(packed, _RATED_TIMESTAMP_OFFSET)[0]


def _is_real_rating(keyed: Tuple[int, bytes]) -> bool:
    """Not a draw (a sampled negative, see `negatives`): those have no rating."""
    return not math.isnan(_RATED_RATING.unpack_from(keyed[1], _RATED_RATING_OFFSET)[0])


def _numbered_lines(indexed_path: Tuple[int, str], header: Sequence[str], counter: str
                    ) -> Iterator[Tuple[int, int, bytes]]:
    """(file index, line number, raw line) for every data line of one file, read in order (one worker)."""
    file_index, path = indexed_path
    lines = 0
    with FileSystems.open(path) as f:
        raw_rows.check_header(path, f.readline(), header)
        for lines, raw in enumerate(iter(f.readline, b""), start=1):
            yield file_index, lines + 1, raw
    report.counter(counter).inc(lines)


def _read(pipeline, label: str, paths: Sequence[str], header: Sequence[str], counter: str) -> beam.PCollection:
    return (pipeline
            | f"List{label}" >> beam.Create(list(enumerate(paths)))
            | f"Read{label}" >> beam.FlatMap(_numbered_lines, header, counter))


def _rejection(paths: Sequence[str], file_index: int, line: int, bad: raw_rows.BadRow) -> raw_rows.Rejection:
    return raw_rows.Rejection(paths[file_index], line, bad.reason, bad.detail)


class _ParseMovies(beam.DoFn):
    def __init__(self, paths: Sequence[str]):
        self._paths = paths

    def process(self, numbered):
        file_index, line, raw = numbered
        try:
            movie = raw_rows.parse_movie(raw_rows.decode(raw))
        except raw_rows.BadRow as bad:
            yield beam.pvalue.TaggedOutput(_REJECTED, _rejection(self._paths, file_index, line, bad))
            return
        yield None, (file_index, line, movie.movie_id, movie.release_year, movie.genres)


class _MovieTable(beam.DoFn):
    """Every movie definition (under one key) -> the movie table: one bytes value, pickled {movieId: (release
    year, genres)}, the side input of the stages that look movies up. One value, as the direct runner decodes a
    side input element by element (~40 us and over 1 KB each: 2.5 s and 80 MB for 60k movies, in every stage
    that reads it). A movieId defined twice keeps its first definition; the others are rejected."""

    def __init__(self, paths: Sequence[str]):
        self._paths = paths

    def process(self, keyed):
        _, definitions = keyed
        table, defined_at = {}, {}
        for file_index, line, movie_id, release_year, genres in sorted(definitions, key=lambda d: d[:2]):
            if movie_id in table:
                first_file, first_line = defined_at[movie_id]
                bad = raw_rows.BadRow(raw_rows.DUPLICATE_MOVIE, f"movieId {movie_id} is already defined at "
                                                                 f"{self._paths[first_file]}:{first_line}")
                yield beam.pvalue.TaggedOutput(_REJECTED, _rejection(self._paths, file_index, line, bad))
            else:
                table[movie_id], defined_at[movie_id] = (release_year, genres), (file_index, line)
        yield pickle.dumps(table, protocol=pickle.HIGHEST_PROTOCOL)


class _Movies:
    """The movie table's bytes as {movieId: Movie}, decoded when they change (a side input comes again with
    every bundle, often as a new object of the same bytes); `catalogue` is the table in release order."""

    def __init__(self):
        self._table: Optional[bytes] = None
        self._movies: Dict[int, sample_features.Movie] = {}
        self.catalogue: Optional[negatives.Catalogue] = None

    def __call__(self, table: bytes) -> Dict[int, sample_features.Movie]:
        if table is not self._table and table != self._table:
            self._movies = {movie_id: sample_features.Movie(movie_id, *values)
                            for movie_id, values in pickle.loads(table).items()}
            self.catalogue = negatives.Catalogue(self._movies)
        self._table = table
        return self._movies


class _ParseRatings(beam.DoFn):
    """Valid rows as (movieId, _READ_RATING); with negatives_per_rating, each rating's draws too, as ratings of the
    drawn movies without a rating (see `negatives`) at the rating's file and line."""

    def __init__(self, paths: Sequence[str], timestamps: raw_rows.TimestampRange,
                 config: config_lib.SampleGenConfig):
        self._paths = paths
        self._timestamps = timestamps
        self._draws, self._seed = config.negatives_per_rating, config.negatives_seed
        self._as_of = raw_rows.as_of_timestamp(config.as_of)
        self._movies = _Movies()

    def process(self, numbered, movie_table: bytes):
        movies = self._movies(movie_table)
        file_index, line, raw = numbered
        try:
            rating = raw_rows.parse_rating(raw_rows.decode(raw), self._timestamps)
            if rating.movie_id not in movies:
                raise raw_rows.BadRow(raw_rows.UNKNOWN_MOVIE, f"movieId {rating.movie_id} is not in movies.csv")
        except raw_rows.BadRow as bad:
            yield beam.pvalue.TaggedOutput(_REJECTED, _rejection(self._paths, file_index, line, bad))
            return
        if self._as_of is not None and rating.timestamp >= self._as_of:
            report.counter(report.RATINGS_AFTER_AS_OF).inc()
            return
        yield rating.movie_id, _READ_RATING.pack(file_index, line, *rating.astuple())
        for movie_id in self._movies.catalogue.draws(rating, self._draws, self._seed) if self._draws else ():
            draw = negatives.draw_rating(rating.user_id, movie_id, rating.timestamp)
            yield movie_id, _READ_RATING.pack(file_index, line, *draw.astuple())


class _MovieStage(beam.DoFn):
    """One movie's ratings -> (userId, (rating, movie aggregates)) per rating; repeated ratings rejected. Draws of
    the movie (sampled negatives) -> (userId, (draw, movie aggregates as of the draw's time))."""

    def __init__(self, paths: Sequence[str], config: config_lib.SampleGenConfig):
        self._paths = paths
        self._leaky = config.features_mode == config_lib.LEAKY
        self._popularity_cap, self._seed = config.negatives_popularity_cap, config.negatives_seed
        self._movie_features = (sample_features.movie_all_time_features if self._leaky
                                else sample_features.movie_history_features)

    def process(self, keyed):
        _, rows = keyed
        ratings: Dict[Tuple[int, int, int], sample_features.Rating] = {}
        read_at: Dict[Tuple[int, int, int], Tuple[int, int]] = {}
        read, draws = [], []
        for values in map(_READ_RATING.unpack, rows):
            (draws if math.isnan(values[4]) else read).append(values)
        for file_index, line, *values in sorted(read):  # the first occurrence stays
            rating = sample_features.Rating(*values)
            if rating.key in ratings:
                first_file, first_line = read_at[rating.key]
                bad = raw_rows.BadRow(raw_rows.DUPLICATE_RATING, f"userId {rating.user_id}, movieId "
                                      f"{rating.movie_id} and timestamp {rating.timestamp} repeat "
                                      f"{self._paths[first_file]}:{first_line}")
                yield beam.pvalue.TaggedOutput(_REJECTED, _rejection(self._paths, file_index, line, bad))
            else:
                ratings[rating.key], read_at[rating.key] = rating, (file_index, line)
        report.counter(report.RATINGS_VALID).inc(len(ratings))
        snapshots = {}
        for key, movie_part in self._movie_features(ratings.values()):
            snapshots[key] = movie_part
            yield ratings[key].user_id, _pack_rated(ratings[key], movie_part)
        if draws:
            all_time = sample_features.movie_aggregates([r.rating for r in ratings.values()])
            drawn = (sample_features.Rating(*values) for _, _, *values in draws)
            for draw, movie_part in negatives.movie_parts(list(ratings.values()), snapshots, all_time, drawn,
                                                          self._leaky, self._popularity_cap, self._seed):
                yield draw.user_id, _pack_rated(draw, movie_part)


class _UserStage(beam.DoFn):
    """One user's (rating, movie aggregates) -> a serialized tf.Example per rating, tagged with its split."""

    def __init__(self, config: config_lib.SampleGenConfig):
        self._config = config
        self._movies = _Movies()

    def process(self, keyed, movie_table: bytes, cutoff: Optional[int] = None):
        movies = self._movies(movie_table)
        _, rows = keyed
        ratings, movie_parts, draws = {}, {}, []
        for rating, movie_part in map(_unpack_rated, rows):
            if negatives.is_draw(rating):
                draws.append((rating, movie_part))
            else:
                ratings[rating.key], movie_parts[rating.key] = rating, movie_part
        eval_keys = None
        train_before = cutoff  # draws at or after it would be in eval, which holds real ratings only
        if self._config.split_mode == config_lib.SPLIT_USER_LAST:
            last = sample_features.chronological(ratings.values())[-self._config.eval_ratings_per_user:]
            eval_keys = {r.key for r in last}
            train_before = last[0].timestamp if last else None
        tally: Dict[str, int] = collections.Counter()
        user_parts = {}
        for key, user_part in sample_features.user_history_features(ratings.values(), movies):
            user_parts[key] = user_part
            rating = ratings[key]
            sample = sample_features.assemble_sample(rating, movies[rating.movie_id], user_part, movie_parts[key])
            reason = sample_features.skip_reason(sample, self._config.min_user_history)
            if reason:
                tally[f"{report.SKIPPED}_{reason}"] += 1
                continue
            split = spec.EVAL_SPLIT if (key in eval_keys if eval_keys is not None else rating.timestamp >= cutoff) \
                else spec.TRAIN_SPLIT
            tally[report.samples_key(split)] += 1
            yield beam.pvalue.TaggedOutput(split, to_example(sample))
        for sample in negatives.user_samples(list(ratings.values()), user_parts, draws, movies, train_before):
            if sample_features.skip_reason(sample, self._config.min_user_history) is None:
                tally[report.NEGATIVES_TRAIN] += 1
                yield beam.pvalue.TaggedOutput(spec.TRAIN_SPLIT, to_example(sample))
        for name, count in tally.items():
            report.counter(name).inc(count)


def _day(timestamp: int) -> int:
    return timestamp // _DAY


def _second(timestamp: int) -> int:
    return timestamp


class _CountBy(beam.CombineFn):
    """{key(value): count} over a PCollection: merging counts is exact and order-free, so the result is the same
    whatever the runner's bundles (an approximate quantile's is not)."""

    def __init__(self, key: Callable[[int], int]):
        self._key = key

    def create_accumulator(self):
        return collections.Counter()

    def add_input(self, counts, value):
        counts[self._key(value)] += 1
        return counts

    def merge_accumulators(self, accumulators):
        merged = collections.Counter()
        for counts in accumulators:
            merged.update(counts)
        return merged

    def extract_output(self, counts):
        return dict(counts)


def _rank_in(counts: Mapping[int, int], rank: int) -> Tuple[int, int]:
    """The key holding the value of 0-based `rank` in key order, and that value's rank among the key's values."""
    for key in sorted(counts):
        if rank < counts[key]:
            return key, rank
        rank -= counts[key]
    raise ValueError(f"rank {rank} beyond the {sum(counts.values())} counted values")


def _cutoff_day(day_counts: Mapping[int, int], q: float) -> Optional[Tuple[int, int]]:
    """(day, rank within the day) of the q-quantile timestamp sorted_values[round(q * (n - 1))]; None if empty."""
    total = sum(day_counts.values())
    return _rank_in(day_counts, round(q * (total - 1))) if total else None


def _in_day(timestamp: int, day: Optional[Tuple[int, int]]) -> bool:
    return day is not None and _day(timestamp) == day[0]


def _cutoff_second(second_counts: Mapping[int, int], day: Optional[Tuple[int, int]]) -> int:
    return _rank_in(second_counts, day[1])[0] if day is not None else 0


def _counted(rejection: raw_rows.Rejection) -> str:
    report.counter(f"{report.REJECTED}_{rejection.reason}").inc()
    return str(rejection)


# The stages, each composed the same way by the one-pipeline job and by the sharded passes.

def _movies(pipeline, movies_files: Sequence[str]) -> Tuple[beam.PCollection, List[beam.PCollection]]:
    """movies.csv's movie table (one bytes value, see `_MovieTable`) and the rejected rows."""
    movie_lines = _read(pipeline, "Movies", movies_files, raw_rows.MOVIES_HEADER, report.MOVIES_READ)
    parsed = movie_lines | "ParseMovies" >> beam.ParDo(_ParseMovies(movies_files)).with_outputs(
        _REJECTED, main="movies")
    table = (parsed.movies
             | "GroupMovieDefinitions" >> beam.GroupByKey()
             | "MovieTable" >> beam.ParDo(_MovieTable(movies_files)).with_outputs(_REJECTED, main="table"))
    return table.table, [parsed[_REJECTED], table[_REJECTED]]


def _ratings(pipeline, ratings_files: Sequence[str], movie_table: beam.PCollection,
             config: config_lib.SampleGenConfig):
    """Valid rows of ratings.csv as (movieId, _READ_RATING bytes), and the rejected rows. The plausible rating
    times are fixed here, when the job is built, so every worker and shard checks against the same "now"."""
    timestamps = raw_rows.TimestampRange.of(config.earliest_rating_date, config.latest_rating_days_ahead)
    rating_lines = _read(pipeline, "Ratings", ratings_files, raw_rows.RATINGS_HEADER, report.RATINGS_READ)
    parsed = rating_lines | "ParseRatings" >> beam.ParDo(
        _ParseRatings(ratings_files, timestamps, config), beam.pvalue.AsSingleton(movie_table)).with_outputs(
            _REJECTED, main="ratings")
    return parsed.ratings, parsed[_REJECTED]


def _rated(ratings_by_movie: beam.PCollection, ratings_files: Sequence[str], config: config_lib.SampleGenConfig):
    """The first shuffle: (movieId, _READ_RATING) -> (userId, _RATED bytes), and the repeated ratings rejected."""
    rated = (ratings_by_movie
             | "GroupByMovie" >> beam.GroupByKey()
             | "MovieFeatures" >> beam.ParDo(_MovieStage(ratings_files, config)).with_outputs(
                 _REJECTED, main="rated"))
    return rated.rated, rated[_REJECTED]


def _cutoff(rated: beam.PCollection, config: config_lib.SampleGenConfig) -> beam.PCollection:
    """global_time split: the eval cutoff, exactly the (1 - eval_fraction) quantile of the rated timestamps, by
    counting per day, then per second of the cutoff's day (two small counts instead of a global sort)."""
    timestamps = (rated
                  | "RealRatings" >> beam.Filter(_is_real_rating)
                  | "Timestamps" >> beam.Map(lambda keyed: _rated_timestamp(keyed[1])))
    day = (timestamps
           | "CountPerDay" >> beam.CombineGlobally(_CountBy(_day))
           | "CutoffDay" >> beam.Map(_cutoff_day, 1.0 - config.eval_fraction))
    return (timestamps
            | "InCutoffDay" >> beam.Filter(_in_day, beam.pvalue.AsSingleton(day))
            | "CountPerSecond" >> beam.CombineGlobally(_CountBy(_second))
            | "EvalCutoff" >> beam.Map(_cutoff_second, beam.pvalue.AsSingleton(day)))


def _write_samples(rated: beam.PCollection, movie_table: beam.PCollection, cutoff: Optional[beam.PCollection],
                   config: config_lib.SampleGenConfig, split_dirs: Mapping[str, str], file_prefix: str) -> None:
    """The second shuffle: (userId, _RATED) -> each split's tf.Examples, in files `file_prefix`-...gz."""
    side_inputs = {"movie_table": beam.pvalue.AsSingleton(movie_table)}
    if cutoff is not None:
        side_inputs["cutoff"] = beam.pvalue.AsSingleton(cutoff)
    samples = (rated
               | "GroupByUser" >> beam.GroupByKey()
               | "UserFeatures" >> beam.ParDo(_UserStage(config), **side_inputs).with_outputs(*spec.SPLITS))
    for split in spec.SPLITS:
        _ = samples[split] | f"Write{split}" >> beam.io.WriteToTFRecord(
            os.path.join(split_dirs[split], file_prefix), file_name_suffix=".gz")


def _write_report_part(rejected: Sequence[beam.PCollection], cutoff: Optional[beam.PCollection], report_dir: str,
                       name: str) -> None:
    """A pass's rejected rows (counted, to REJECTED_ROWS_DIR/`name`-...txt) and its report items: the first
    rejected rows and the cutoff, to a part of the report that `_report_items` merges after the last pass."""
    items = []
    if rejected:
        rows = rejected | "Rejections" >> beam.Flatten()
        _ = rows | "CountRejections" >> beam.Map(_counted) | "WriteRejections" >> beam.io.WriteToText(
            os.path.join(report_dir, spec.REJECTED_ROWS_DIR, name), ".txt")
        items.append(rows | "FirstRejections" >> beam.combiners.Top.Smallest(REJECTED_EXAMPLES_KEPT)
                     | "NameRejections" >> beam.Map(lambda first: (report.FIRST_REJECTED_ROWS, first)))
    if cutoff is not None:
        items.append(cutoff | "NameCutoff" >> beam.Map(lambda t: (report.EVAL_CUTOFF, t)))
    _ = (items
         | "Report" >> beam.Flatten()
         | "ReportDict" >> beam.combiners.ToDict()
         | "ReportJson" >> beam.Map(json.dumps, sort_keys=True)
         | "WriteReport" >> beam.io.WriteToText(_report_part(report_dir, name), shard_name_template="",
                                                num_shards=1))


def _report_part(report_dir: str, name: str) -> str:
    return os.path.join(report_dir, spec.WORK_DIR, f"report-{name}.json")


def _report_items(report_dir: str) -> Dict[str, object]:
    """The passes' report parts as one: the first rejected rows of all passes (by file and line), the cutoff."""
    rejections, items = [], {}
    for path in sorted(fileio.glob(_report_part(report_dir, "*"))):
        with fileio.open(path) as f:
            part = json.loads(f.read())
        rejections += (raw_rows.Rejection(*r) for r in part.pop(report.FIRST_REJECTED_ROWS, ()))
        items.update(part)
    items[report.FIRST_REJECTED_ROWS] = [str(r) for r in sorted(rejections)[:REJECTED_EXAMPLES_KEPT]]
    return items


# The job.

def _one_pipeline(pipeline, ratings_files: Sequence[str], movies_files: Sequence[str],
                  config: config_lib.SampleGenConfig, split_dirs: Mapping[str, str], report_dir: str) -> None:
    movie_table, rejected = _movies(pipeline, movies_files)
    ratings, rejected_ratings = _ratings(pipeline, ratings_files, movie_table, config)
    rated, repeated = _rated(ratings, ratings_files, config)
    cutoff = _cutoff(rated, config) if config.split_mode == config_lib.SPLIT_GLOBAL_TIME else None
    _write_samples(rated, movie_table, cutoff, config, split_dirs, TFRECORD_PREFIX)
    _write_report_part([*rejected, rejected_ratings, repeated], cutoff, report_dir, _REJECTED)


def _sharded(run_pass: Callable[..., None], shards: int, ratings_files: Sequence[str], movies_files: Sequence[str],
             config: config_lib.SampleGenConfig, split_dirs: Mapping[str, str], report_dir: str) -> None:
    """The same stages as `_one_pipeline`, as sequential pipelines that each shuffle one shard: ratings to shards
    by movie; each movie shard's ratings to shards by user; the cutoff; each user shard's samples."""
    by_movie, by_user = (os.path.join(report_dir, spec.WORK_DIR, d) for d in ("by_movie", "by_user"))
    movie_table_file = os.path.join(report_dir, spec.WORK_DIR, "movie_table.pickle")

    def partition(pipeline):
        movie_table, rejected = _movies(pipeline, movies_files)
        _ = movie_table | "SaveMovieTable" >> beam.Map(shuffle_shards.write_file, movie_table_file)
        ratings, rejected_ratings = _ratings(pipeline, ratings_files, movie_table, config)
        _ = ratings | "WriteShards" >> beam.ParDo(shuffle_shards.WriteShards(by_movie, shards))
        _write_report_part([*rejected, rejected_ratings], None, report_dir, f"{_REJECTED}-ratings")

    def movie_shard(shard: int, pipeline):
        ratings = shuffle_shards.read_shards(pipeline, shuffle_shards.path(by_movie, shard), _READ_RATING.size)
        rated, repeated = _rated(ratings, ratings_files, config)
        _ = rated | "WriteShards" >> beam.ParDo(shuffle_shards.WriteShards(by_user, shards))
        _write_report_part([repeated], None, report_dir, f"{_REJECTED}-movies-{shard:05d}")

    def time_cutoff(pipeline):
        rated = shuffle_shards.read_shards(pipeline, shuffle_shards.path(by_user), _RATED.size)
        _write_report_part([], _cutoff(rated, config), report_dir, "cutoff")

    def user_shard(shard: int, cutoff: Optional[int], pipeline):
        movie_table = pipeline | "ListMovieTable" >> beam.Create([movie_table_file]) | "ReadMovieTable" >> beam.Map(
            shuffle_shards.read_file)
        rated = shuffle_shards.read_shards(pipeline, shuffle_shards.path(by_user, shard), _RATED.size)
        _write_samples(rated, movie_table, None if cutoff is None else pipeline | "Cutoff" >> beam.Create([cutoff]),
                       config, split_dirs, f"{TFRECORD_PREFIX}-{shard:05d}-of-{shards:05d}")

    run_pass(partition)
    for shard in range(shards):
        run_pass(functools.partial(movie_shard, shard))
    cutoff = None
    if config.split_mode == config_lib.SPLIT_GLOBAL_TIME:
        run_pass(time_cutoff)
        cutoff = _report_items(report_dir)[report.EVAL_CUTOFF]
    for shard in range(shards):
        run_pass(functools.partial(user_shard, shard, cutoff))


def shard_count(config: config_lib.SampleGenConfig, ratings_files: Sequence[str], options: PipelineOptions) -> int:
    """config.shuffle_shards, or when it is 0 (automatic) one per RATINGS_BYTES_PER_SHARD of ratings files on the
    direct runner, else one (`shuffle_shards.shard_count`)."""
    return shuffle_shards.shard_count(config.shuffle_shards, ratings_files, options,
                                      shuffle_shards.RATINGS_BYTES_PER_SHARD)


def run(make_pipeline: Callable[[], beam.Pipeline], ratings_files: Sequence[str], movies_files: Sequence[str],
        config: config_lib.SampleGenConfig, split_dirs: Mapping[str, str], report_dir: str) -> Dict[str, object]:
    """The whole job, as one pipeline or as sharded passes (`shard_count`), each a pipeline of `make_pipeline()`
    run to its end: samples to `split_dirs[split]` (gzipped TFRecords of tf.Example), every rejected row to
    `report_dir`/REJECTED_ROWS_DIR and the report (REPORT_FILE, returned) with the counters of every pass.
    Intermediates (in `report_dir`/WORK_DIR) are deleted when the job ends, also when it fails."""
    run_pass = shuffle_shards.Passes(make_pipeline)
    shards = shard_count(config, ratings_files, make_pipeline().options)
    logging.info("SampleGen: %d shuffle shard(s)", shards)
    with shuffle_shards.work_dir(os.path.join(report_dir, spec.WORK_DIR)):
        if shards == 1:
            run_pass(functools.partial(_one_pipeline, ratings_files=ratings_files, movies_files=movies_files,
                                       config=config, split_dirs=split_dirs, report_dir=report_dir))
        else:
            _sharded(run_pass, shards, ratings_files, movies_files, config, split_dirs, report_dir)
        items = _report_items(report_dir)
    return report.complete(report_dir, items, run_pass.results)
