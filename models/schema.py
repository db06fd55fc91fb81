"""The curated schema (`schema/schema.pbtxt`) generated from the feature spec.

`python -m models.schema --write` regenerates the file; a test keeps the committed file in sync.
"""
from __future__ import annotations

import argparse
import os
import sys

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from models import features

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schema", "schema.pbtxt")
GENRE_DOMAIN = "genre"
TRAINING, SERVING = "TRAINING", "SERVING"
# Known at training time only: a serving request has no rating yet.
_NOT_AT_SERVING = (features.LABEL_KEY, features.RATING_KEY, features.RATED_KEY)
_TYPES = {"int": schema_pb2.INT, "float": schema_pb2.FLOAT, "string": schema_pb2.BYTES}


def _add_feature(schema: schema_pb2.Schema, column: features.Column) -> None:
    feature = schema.feature.add(name=column.name, type=_TYPES[column.kind])
    if column.required:
        feature.presence.min_fraction = 1.0
        feature.presence.min_count = 1
        feature.shape.dim.add(size=1)
    else:
        feature.value_count.max = 1
        feature.presence.min_count = 1  # optional per example, but a split where it never occurs lost the column
    if column.kind == "int" and column.value_range:
        feature.int_domain.min, feature.int_domain.max = (int(v) for v in column.value_range)
    elif column.kind == "float":
        low, high = column.value_range
        feature.float_domain.CopyFrom(schema_pb2.FloatDomain(min=low, max=high, disallow_nan=True,
                                                             disallow_inf=True))
    elif column.domain:
        feature.domain = GENRE_DOMAIN
    if column.name in _NOT_AT_SERVING:
        feature.not_in_environment.append(SERVING)


def build_schema() -> schema_pb2.Schema:
    schema = schema_pb2.Schema()
    schema.default_environment.extend([TRAINING, SERVING])
    schema.string_domain.add(name=GENRE_DOMAIN, value=list(features.GENRES))
    for column in features.COLUMNS:
        _add_feature(schema, column)
    for column in features.SAMPLED_COLUMNS:  # absent from the data of real ratings only (CSV samples, eval)
        _add_feature(schema, column)
        schema.feature[-1].ClearField("presence")
    return schema


def schema_text() -> str:
    header = "# Generated from models/features.py by `python -m models.schema --write`; do not edit.\n"
    return header + text_format.MessageToString(build_schema())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"write {SCHEMA_PATH}")
    args = parser.parse_args(argv)
    if args.write:
        with open(SCHEMA_PATH, "w") as f:
            f.write(schema_text())
        print(f"wrote {SCHEMA_PATH}")
    else:
        sys.stdout.write(schema_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
