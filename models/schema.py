"""The curated schema (`schema/schema.pbtxt`) generated from the feature spec.

`python -m models.schema --write` regenerates the file; a test keeps the committed file in sync.

It also holds the drift comparators (DRIFT_THRESHOLDS, the one place of their thresholds): the DataGate compares
the candidate's training statistics with the serving version's (docs/data-and-validation.md#drift).
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
# Integer ids the model embeds: categorical for TFDV (StatisticsGen counts their values, with the schema as input),
# so that drift compares which ids the examples hold, not their numeric spread.
CATEGORICAL_IDS = tuple(f.name for f in features.CATEGORICAL_FEATURES
                        if features.COLUMNS_BY_NAME[f.name].kind == "int")
GENRE_KEYS = features.MOVIE_GENRE_KEYS + features.USER_GENRE_KEYS

# Drift between the serving version's training statistics and the candidate's (TFDV's drift_comparator), per
# feature: (comparator, threshold). Jensen-Shannon divergence (log 2: 0 the same, 1 disjoint) over the values of
# the ids and over the standard histograms of the numbers, the rating and the label included; L-infinity (the
# largest change of one value's share) for the genres. Measured (bench/bench_drift.py, docs/data-and-validation.md
# #drift): consecutive 90-day runs of ml-latest-small-2015 drift at most 0.007 (ids), 0.003 (genres), 0.021
# (numbers), runs a year apart on generated data 0.028, 0.023 and 0.037; a rating one star lower or rounded to whole
# stars moves the rating 0.27-0.35, re-numbered ids 1.0, Drama and Comedy swapped the genres 0.26-0.35.
L_INFINITY, JENSEN_SHANNON = "infinity_norm", "jensen_shannon_divergence"
ID_JENSEN_SHANNON = 0.1
GENRE_L_INFINITY = 0.05
NUMERIC_JENSEN_SHANNON = 0.1
# The features that know time are left out: ages and recencies move with the cut by construction (the user's
# recency drifted 0.15 between 180-day periods of generated data), and the rating times they come from are the
# ratings' own, whose other features are compared.
DRIFT_THRESHOLDS = {
    **{name: (JENSEN_SHANNON, ID_JENSEN_SHANNON) for name in CATEGORICAL_IDS},
    **{name: (L_INFINITY, GENRE_L_INFINITY) for name in GENRE_KEYS},
    **{name: (JENSEN_SHANNON, NUMERIC_JENSEN_SHANNON)
       for name in (features.RATING_KEY, features.LABEL_KEY, *(f.name for f in features.NUMERIC_FEATURES))
       if name not in features.TIME_FEATURE_KEYS},
}


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
        if column.name in CATEGORICAL_IDS:
            feature.int_domain.is_categorical = True
    elif column.kind == "float":
        low, high = column.value_range
        feature.float_domain.CopyFrom(schema_pb2.FloatDomain(min=low, max=high, disallow_nan=True,
                                                             disallow_inf=True))
    elif column.domain:
        feature.domain = GENRE_DOMAIN
    if column.name in _NOT_AT_SERVING:
        feature.not_in_environment.append(SERVING)
    if column.name in DRIFT_THRESHOLDS:
        comparator, threshold = DRIFT_THRESHOLDS[column.name]
        getattr(feature.drift_comparator, comparator).threshold = threshold


def build_schema() -> schema_pb2.Schema:
    schema = schema_pb2.Schema()
    schema.default_environment.extend([TRAINING, SERVING])
    schema.string_domain.add(name=GENRE_DOMAIN, value=list(features.GENRES))
    for column in features.COLUMNS:
        _add_feature(schema, column)
    for column in features.TIME_COLUMNS:  # not in the CSV sample format: CSV samples have none
        _add_feature(schema, column)
        schema.feature[-1].ClearField("presence")
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
