"""SampleGen's Beam pipeline: raw MovieLens files -> point-in-time samples as tf.Examples, split by time.

Two shuffles, each of small tuples, so memory does not grow with what a sample carries:
1. ratings by movie: duplicates rejected, then the movie's aggregates per rating (strictly earlier ratings, or
   all of them in leaky mode), from `sample_features`;
2. (rating, movie aggregates) by user: the user's point-in-time features, the assembled sample, its split.
Samples come out grouped by user (each user's in time order), which the Trainer's shuffle buffer mixes.
Counts (ratings read, samples per split, rows skipped and rejected by reason) are Beam counters, so counting keeps
no data in memory; `report.complete` adds them to the report the job writes.
"""
from __future__ import annotations

import collections
import json
import math
import os
import struct
from typing import Dict, Iterator, Mapping, Optional, Sequence, Tuple

import apache_beam as beam
import tensorflow as tf
from apache_beam.io.filesystems import FileSystems

from components import features, sample_features
from components.sample_gen import config as config_lib
from components.sample_gen import raw_rows, report, spec
from components.sample_gen.example_encoding import to_example

TFRECORD_PREFIX = "data_tfrecord"  # ExampleGen's file names: data_tfrecord-00000-of-00001.gz
REJECTED_EXAMPLES_KEPT = 10  # the report lists the first rejected rows (by file and line)
_QUANTILES = 1000  # the eval cutoff is within 1/1000 of the requested fraction
_REJECTED = "rejected"
# Shuffled values are packed bytes: the direct runner holds each shuffle's values in memory as Python objects,
# and a bytes value is several times smaller than the tuple it packs.
_READ_RATING = struct.Struct("<IIqqdq")  # file index, line, then the Rating's fields
_RATED = struct.Struct("<qqdqqdd")  # the Rating's fields, then its movie aggregates (NaN where missing)


def _pack_rated(rating: sample_features.Rating, movie_part: Mapping[str, Optional[float]]) -> bytes:
    aggregates = (movie_part[k] for k in sample_features.MOVIE_AGGREGATE_KEYS)
    return _RATED.pack(*rating.astuple(), *(math.nan if v is None else v for v in aggregates))


def _unpack_rated(packed: bytes) -> Tuple[sample_features.Rating, dict]:
    *rating, count, mean, std = _RATED.unpack(packed)
    aggregates = (count, *(None if math.isnan(v) else v for v in (mean, std)))
    return sample_features.Rating(*rating), dict(zip(sample_features.MOVIE_AGGREGATE_KEYS, aggregates))


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
        yield movie.movie_id, (file_index, line, movie)


class _FirstMovieDefinition(beam.DoFn):
    """A movieId defined twice keeps its first definition; the others are rejected."""

    def __init__(self, paths: Sequence[str]):
        self._paths = paths

    def process(self, keyed):
        movie_id, definitions = keyed
        (first_file, first_line, movie), *others = sorted(definitions, key=lambda d: d[:2])
        for file_index, line, _ in others:
            bad = raw_rows.BadRow(raw_rows.DUPLICATE_MOVIE, f"movieId {movie_id} is already defined at "
                                                             f"{self._paths[first_file]}:{first_line}")
            yield beam.pvalue.TaggedOutput(_REJECTED, _rejection(self._paths, file_index, line, bad))
        yield movie_id, movie


class _ParseRatings(beam.DoFn):
    def __init__(self, paths: Sequence[str]):
        self._paths = paths

    def process(self, numbered, movies: Mapping[int, sample_features.Movie]):
        file_index, line, raw = numbered
        try:
            rating = raw_rows.parse_rating(raw_rows.decode(raw))
            if rating.movie_id not in movies:
                raise raw_rows.BadRow(raw_rows.UNKNOWN_MOVIE, f"movieId {rating.movie_id} is not in movies.csv")
        except raw_rows.BadRow as bad:
            yield beam.pvalue.TaggedOutput(_REJECTED, _rejection(self._paths, file_index, line, bad))
            return
        yield rating.movie_id, _READ_RATING.pack(file_index, line, *rating.astuple())


class _MovieStage(beam.DoFn):
    """One movie's ratings -> (userId, (rating, movie aggregates)) per rating; repeated ratings rejected."""

    def __init__(self, paths: Sequence[str], features_mode: str):
        self._paths = paths
        self._movie_features = (sample_features.movie_all_time_features if features_mode == config_lib.LEAKY
                                else sample_features.movie_history_features)

    def process(self, keyed):
        _, rows = keyed
        ratings: Dict[Tuple[int, int, int], sample_features.Rating] = {}
        read_at: Dict[Tuple[int, int, int], Tuple[int, int]] = {}
        for file_index, line, *values in sorted(map(_READ_RATING.unpack, rows)):  # the first occurrence stays
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
        for key, movie_part in self._movie_features(ratings.values()):
            yield ratings[key].user_id, _pack_rated(ratings[key], movie_part)


class _UserStage(beam.DoFn):
    """One user's (rating, movie aggregates) -> a serialized tf.Example per rating, tagged with its split."""

    def __init__(self, config: config_lib.SampleGenConfig):
        self._config = config

    def process(self, keyed, movies: Mapping[int, sample_features.Movie], cutoff: Optional[int] = None):
        _, rows = keyed
        ratings, movie_parts = {}, {}
        for rating, movie_part in map(_unpack_rated, rows):
            ratings[rating.key], movie_parts[rating.key] = rating, movie_part
        eval_keys = None
        if self._config.split_mode == config_lib.SPLIT_USER_LAST:
            last = sample_features.chronological(ratings.values())[-self._config.eval_ratings_per_user:]
            eval_keys = {r.key for r in last}
        tally: Dict[str, int] = collections.Counter()
        for key, user_part in sample_features.user_history_features(ratings.values(), movies):
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
        for name, count in tally.items():
            report.counter(name).inc(count)


def _quantile(sorted_values: Sequence[int], q: float) -> int:
    return sorted_values[round(q * (len(sorted_values) - 1))] if sorted_values else 0


def _counted(rejection: raw_rows.Rejection) -> str:
    report.counter(f"{report.REJECTED}_{rejection.reason}").inc()
    return str(rejection)


def write_samples(pipeline: beam.Pipeline, ratings_files: Sequence[str], movies_files: Sequence[str],
                  config: config_lib.SampleGenConfig, split_dirs: Mapping[str, str], report_dir: str) -> None:
    """Adds the whole job to `pipeline`: samples to `split_dirs[split]` (gzipped TFRecords of tf.Example), the
    report's items (REPORT_FILE, completed by `report.complete` after the run) and every rejected row
    (REJECTED_ROWS_DIR) to `report_dir`."""
    movie_lines = _read(pipeline, "Movies", movies_files, raw_rows.MOVIES_HEADER, report.MOVIES_READ)
    parsed_movies = movie_lines | "ParseMovies" >> beam.ParDo(_ParseMovies(movies_files)).with_outputs(
        _REJECTED, main="movies")
    movies = (parsed_movies.movies
              | "GroupMovieDefinitions" >> beam.GroupByKey()
              | "FirstMovieDefinition" >> beam.ParDo(_FirstMovieDefinition(movies_files)).with_outputs(
                  _REJECTED, main="movies"))
    movies_by_id = beam.pvalue.AsDict(movies.movies)

    rating_lines = _read(pipeline, "Ratings", ratings_files, raw_rows.RATINGS_HEADER, report.RATINGS_READ)
    parsed = rating_lines | "ParseRatings" >> beam.ParDo(_ParseRatings(ratings_files), movies_by_id).with_outputs(
        _REJECTED, main="ratings")
    rated = (parsed.ratings
             | "GroupByMovie" >> beam.GroupByKey()
             | "MovieFeatures" >> beam.ParDo(_MovieStage(ratings_files, config.features_mode)).with_outputs(
                 _REJECTED, main="rated"))

    side_inputs = {"movies": movies_by_id}
    report_items = []  # (key, value) pairs; the counts come from counters
    if config.split_mode == config_lib.SPLIT_GLOBAL_TIME:
        cutoff = (rated.rated
                  | "Timestamps" >> beam.Map(lambda keyed: _unpack_rated(keyed[1])[0].timestamp)
                  | "TimeQuantiles" >> beam.ApproximateQuantiles.Globally(_QUANTILES + 1)
                  | "EvalCutoff" >> beam.Map(_quantile, 1.0 - config.eval_fraction))
        side_inputs["cutoff"] = beam.pvalue.AsSingleton(cutoff)
        report_items.append(cutoff | "NameCutoff" >> beam.Map(lambda t: (report.EVAL_CUTOFF, t)))
    samples = (rated.rated
               | "GroupByUser" >> beam.GroupByKey()
               | "UserFeatures" >> beam.ParDo(_UserStage(config), **side_inputs).with_outputs(*spec.SPLITS))
    for split in spec.SPLITS:
        _ = samples[split] | f"Write{split}" >> beam.io.WriteToTFRecord(
            os.path.join(split_dirs[split], TFRECORD_PREFIX), file_name_suffix=".gz")

    rejected = ((parsed_movies[_REJECTED], movies[_REJECTED], parsed[_REJECTED], rated[_REJECTED])
                | "Rejections" >> beam.Flatten())
    _ = rejected | "CountRejections" >> beam.Map(_counted) | "WriteRejections" >> beam.io.WriteToText(
        os.path.join(report_dir, spec.REJECTED_ROWS_DIR, "rejected"), ".txt")
    report_items.append(
        rejected | "FirstRejections" >> beam.combiners.Top.Smallest(REJECTED_EXAMPLES_KEPT) | "NameRejections" >>
        beam.Map(lambda first: (report.FIRST_REJECTED_ROWS, [str(r) for r in first])))
    _ = (report_items
         | "Report" >> beam.Flatten()
         | "ReportDict" >> beam.combiners.ToDict()
         | "ReportJson" >> beam.Map(json.dumps, sort_keys=True)
         | "WriteReport" >> beam.io.WriteToText(os.path.join(report_dir, spec.REPORT_FILE),
                                                shard_name_template="", num_shards=1))


def read_samples(split_dir: str) -> Iterator[Dict[str, object]]:
    """The tf.Examples of one split directory back as samples: every column, None where absent."""
    files = tf.io.gfile.glob(os.path.join(split_dir, "*.gz"))
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
        feature = tf.train.Example.FromString(record).features.feature
        yield {column.name: _value(column, feature[column.name]) if column.name in feature else None
               for column in features.COLUMNS}


def _value(column: features.Column, feature: tf.train.Feature):
    if column.kind == "int":
        return feature.int64_list.value[0]
    if column.kind == "float":
        return feature.float_list.value[0]
    return feature.bytes_list.value[0].decode("utf-8")
