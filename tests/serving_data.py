"""Helpers of the serving tests: the e2e run's raw files and eval samples, values as a tf.Example holds them."""
from __future__ import annotations

import collections
import csv
import dataclasses
import os
from typing import Dict, List

import numpy as np
import tensorflow as tf
from tfx.types import artifact_utils, standard_artifacts

from models import features, sample_features
from pipeline import configs
from tests.conftest import E2E_DATA_SIZE


def raw_dir(e2e_run) -> str:
    """The raw MovieLens files the e2e run's samples were made of (the synthetic dataset's raw/)."""
    return os.path.join(e2e_run.paths.data_dir, f"synthetic-{E2E_DATA_SIZE}-seed{configs.DEFAULT_DATA_SEED}", "raw")


def as_in_example(values: dict) -> dict:
    """Feature values as a tf.Example holds them: floats are float32."""
    return {name: float(np.float32(value)) if value is not None and features.COLUMNS_BY_NAME[name].kind == "float"
            else value for name, value in values.items()}


@dataclasses.dataclass
class RawData:
    movies: Dict[int, sample_features.Movie]
    titles: Dict[int, str]
    by_user: Dict[int, List[sample_features.Rating]]
    by_movie: Dict[int, List[sample_features.Rating]]


def read_raw(directory: str) -> RawData:
    """ratings.csv and movies.csv, read apart from the pipeline's own readers."""
    data = RawData({}, {}, collections.defaultdict(list), collections.defaultdict(list))
    with open(os.path.join(directory, "movies.csv"), newline="") as f:
        for row in csv.DictReader(f):
            movie = sample_features.parse_movie(int(row["movieId"]), row["title"], row["genres"])
            data.movies[movie.movie_id], data.titles[movie.movie_id] = movie, row["title"]
    with open(os.path.join(directory, "ratings.csv"), newline="") as f:
        for row in csv.DictReader(f):
            r = sample_features.Rating(int(row["userId"]), int(row["movieId"]), float(row["rating"]),
                                       int(row["timestamp"]))
            data.by_user[r.user_id].append(r)
            data.by_movie[r.movie_id].append(r)
    return data


def _column_value(column: features.Column, feature: tf.train.Feature):
    values = {"int": feature.int64_list.value, "float": feature.float_list.value,
              "string": feature.bytes_list.value}[column.kind]
    if not values:
        return None
    return values[0].decode() if column.kind == "string" else values[0]


def eval_examples(e2e_run, count: int) -> list:
    """(serialized tf.Example, sample dict) of the first `count` eval samples the run's Evaluator read."""
    evaluator = e2e_run.record().node("Evaluator")
    examples = standard_artifacts.Examples()
    examples.set_mlmd_artifact(evaluator.inputs["examples"][0])
    files = sorted(tf.io.gfile.glob(os.path.join(artifact_utils.get_split_uri([examples], "eval"), "*")))
    out = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP").take(count).as_numpy_iterator():
        feature = tf.train.Example.FromString(record).features.feature
        out.append((record, {c.name: _column_value(c, feature[c.name]) if c.name in feature else None
                             for c in features.EXAMPLE_COLUMNS}))
    return out
