"""Serialized tf.Example requests, as a client of TensorFlow Serving's predict/classify on tf.Example builds them.

Two ways to build the same bytes:
- `example_bytes`: one tf.train.Example per candidate with protobuf's Python API (the textbook client);
- `ExampleTable`: each movie's part serialized once, the user's once per request, then joined: protobuf parses
  concatenated messages as their merge, so user part + movie part is one Example with both sets of features.
"""
from __future__ import annotations

from typing import List, Mapping, Sequence

import tensorflow as tf

from models import features
from recommender import serve, snapshot

_LISTS = {
    "string": lambda v: tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(v).encode()])),
    "float": lambda v: tf.train.Feature(float_list=tf.train.FloatList(value=[float(v)])),
    "int": lambda v: tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v)])),
}


def example_bytes(row: Mapping[str, object]) -> bytes:
    """The model's features of a request row as a serialized tf.Example; a missing value is left out."""
    feature = {name: _LISTS[features.COLUMNS_BY_NAME[name].kind](row[name])
               for name in features.MODEL_FEATURE_KEYS if row.get(name) is not None}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


class ExampleTable:
    """Every snapshot movie's features serialized once; a request joins the user's part to each candidate's."""

    def __init__(self, movies: Mapping[int, dict]):
        self._parts = {movie_id: example_bytes({features.MOVIE_KEY: movie_id, **entry[snapshot.FEATURES]})
                       for movie_id, entry in movies.items()}

    def request(self, user_id: int, user_features: Mapping[str, object], movie_ids: Sequence[int]) -> List[bytes]:
        user = example_bytes({features.USER_KEY: user_id, **user_features})
        return [user + self._parts[m] for m in movie_ids]


def naive_request(user_id: int, user_features: Mapping[str, object], movies: Mapping[int, dict],
                  movie_ids: Sequence[int]) -> List[bytes]:
    """One tf.train.Example built and serialized per candidate."""
    rows = serve.request_rows(user_id, user_features, [movies[m] for m in movie_ids])
    return [example_bytes(row) for row in rows]
