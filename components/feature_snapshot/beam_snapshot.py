"""FeatureSnapshot's Beam job: ratings and movies in, one snapshot entry per user and per movie out.

Ratings come from the raw ratings.csv that SampleGen read (every valid rating, also the ones no sample was
made of: a user's first ratings, a movie without genres), or, without raw files, from the samples themselves.
Rows SampleGen rejects (unparseable, unknown movie) are left out here too, with SampleGen's own parser.

Two shuffles: ratings by user, and ratings with the movies by movie. On the direct runner, which holds a
shuffle's whole input in memory, large inputs run as sharded passes (`dataio/shuffle_shards.py`): the
sources read and their ratings written to shards by user and by movie, then per shard both shuffles; memory is
that of one shard. Shuffled ratings are packed bytes, several times smaller than the objects they pack.
"""
from __future__ import annotations

import csv
import functools
import operator
import os
import pickle
import struct
from typing import Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import apache_beam as beam
import tensorflow as tf

from dataio import raw_rows, shuffle_shards
from models import features, sample_features
from recommender import snapshot

MovieWithTitle = Tuple[sample_features.Movie, str]
_MOVIE_STATIC = (features.RELEASE_YEAR_KEY, *features.MOVIE_GENRE_KEYS)


def read_movies(paths: Sequence[str]) -> List[MovieWithTitle]:
    """Every movie of movies.csv files with its title; a movieId defined twice keeps its first definition and
    rows SampleGen rejects are skipped (it reports them)."""
    movies = {}
    for path in paths:
        with tf.io.gfile.GFile(path, "rb") as f:
            raw_rows.check_header(path, f.readline(), raw_rows.MOVIES_HEADER)
            for raw in f:
                try:
                    text = raw_rows.decode(raw)
                    movie = raw_rows.parse_movie(text)
                except raw_rows.BadRow:
                    continue
                movies.setdefault(movie.movie_id, (movie, next(csv.reader([text]))[1]))
    return list(movies.values())


def file_movies(pipeline: beam.Pipeline, paths: Sequence[str]) -> beam.PCollection:
    """(movieId, (Movie, title)) from movies.csv files."""
    return pipeline | "Movies" >> beam.Create([(movie.movie_id, (movie, title)) for movie, title in read_movies(paths)])


def _first_definition(movies: Iterable[MovieWithTitle]) -> MovieWithTitle:
    return min(movies, key=repr)  # samples of one movie carry the same static features: any one, deterministically


def sample_movies(samples: beam.PCollection) -> beam.PCollection:
    """(movieId, (Movie, "")) from (Rating, Movie) of samples: static features from the samples, no title."""
    return (samples
            | "SampleMovies" >> beam.MapTuple(lambda _, movie: (movie.movie_id, (movie, "")))
            | "OneDefinition" >> beam.CombinePerKey(_first_definition))


def _valid_rating(raw: bytes, movies: Mapping[int, MovieWithTitle], before: Optional[int]
                  ) -> Iterable[sample_features.Rating]:
    try:
        rating = raw_rows.parse_rating(raw_rows.decode(raw))
    except raw_rows.BadRow:
        return  # SampleGen rejected and reported it
    if rating.movie_id in movies and (before is None or rating.timestamp < before):
        yield rating


def raw_ratings(pipeline: beam.Pipeline, ratings_files: Sequence[str], movies: beam.pvalue.AsDict, as_of: str = ""
                ) -> beam.PCollection:
    """Valid ratings of ratings files (ratings.csv or span files) before the as-of time, repeats included
    (`_distinct` drops them where they are grouped)."""
    return (pipeline
            | "RatingsFiles" >> beam.Create(list(ratings_files))
            | "ReadRatings" >> beam.io.ReadAllFromText(skip_header_lines=1, coder=beam.coders.BytesCoder())
            | "ParseRatings" >> beam.FlatMap(_valid_rating, movies, raw_rows.as_of_timestamp(as_of)))


def _int_or_none(value):
    return None if value is None else int(value)


def _value(example: tf.train.Example, name: str):
    feature = example.features.feature.get(name)
    if feature is None:
        return None
    values = getattr(feature, feature.WhichOneof("kind")).value if feature.WhichOneof("kind") else []
    if not values:
        return None
    return values[0].decode("utf-8") if isinstance(values[0], bytes) else values[0]


def sample_rating(path_and_record: Tuple[str, bytes]
                  ) -> Iterator[Tuple[sample_features.Rating, sample_features.Movie]]:
    """The rating and the movie's static features a sample tf.Example carries; none for a sampled negative (a
    movie the user did not rate)."""
    path, record = path_and_record
    example = tf.train.Example.FromString(record)
    if _value(example, features.RATED_KEY) == 0:
        return
    fields = {name: _value(example, name) for name in (features.USER_KEY, features.MOVIE_KEY, features.RATING_KEY,
                                                      features.TIME_KEY)}
    missing = [name for name, value in fields.items() if value is None]
    if missing:
        raise ValueError(f"{path}: a sample has no {missing[0]} (userId={fields[features.USER_KEY]}, "
                         f"movieId={fields[features.MOVIE_KEY]}); the feature snapshot needs every rating's "
                         f"{', '.join(fields)}")
    static = {name: _value(example, name) for name in _MOVIE_STATIC}
    genres = tuple(static[name] for name in _MOVIE_STATIC[1:] if static[name] is not None)
    movie_id = int(fields[features.MOVIE_KEY])
    yield (sample_features.Rating(int(fields[features.USER_KEY]), movie_id, float(fields[features.RATING_KEY]),
                                  int(fields[features.TIME_KEY])),
           sample_features.Movie(movie_id, _int_or_none(static[features.RELEASE_YEAR_KEY]), genres))


def sample_ratings(pipeline: beam.Pipeline, example_patterns: Sequence[str]) -> beam.PCollection:
    """(Rating, Movie) of every sample in the given tf.Example TFRecord files."""
    return (pipeline
            | "ExamplePatterns" >> beam.Create(list(example_patterns))
            | "ReadSamples" >> beam.io.ReadAllFromTFRecord(with_filename=True)
            | "SampleRatings" >> beam.FlatMap(sample_rating))


_RATING = struct.Struct("<qqdq")  # a Rating's fields
_USER_ID, _MOVIE_ID = operator.attrgetter("user_id"), operator.attrgetter("movie_id")
WORK_DIR = "_shards"  # the sharded passes' intermediates, under the output until the job ends


def _keyed(key: Callable[[sample_features.Rating], int]) -> Callable[[sample_features.Rating], Tuple[int, bytes]]:
    return lambda rating: (key(rating), _RATING.pack(*rating.astuple()))


def _distinct(packed_ratings: Iterable[bytes]) -> List[sample_features.Rating]:
    """The grouped ratings, a repeated (user, movie, time) once with its lowest rating: SampleGen also keeps one
    (it rejects the repeats; the run goes on only if it tolerates rejected rows)."""
    kept: Dict[tuple, sample_features.Rating] = {}
    for packed in packed_ratings:
        rating = sample_features.Rating(*_RATING.unpack(packed))
        if rating.key not in kept or rating.rating < kept[rating.key].rating:
            kept[rating.key] = rating
    return list(kept.values())


def _user_line(keyed, movies: Mapping[int, sample_features.Movie], latest: int) -> str:
    user_id, packed_ratings = keyed
    return snapshot.to_line(snapshot.user_entry(user_id, _distinct(packed_ratings), movies, now=latest))


def _movie_line(keyed, source: str, latest: int) -> Iterable[str]:
    movie_id, grouped = keyed
    definitions: List[MovieWithTitle] = list(grouped["movie"])
    if not definitions:
        raise ValueError(f"movieId {movie_id} is rated but has no definition in {source}")
    movie, title = definitions[0]
    yield snapshot.to_line(snapshot.movie_entry(movie, title, _distinct(grouped["ratings"]), now=latest))


def _latest_time(ratings: beam.PCollection) -> beam.PCollection:
    """The latest rating time (0: no ratings), which the movies' cold-start scores are as of."""
    return (ratings | "RatingTimes" >> beam.Map(lambda rating: rating.timestamp)
            | "LatestTime" >> beam.CombineGlobally(functools.partial(max, default=0)))


def _write_entries(by_user: beam.PCollection, by_movie: beam.PCollection, movies: beam.PCollection,
                   all_movies: beam.PCollection, latest: beam.PCollection, out_dir: str, movies_source: str,
                   file_suffix: str = "") -> None:
    """by_user, by_movie: (id, packed Rating); movies: (movieId, (Movie, title)) to write entries of, all_movies:
    every one, for the users' features; latest: the latest rating time of all. Writes users-*.jsonl and
    movies-*.jsonl to out_dir."""
    movies_by_id = beam.pvalue.AsDict(
        all_movies | "MovieById" >> beam.MapTuple(lambda movie_id, movie_with_title: (movie_id, movie_with_title[0])))
    _ = (by_user
         | "GroupByUser" >> beam.GroupByKey()
         | "UserEntries" >> beam.Map(_user_line, movies_by_id, beam.pvalue.AsSingleton(latest))
         | "WriteUsers" >> beam.io.WriteToText(f"{out_dir}/{snapshot.USERS_PREFIX}{file_suffix}",
                                              file_name_suffix=snapshot.ENTRY_SUFFIX))
    _ = ({"movie": movies, "ratings": by_movie}
         | "GroupByMovie" >> beam.CoGroupByKey()
         | "MovieEntries" >> beam.FlatMap(_movie_line, movies_source, beam.pvalue.AsSingleton(latest))
         | "WriteMovies" >> beam.io.WriteToText(f"{out_dir}/{snapshot.MOVIES_PREFIX}{file_suffix}",
                                               file_name_suffix=snapshot.ENTRY_SUFFIX))


# Sources: (pipeline) -> (ratings: Rating, movies: (movieId, (Movie, title)), named movies_source)
Sources = Callable[[beam.Pipeline], Tuple[beam.PCollection, beam.PCollection]]


def _one_pipeline(pipeline: beam.Pipeline, sources: Sources, out_dir: str, movies_source: str) -> None:
    ratings, movies = sources(pipeline)
    by_user = ratings | "ByUser" >> beam.Map(_keyed(_USER_ID))
    by_movie = ratings | "ByMovie" >> beam.Map(_keyed(_MOVIE_ID))
    _write_entries(by_user, by_movie, movies, movies, _latest_time(ratings), out_dir, movies_source)


def _sharded(run_pass: shuffle_shards.Passes, shards: int, sources: Sources, out_dir: str, movies_source: str,
             work_dir: str) -> None:
    """The same stages as `_one_pipeline` as sequential passes: the sources to shards by user and by movie (the
    movies, a few per 100 ratings, to one file with the latest rating time), then per shard its users' and its
    movies' entries."""
    by_user, by_movie = (os.path.join(work_dir, d) for d in ("by_user", "by_movie"))
    movies_file = os.path.join(work_dir, "movies.pickle")

    def partition(pipeline):
        ratings, movies = sources(pipeline)
        _ = (movies | "AllMovies" >> beam.combiners.ToList()
             | "PickleMovies" >> beam.Map(lambda all_movies, latest: pickle.dumps((all_movies, latest)),
                                          beam.pvalue.AsSingleton(_latest_time(ratings)))
             | "SaveMovies" >> beam.Map(shuffle_shards.write_file, movies_file))
        for name, key, directory in (("User", _USER_ID, by_user), ("Movie", _MOVIE_ID, by_movie)):
            _ = (ratings | f"By{name}" >> beam.Map(_keyed(key))
                 | f"Write{name}Shards" >> beam.ParDo(shuffle_shards.WriteShards(directory, shards)))

    def shard_pass(shard: int, pipeline):
        saved = (pipeline | "ListMovies" >> beam.Create([movies_file])
                 | "ReadMovies" >> beam.Map(lambda path: pickle.loads(shuffle_shards.read_file(path))))
        movies = saved | "Movies" >> beam.FlatMap(lambda movies_and_latest: movies_and_latest[0])
        _write_entries(
            shuffle_shards.read_shards(pipeline, shuffle_shards.path(by_user, shard), _RATING.size, "UserShard"),
            shuffle_shards.read_shards(pipeline, shuffle_shards.path(by_movie, shard), _RATING.size, "MovieShard"),
            movies | "InShard" >> beam.Filter(lambda keyed: shuffle_shards.shard_of(keyed[0], shards) == shard),
            movies, saved | "Latest" >> beam.Map(lambda movies_and_latest: movies_and_latest[1]), out_dir,
            movies_source, f"-{shard:05d}-of-{shards:05d}")

    run_pass(partition)
    for shard in range(shards):
        run_pass(functools.partial(shard_pass, shard))


def run(make_pipeline: Callable[[], beam.Pipeline], sources: Sources, shards: int, out_dir: str,
        movies_source: str) -> None:
    """The whole job, as one pipeline or as `shards` sharded passes, each a pipeline of make_pipeline() run to its
    end. Intermediates (in out_dir/WORK_DIR) are deleted when the job ends, also when it fails."""
    run_pass = shuffle_shards.Passes(make_pipeline)
    if shards == 1:
        run_pass(functools.partial(_one_pipeline, sources=sources, out_dir=out_dir, movies_source=movies_source))
        return
    with shuffle_shards.work_dir(os.path.join(out_dir, WORK_DIR)) as work_dir:
        _sharded(run_pass, shards, sources, out_dir, movies_source, work_dir)
