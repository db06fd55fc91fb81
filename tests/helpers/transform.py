"""Rows for tf.Transform and their transformed tf.Examples, as the Transform component writes them, for the tests
of preprocessing_fn, the Trainer and the Evaluator."""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io

from models import features, preprocessing, schema

ROWS = 300  # transformed_examples' rows


def raw_row(user, movie, genre2="", avg_rating=3.5, count=10, label=1, negative=False):
    """A raw row of lists, as Transform reads a tf.Example; `negative`: a sampled negative (no rating, rated 0)."""
    row = {c.name: [] for c in features.EXAMPLE_COLUMNS}
    row.update(movieId=[movie], userId=[user], rating=[] if negative else [4.0 if label else 2.0], timestamp=[1000],
               label=[label], rated=[0] if negative else [],
               releaseYear=[1995], movieGenre1=[b"Drama"], movieRatingCount=[count], userRatingCount=[count],
               movieRatingStddev=[0.5], userAvgRating=[3.0], userRatingStddev=[1.0])
    if genre2:
        row["movieGenre2"] = [genre2.encode()]
    if avg_rating is not None:
        row["movieAvgRating"] = [avg_rating]
    return row


def transformed_examples(tmp_path_factory, negatives: int = 0):
    """(train file pattern, TFTransformOutput): gzipped transformed tf.Examples, as the Transform component writes;
    the last `negatives` rows are sampled negatives."""
    rng = np.random.default_rng(0)
    rows = [raw_row(int(rng.integers(1, 40)), int(rng.integers(1, 30)), avg_rating=float(rng.uniform(2, 5)),
                    count=int(rng.integers(1, 500)), label=int(rng.random() < 0.5)) for _ in range(ROWS - negatives)]
    rows += [raw_row(int(rng.integers(1, 40)), int(rng.integers(1, 30)), count=int(rng.integers(0, 5)), label=0,
                     negative=True) for _ in range(negatives)]
    rng.shuffle(rows)
    for second, row in enumerate(rows):
        row["timestamp"] = [1000 + second]
    return transform_rows(rows, tmp_path_factory)


def transform_rows(rows, tmp_path_factory):
    """(train file pattern, TFTransformOutput) of raw rows (raw_row's), as the Transform component writes them."""
    metadata = dataset_metadata.DatasetMetadata(schema.build_schema())
    out_dir = tmp_path_factory.mktemp("transform")
    with tft_beam.Context(temp_dir=str(tmp_path_factory.mktemp("tft")),
                          force_tf_compat_v1=preprocessing.FORCE_TF_COMPAT_V1):
        (data, out_metadata), transform_fn = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(
            preprocessing.preprocessing_fn)
        _ = transform_fn | tft_beam.WriteTransformFn(str(out_dir / "graph"))
    # The raw schema beside the graph, as the Transform component writes it: the serving signatures parse with it.
    metadata_io.write_metadata(metadata, str(out_dir / "graph" / tft.TFTransformOutput.RAW_METADATA_DIR))
    coder = tft.coders.ExampleProtoCoder(out_metadata.schema)
    with tf.io.TFRecordWriter(str(out_dir / "train.gz"), options="GZIP") as writer:
        for row in data:
            writer.write(coder.encode(row))
    return [str(out_dir / "*.gz")], tft.TFTransformOutput(str(out_dir / "graph"))
