"""The one reader of Examples artifacts' splits: gzipped tf.Example TFRecords back as samples (dicts of the
feature columns), read through tf.io.gfile so object storage works too."""
from __future__ import annotations

import os
from typing import Dict, Iterator, Optional, Sequence

import numpy as np
import tensorflow as tf

from models import features

_PARSED_DTYPES = {"int": tf.int64, "float": tf.float32, "string": tf.string}


def read_samples(split_dir: str, columns: Optional[Sequence[str]] = None, batch_size: int = 4096
                 ) -> Iterator[Dict[str, object]]:
    """The tf.Examples of one split directory back as samples: every column (or only `columns`), None where
    absent. Parsed in batches: a proto per example took most of a catalogue evaluation's time."""
    wanted = [c for c in features.EXAMPLE_COLUMNS if columns is None or c.name in columns]
    parse_spec = {c.name: tf.io.RaggedFeature(_PARSED_DTYPES[c.kind], row_splits_dtype=tf.int64) for c in wanted}

    def parse(records):
        parsed = tf.io.parse_example(records, parse_spec)
        return {name: (values.values, values.row_splits) for name, values in parsed.items()}

    files = tf.io.gfile.glob(os.path.join(split_dir, "*.gz"))
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(batch_size).map(parse)
    for batch in dataset.as_numpy_iterator():
        by_column = []
        for column in wanted:
            values, splits = batch[column.name]
            first = values[np.minimum(splits[:-1], max(len(values) - 1, 0))].tolist() if len(values) else \
                [None] * (len(splits) - 1)
            if column.kind == "string":
                first = [v.decode("utf-8") if isinstance(v, bytes) else v for v in first]
            by_column.append([v if present else None for v, present in zip(first, (splits[1:] > splits[:-1]))])
        for row in zip(*by_column):
            yield dict(zip((c.name for c in wanted), row))
