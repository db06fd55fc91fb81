"""FeatureSnapshot's Beam job: ratings and movies in, one snapshot entry per user and per movie out.

Ratings come from the raw ratings.csv that SampleGen read (every valid rating, also the ones no sample was
made of: a user's first ratings, a movie without genres), or, without raw files, from the samples themselves.
Rows SampleGen rejects (unparseable, unknown movie) are left out here too, with SampleGen's own parser.
"""
from __future__ import annotations

import csv
import dataclasses
from typing import Iterable, List, Mapping, Sequence, Tuple

import apache_beam as beam
import tensorflow as tf

from components import features, sample_features
from components.feature_snapshot import snapshot
from components.sample_gen import raw_rows

MovieWithTitle = Tuple[sample_features.Movie, str]
_MOVIE_STATIC = ("releaseYear", "movieGenre1", "movieGenre2", "movieGenre3")


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


def _valid_rating(raw: bytes, movies: Mapping[int, MovieWithTitle]) -> Iterable[sample_features.Rating]:
    try:
        rating = raw_rows.parse_rating(raw_rows.decode(raw))
    except raw_rows.BadRow:
        return  # SampleGen rejected and reported it
    if rating.movie_id in movies:
        yield rating


def raw_ratings(pipeline: beam.Pipeline, ratings_pattern: str, movies: beam.pvalue.AsDict) -> beam.PCollection:
    """Valid ratings of ratings.csv files; a repeated (user, movie, time) is kept once, as SampleGen keeps it once
    (it rejects the repeats; the run goes on only if it tolerates rejected rows)."""
    return (pipeline
            | "ReadRatings" >> beam.io.ReadFromText(ratings_pattern, skip_header_lines=1,
                                                    coder=beam.coders.BytesCoder())
            | "ParseRatings" >> beam.FlatMap(_valid_rating, movies)
            | "KeyRatings" >> beam.Map(lambda r: (r.key, dataclasses.astuple(r)))
            | "OneRatingPerKey" >> beam.CombinePerKey(min)
            | "Ratings" >> beam.MapTuple(lambda _, values: sample_features.Rating(*values)))


def _value(example: tf.train.Example, name: str):
    feature = example.features.feature.get(name)
    if feature is None:
        return None
    values = getattr(feature, feature.WhichOneof("kind")).value if feature.WhichOneof("kind") else []
    if not values:
        return None
    return values[0].decode("utf-8") if isinstance(values[0], bytes) else values[0]


def sample_rating(path_and_record: Tuple[str, bytes]) -> Tuple[sample_features.Rating, sample_features.Movie]:
    """The rating and the movie's static features a sample tf.Example carries."""
    path, record = path_and_record
    example = tf.train.Example.FromString(record)
    fields = {name: _value(example, name) for name in (features.USER_KEY, features.MOVIE_KEY, features.RATING_KEY,
                                                      "timestamp")}
    missing = [name for name, value in fields.items() if value is None]
    if missing:
        raise ValueError(f"{path}: a sample has no {missing[0]} (userId={fields[features.USER_KEY]}, "
                         f"movieId={fields[features.MOVIE_KEY]}); the feature snapshot needs every rating's "
                         f"{', '.join(fields)}")
    static = {name: _value(example, name) for name in _MOVIE_STATIC}
    genres = tuple(static[name] for name in _MOVIE_STATIC[1:] if static[name] is not None)
    movie_id = int(fields[features.MOVIE_KEY])
    return (sample_features.Rating(int(fields[features.USER_KEY]), movie_id, float(fields[features.RATING_KEY]),
                                   int(fields["timestamp"])),
            sample_features.Movie(movie_id, None if static["releaseYear"] is None else int(static["releaseYear"]),
                                  genres))


def sample_ratings(pipeline: beam.Pipeline, example_patterns: Sequence[str]) -> beam.PCollection:
    """(Rating, Movie) of every sample in the given tf.Example TFRecord files."""
    return (pipeline
            | "ExamplePatterns" >> beam.Create(list(example_patterns))
            | "ReadSamples" >> beam.io.ReadAllFromTFRecord(with_filename=True)
            | "SampleRatings" >> beam.Map(sample_rating))


def _user_line(keyed, movies: Mapping[int, sample_features.Movie]) -> str:
    user_id, ratings = keyed
    return snapshot.to_line(snapshot.user_entry(user_id, ratings, movies))


def _movie_line(keyed, source: str) -> Iterable[str]:
    movie_id, grouped = keyed
    definitions: List[MovieWithTitle] = list(grouped["movie"])
    if not definitions:
        raise ValueError(f"movieId {movie_id} is rated but has no definition in {source}")
    movie, title = definitions[0]
    yield snapshot.to_line(snapshot.movie_entry(movie, title, grouped["ratings"]))


def write_snapshot(ratings: beam.PCollection, movies: beam.PCollection, out_dir: str, movies_source: str) -> None:
    """ratings: Rating; movies: (movieId, (Movie, title)) from movies_source. Writes users-*.jsonl and
    movies-*.jsonl to out_dir."""
    movies_by_id = beam.pvalue.AsDict(movies | "MovieById" >> beam.MapTuple(lambda movie_id, mt: (movie_id, mt[0])))
    _ = (ratings
         | "ByUser" >> beam.Map(lambda r: (r.user_id, r))
         | "GroupByUser" >> beam.GroupByKey()
         | "UserEntries" >> beam.Map(_user_line, movies_by_id)
         | "WriteUsers" >> beam.io.WriteToText(f"{out_dir}/{snapshot.USERS_PREFIX}",
                                              file_name_suffix=snapshot.ENTRY_SUFFIX))
    _ = ({"movie": movies, "ratings": ratings | "ByMovie" >> beam.Map(lambda r: (r.movie_id, r))}
         | "GroupByMovie" >> beam.CoGroupByKey()
         | "MovieEntries" >> beam.FlatMap(_movie_line, movies_source)
         | "WriteMovies" >> beam.io.WriteToText(f"{out_dir}/{snapshot.MOVIES_PREFIX}",
                                               file_name_suffix=snapshot.ENTRY_SUFFIX))
