"""The single source of truth for the sample format and the model's features.

Schema generation, `preprocessing_fn`, the Keras model, the serving signatures and the evaluation slices all
read this module; nothing else names a feature with a string literal.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

# Genres of MovieLens (movies.csv `genres`); anything else is a schema anomaly.
GENRES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
    "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)

EMBEDDING_DIM = 10


@dataclasses.dataclass(frozen=True)
class Column:
    """One column of the sample CSV (SparrowRecSys sample format).

    kind: "int", "float" or "string". `required` columns must be present in every example.
    `value_range` is the schema's domain for numbers; string columns listing `domain` are closed sets.
    """
    name: str
    kind: str
    required: bool = True
    value_range: Optional[Tuple[float, float]] = None
    domain: Optional[Tuple[str, ...]] = None


@dataclasses.dataclass(frozen=True)
class Categorical:
    """A categorical model input: a learned vocabulary with OOV buckets, then an embedding."""
    name: str
    oov_buckets: int
    embedding_dim: int = EMBEDDING_DIM
    min_frequency: int = 0  # rarer values share the OOV buckets
    shared_vocabulary: Optional[str] = None  # features with the same values learn one vocabulary together

    @property
    def vocabulary(self) -> str:
        """The name Transform gives the feature's vocabulary file; the model sizes embeddings from it."""
        return self.shared_vocabulary or self.name


@dataclasses.dataclass(frozen=True)
class Numeric:
    """A numeric model input, z-score normalized by Transform; a missing value becomes the mean (0 after scaling)."""
    name: str
    log1p: bool = False  # heavy-tailed counts are normalized on log scale


@dataclasses.dataclass(frozen=True)
class SliceBucket:
    """An evaluation slice made by bucketing a numeric column at fixed boundaries."""
    name: str
    source: str
    boundaries: Tuple[float, ...]


# Names the feature code builds rows with (sample_features, the feature snapshot, recommend).
MOVIE_KEY = "movieId"
USER_KEY = "userId"
RATING_KEY = "rating"
TIME_KEY = "timestamp"
LABEL_KEY = "label"
RELEASE_YEAR_KEY = "releaseYear"
MOVIE_RATING_COUNT_KEY = "movieRatingCount"
MOVIE_AVG_RATING_KEY = "movieAvgRating"
MOVIE_RATING_STDDEV_KEY = "movieRatingStddev"
USER_RATING_COUNT_KEY = "userRatingCount"
USER_AVG_RELEASE_YEAR_KEY = "userAvgReleaseYear"
USER_RELEASE_YEAR_STDDEV_KEY = "userReleaseYearStddev"
USER_AVG_RATING_KEY = "userAvgRating"
USER_RATING_STDDEV_KEY = "userRatingStddev"
# Features that know time (sample_features.movie_time_features, user_time_features).
MOVIE_RECENT_COUNT_KEYS = {7: "movieRatingCount7d", 30: "movieRatingCount30d", 90: "movieRatingCount90d"}
MOVIE_AGE_KEY = "movieSecondsSinceFirstRating"
MOVIE_TREND_KEY = "movieTrend"  # the share of its ratings that came in the last TREND_DAYS
TREND_DAYS = 90
USER_RECENCY_KEY = "userSecondsSinceLastRating"
# Numbered columns: prefix + 1, 2, ...
MOVIE_GENRE_PREFIX = "movieGenre"
USER_GENRE_PREFIX = "userGenre"
USER_RATED_MOVIE_PREFIX = "userRatedMovie"


def _genre_columns(prefix: str, count: int) -> Tuple[Column, ...]:
    # The first movie genre is always known; the others and all user genres may be empty.
    return tuple(
        Column(f"{prefix}{i}", "string", required=(prefix == MOVIE_GENRE_PREFIX and i == 1), domain=GENRES)
        for i in range(1, count + 1))


YEAR_RANGE = (1870.0, 2030.0)
RATING_RANGE = (0.5, 5.0)
COUNT_RANGE = (0.0, 1e9)

# Every column of the sample CSV, in file order.
COLUMNS: Tuple[Column, ...] = (
    Column(MOVIE_KEY, "int", value_range=(1, 1e9)),
    Column(USER_KEY, "int", value_range=(1, 1e9)),
    Column(RATING_KEY, "float", required=False, value_range=RATING_RANGE),  # a sampled negative has none
    Column(TIME_KEY, "int", value_range=(0, 4e9)),
    Column(LABEL_KEY, "int", value_range=(0, 1)),
    Column(RELEASE_YEAR_KEY, "int", required=False, value_range=YEAR_RANGE),
    *_genre_columns(MOVIE_GENRE_PREFIX, 3),
    Column(MOVIE_RATING_COUNT_KEY, "int", required=False, value_range=COUNT_RANGE),
    Column(MOVIE_AVG_RATING_KEY, "float", required=False, value_range=RATING_RANGE),
    Column(MOVIE_RATING_STDDEV_KEY, "float", required=False, value_range=(0.0, 5.0)),
    *(Column(f"{USER_RATED_MOVIE_PREFIX}{i}", "int", required=False, value_range=(1, 1e9)) for i in range(1, 6)),
    Column(USER_RATING_COUNT_KEY, "int", required=False, value_range=COUNT_RANGE),
    # A whole year, as SparrowRecSys writes it (CSV type inference then reads it as INT).
    Column(USER_AVG_RELEASE_YEAR_KEY, "int", required=False, value_range=YEAR_RANGE),
    Column(USER_RELEASE_YEAR_STDDEV_KEY, "float", required=False, value_range=(0.0, 200.0)),
    Column(USER_AVG_RATING_KEY, "float", required=False, value_range=RATING_RANGE),
    Column(USER_RATING_STDDEV_KEY, "float", required=False, value_range=(0.0, 5.0)),
    *_genre_columns(USER_GENRE_PREFIX, 5),
)
COLUMN_NAMES = tuple(c.name for c in COLUMNS)

# Point-in-time features that know time, in SampleGen's samples and the feature snapshot. Not columns of the CSV
# sample format (SparrowRecSys' own, which sample CSVs and the generator's samples keep), so they are optional.
TIME_COLUMNS: Tuple[Column, ...] = (
    *(Column(key, "int", required=False, value_range=COUNT_RANGE) for key in MOVIE_RECENT_COUNT_KEYS.values()),
    Column(MOVIE_AGE_KEY, "int", required=False, value_range=(0, 4e9)),
    Column(MOVIE_TREND_KEY, "float", required=False, value_range=(0.0, 1.0)),
    Column(USER_RECENCY_KEY, "int", required=False, value_range=(0, 4e9)),
)
TIME_COLUMN_NAMES = tuple(c.name for c in TIME_COLUMNS)

# SampleGen's sampled negatives (its option negatives_per_rating) carry rated=0: a movie the user had not rated by
# the sample's time, label 0, no rating. A real rating has no `rated` (it means 1), so the CSV sample format and
# every sample of a real rating are unchanged.
RATED_KEY = "rated"
SAMPLED_COLUMNS: Tuple[Column, ...] = (Column(RATED_KEY, "int", required=False, value_range=(0, 1)),)
# Every column a tf.Example sample may hold.
EXAMPLE_COLUMNS = COLUMNS + TIME_COLUMNS + SAMPLED_COLUMNS
COLUMNS_BY_NAME = {c.name: c for c in EXAMPLE_COLUMNS}

POSITIVE_RATING = 3.5  # label = rating >= 3.5
MOVIE_GENRE_KEYS = tuple(c.name for c in COLUMNS if c.name.startswith(MOVIE_GENRE_PREFIX))
USER_GENRE_KEYS = tuple(c.name for c in COLUMNS if c.name.startswith(USER_GENRE_PREFIX))

# The eight genre columns share one vocabulary: one analyzer pass instead of eight (each vocabulary costs Transform
# its own shuffle), and a genre gets the same index whichever column it is in. Each keeps its own embedding.
GENRE_VOCABULARY = "genre"
CATEGORICAL_FEATURES: Tuple[Categorical, ...] = (
    Categorical(MOVIE_KEY, oov_buckets=10),
    Categorical(USER_KEY, oov_buckets=100),
    *(Categorical(f"movieGenre{i}", oov_buckets=1, shared_vocabulary=GENRE_VOCABULARY) for i in range(1, 4)),
    *(Categorical(f"userGenre{i}", oov_buckets=1, shared_vocabulary=GENRE_VOCABULARY) for i in range(1, 6)),
)

NUMERIC_FEATURES: Tuple[Numeric, ...] = (
    Numeric(RELEASE_YEAR_KEY),
    Numeric(MOVIE_RATING_COUNT_KEY, log1p=True),
    Numeric(MOVIE_AVG_RATING_KEY),
    Numeric(MOVIE_RATING_STDDEV_KEY),
    Numeric(USER_RATING_COUNT_KEY, log1p=True),
    Numeric(USER_AVG_RATING_KEY),
    Numeric(USER_RATING_STDDEV_KEY),
    *(Numeric(key, log1p=True) for key in MOVIE_RECENT_COUNT_KEYS.values()),
    Numeric(MOVIE_AGE_KEY, log1p=True),
    Numeric(MOVIE_TREND_KEY),
    Numeric(USER_RECENCY_KEY, log1p=True),
)
# The model reads these only with its hyperparameter time_features (models.model.HParams).
TIME_FEATURE_KEYS = TIME_COLUMN_NAMES

MODEL_FEATURE_KEYS = tuple(f.name for f in CATEGORICAL_FEATURES + NUMERIC_FEATURES)

# Evaluation slices: raw categorical columns and buckets that Transform adds as extra outputs.
SLICE_FEATURE_KEYS = ("movieGenre1",)
SLICE_BUCKETS: Tuple[SliceBucket, ...] = (
    SliceBucket("userActivity", "userRatingCount", (5, 20, 50, 200)),
    SliceBucket("moviePopularity", "movieRatingCount", (10, 100, 1000, 10000)),
    SliceBucket("releaseDecade", "releaseYear", tuple(float(y) for y in range(1930, 2030, 10))),
)

# A missing category becomes this token, kept in the vocabulary: "no second genre" is information.
# (tf.Transform leaves empty strings out of vocabularies, so it cannot be "".)
MISSING_CATEGORY = "<missing>"


def transformed_name(key: str) -> str:
    return f"{key}_xf"


TRANSFORMED_LABEL_KEY = transformed_name(LABEL_KEY)
TRANSFORMED_RATED_KEY = transformed_name(RATED_KEY)
# Passed through Transform, not a model input: the Trainer holds out the latest training records for validation.
TRANSFORMED_TIME_KEY = transformed_name(TIME_KEY)
