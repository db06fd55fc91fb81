"""The drift the DataGate measures between consecutive runs, to choose the schema's thresholds
(models/schema.py DRIFT_THRESHOLDS; docs/data-and-validation.md#drift).

    python -m bench.bench_drift                                  # the periods of .work/bench-replay (bench_replay)
    python -m bench.bench_drift --work-dir W                     # another replay's work dir
    python -m bench.bench_drift --movielens DIR --start 2013-04-09 --every 90d --periods 8   # SampleGen directly

For each period, the training split's statistics as StatisticsGen makes them (TFDV with the schema: the ids
categorical) from that period's SampleGen examples (the replay's ML Metadata has them; without a replay, the real
SampleGen executor as of each boundary); then every drift comparator between consecutive periods, as the DataGate
compares a candidate with the version a period earlier: L-infinity for categorical features, Jensen-Shannon
divergence over the standard and the quantiles histograms. Beside them the same comparisons against constructed
shifts of the last period's examples, on the whole split and on its new ratings only (those after the previous
period's newest training rating: a shift in new data alone reaches the cumulative training split only so far):
ratings one star lower, ratings rounded up to whole stars, the ids re-numbered, two genres swapped.
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from bench import common

L_INFINITY, JSD_STANDARD, JSD_QUANTILES = "L-infinity", "JSD standard", "JSD quantiles"
COMPARATORS = (L_INFINITY, JSD_STANDARD, JSD_QUANTILES)


def statistics_of(examples_dir: str, schema):
    """The statistics StatisticsGen writes for one split directory of tf.Examples, given the schema."""
    import tensorflow_data_validation as tfdv

    pattern = os.path.join(examples_dir, "*")
    return tfdv.generate_statistics_from_tfrecord(pattern, stats_options=tfdv.StatsOptions(schema=schema))


def comparison_schema(schema, comparator: str):
    """The schema with one comparator on every feature the DataGate compares (models/schema.py)."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    from models import schema as schema_lib

    compared = schema_pb2.Schema()
    compared.CopyFrom(schema)
    for feature in compared.feature:
        feature.ClearField("drift_comparator")
        if feature.name not in schema_lib.DRIFT_THRESHOLDS:
            continue
        if comparator == L_INFINITY:
            feature.drift_comparator.infinity_norm.threshold = 1.0
        else:
            jsd = feature.drift_comparator.jensen_shannon_divergence
            jsd.threshold = 1.0
            jsd.source.type = (schema_pb2.HistogramSelection.STANDARD if comparator == JSD_STANDARD
                               else schema_pb2.HistogramSelection.QUANTILES)
    return compared


def drift(current, previous, schema) -> Dict[str, Dict[str, float]]:
    """{feature: {comparator: value}} between two statistics, every comparator TFDV can measure for the feature."""
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2

    categorical = {f.name for f in schema.feature if f.type == schema_pb2.BYTES or f.int_domain.is_categorical}
    found: Dict[str, Dict[str, float]] = {}
    for comparator in COMPARATORS:
        anomalies = tfdv.validate_statistics(current, comparison_schema(schema, comparator),
                                             previous_statistics=previous)
        for info in anomalies.drift_skew_info:
            name = ".".join(info.path.step)
            for measurement in info.drift_measurements:
                if comparator == L_INFINITY and name not in categorical:
                    continue  # TFDV measures 0 for numbers: it has no L-infinity over histograms
                if comparator == JSD_QUANTILES and name in categorical:
                    continue  # values, not histograms: the same as JSD standard
                found.setdefault(name, {})[comparator] = round(measurement.value, 6)
    return found


def replay_examples(work_dir: str) -> List[Tuple[str, str]]:
    """(as_of, SampleGen's train split directory) of every period of a replay work dir, from its ML Metadata."""
    from pipeline.report import metadata
    from pipeline.runners import replay

    state = replay.load(work_dir)
    if not state:
        return []
    sqlite = os.path.join(work_dir, "metadata.sqlite")
    found = []
    for period in state["periods"]:
        record = metadata.run_by_id(sqlite, period["run_id"]) if period.get("run_id") else None
        node = record.node("SampleGen") if record else None
        examples = node.output("examples") if node else None
        if examples is not None:
            found.append((period["as_of"], os.path.join(examples.uri, "Split-train")))
    return found


def sample_gen_examples(movielens: str, start: str, every: str, periods: int, out: str) -> List[Tuple[str, str]]:
    """The real SampleGen executor as of each boundary (what the replay's runs make), when no replay ran."""
    import dataclasses

    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils

    from components.sample_gen import executor, spec
    from components.sample_gen.config import SampleGenConfig
    from pipeline.runners import replay

    step = replay.parse_every(every) * replay.DAY
    first = int(np.datetime64(start, "s").astype(np.int64))
    found = []
    for k in range(periods):
        text = replay.utc_text(first + k * step)
        examples = standard_artifacts.Examples()
        examples.uri = os.path.join(out, text)
        executor.Executor().Do({}, {spec.EXAMPLES_KEY: [examples]}, {
            spec.INPUT_BASE_KEY: movielens,
            spec.INPUT_CONFIG_KEY: proto_utils.proto_to_json(spec.raw_files_config("ratings.csv", "movies.csv")),
            **dataclasses.asdict(SampleGenConfig(as_of=text))})
        found.append((text, os.path.join(examples.uri, "Split-train")))
    return found


# Constructed shifts of one split's tf.Examples: each changes one thing a broken or changed input would.
def _lower_rating(example, rng):
    values = example.features.feature["rating"].float_list.value
    if values:
        values[0] = max(0.5, values[0] - 1.0)


def _whole_stars(example, rng):
    values = example.features.feature["rating"].float_list.value
    if values:
        values[0] = float(np.ceil(values[0]))


def _renumber(key: str, offset: int):
    def change(example, rng):
        values = example.features.feature[key].int64_list.value
        values[0] = int((values[0] * 7919 + offset) % 1_000_003) + 1  # a bijection onto other ids

    return change


def _swap_genres(first: bytes, second: bytes):
    from models import schema as schema_lib

    def change(example, rng):
        for key in schema_lib.GENRE_KEYS:
            values = example.features.feature[key].bytes_list.value
            if values and values[0] in (first, second):
                values[0] = second if values[0] == first else first

    return change


SHIFTS: Dict[str, Callable] = {
    "ratings one star lower": _lower_rating,
    "ratings rounded up to whole stars": _whole_stars,
    "movieId re-numbered": _renumber("movieId", 12_345),
    "userId re-numbered": _renumber("userId", 54_321),
    "Drama and Comedy swapped": _swap_genres(b"Drama", b"Comedy"),
}


def shifted(examples_dir: str, out_dir: str, change: Callable, since: Optional[int]) -> Tuple[str, int]:
    """A copy of the split's examples with change applied (to the examples at or after `since` only, if given), and
    how many examples it applied to."""
    import tensorflow as tf

    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(0)
    changed = 0
    path = os.path.join(out_dir, "data.tfrecord.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for source in sorted(glob.glob(os.path.join(examples_dir, "*"))):
            for record in tf.data.TFRecordDataset(source, compression_type="GZIP"):
                example = tf.train.Example.FromString(record.numpy())
                if since is None or example.features.feature["timestamp"].int64_list.value[0] >= since:
                    change(example, rng)
                    changed += 1
                writer.write(example.SerializeToString())
    return out_dir, changed


def newest_time(statistics) -> int:
    """The newest rating time in a split's statistics (the timestamp feature's maximum)."""
    from models import features

    [timestamp] = [f for f in statistics.datasets[0].features if ".".join(f.path.step) == features.TIME_KEY]
    return int(timestamp.num_stats.max)


def table(rows: Dict[str, Dict[str, Dict[str, float]]], columns: List[str]) -> List[str]:
    """feature x comparator rows, one column per comparison."""
    lines = [f"  {'feature':<22} {'comparator':<14}" + "".join(f"{c[:16]:>18}" for c in columns)]
    features = sorted({f for column in columns for f in rows[column]})
    for feature in features:
        for comparator in COMPARATORS:
            values = [rows[c].get(feature, {}).get(comparator) for c in columns]
            if all(v is None for v in values):
                continue
            lines.append(f"  {feature:<22} {comparator:<14}" + "".join(
                f"{v:>18.5f}" if v is not None else f"{'':>18}" for v in values))
    return lines


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_drift")
    parser.add_argument("--work-dir", default=str(common.REPO_ROOT / ".work" / "bench-replay"),
                        help="a replay's work dir (its ML Metadata has each period's SampleGen examples)")
    parser.add_argument("--movielens", help="run SampleGen as of each boundary on this directory instead")
    parser.add_argument("--start", default="2013-04-09")
    parser.add_argument("--every", default="90d")
    parser.add_argument("--periods", type=int, default=8)
    parser.add_argument("--name", default="drift-ml-latest-small-2015")
    args = parser.parse_args(argv)

    from models import schema as schema_lib

    schema = schema_lib.build_schema()
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as scratch:
        periods = (sample_gen_examples(args.movielens, args.start, args.every, args.periods, scratch)
                   if args.movielens else replay_examples(args.work_dir))
        if len(periods) < 2:
            print(f"skipped: {args.work_dir} holds {len(periods)} replayed period(s); run bench.bench_replay first "
                  "or pass --movielens")
            return 0
        statistics = {as_of: statistics_of(path, schema) for as_of, path in periods}
        examples = {as_of: statistics[as_of].datasets[0].num_examples for as_of, _ in periods}
        consecutive = {f"{a} -> {b}": drift(statistics[b], statistics[a], schema)
                       for (a, _), (b, _) in zip(periods, periods[1:])}
        (previous_as_of, _), (last_as_of, last_dir) = periods[-2], periods[-1]
        boundary = newest_time(statistics[previous_as_of]) + 1  # the last period's training ratings after it: new
        shifts, changed = {}, {}
        for name, change in SHIFTS.items():
            for scope, start in (("all", None), ("new", boundary)):
                directory, changed[scope] = shifted(last_dir, os.path.join(scratch, f"{name}-{scope}"), change,
                                                    start)
                shifts[f"{name} ({scope})"] = drift(statistics_of(directory, schema), statistics[previous_as_of],
                                                    schema)
    ordinary = {}
    for found in consecutive.values():
        for feature, values in found.items():
            for comparator, value in values.items():
                key = ordinary.setdefault(feature, {})
                key[comparator] = max(key.get(comparator, 0.0), value)
    print(f"training examples per period: {examples}")
    print("\ndrift between consecutive periods (the candidate vs the version a period earlier):")
    print("\n".join(table(consecutive, list(consecutive))))
    print(f"\nconstructed shifts of {last_as_of}'s examples vs {previous_as_of}'s (all: the whole split, "
          f"{changed['all']} examples; new: those after {previous_as_of}'s newest training rating only, "
          f"{changed['new']}), beside the largest consecutive drift:")
    columns = {"largest consecutive": ordinary, **shifts}
    print("\n".join(table(columns, list(columns))))
    command = "python -m bench.bench_drift " + " ".join(argv if argv is not None else sys.argv[1:])
    path = common.write_results(args.name, {
        "command": command.strip(), "source": args.movielens or args.work_dir, "examples": examples,
        "consecutive": consecutive, "largest_consecutive": ordinary, "shifted_examples": changed,
        "shifts": shifts})
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
