"""SampleGen's report, a JSON file in the Examples artifact: its Beam job's counters and what the job wrote.

Keys: ratings_read, movies_read (data lines), ratings_valid (after rejections, before the as-of time),
ratings_after_as_of (valid ratings at or after the as-of time, not read), samples_train, samples_eval,
skipped_<reason> (valid ratings that make no sample: cold start, a required column missing), negatives_train
(sampled negatives written to train, apart from the ratings' accounting),
rejected_<reason> (malformed rows), eval_cutoff_timestamp (global_time split only) and FIRST_REJECTED_ROWS.
"""
from __future__ import annotations

import collections
import json
import os
from typing import Dict, List, Mapping, Sequence

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from tfx.dsl.io import fileio

from components.sample_gen import spec
from dataio import raw_rows

RATINGS_READ = "ratings_read"
MOVIES_READ = "movies_read"
RATINGS_VALID = "ratings_valid"
RATINGS_AFTER_AS_OF = "ratings_after_as_of"  # valid rows at or after the as-of time: not read into samples
REJECTED = "rejected"
SKIPPED = "skipped"
NEGATIVES_TRAIN = "negatives_train"
EVAL_CUTOFF = "eval_cutoff_timestamp"
FIRST_REJECTED_ROWS = "first_rejected_rows"  # "file:line: detail", ordered by file and line
# Span files (the Examples' custom properties, beside spec.SPANS_PROPERTY): how many the data root held, and
# those absent between the spans read ("4,7-9").
SPANS_PRESENT = "spans_present"
SPANS_MISSING = "spans_missing"
NAMESPACE = "sample_gen"  # of the Beam counters, one per count key


def samples_key(split: str) -> str:
    return f"samples_{split}"


def counter(name: str):
    return beam.metrics.Metrics.counter(NAMESPACE, name)


def complete(report_dir: str, items: Mapping[str, object], results: Sequence[beam.runners.runner.PipelineResult]
             ) -> Dict[str, object]:
    """Writes the report: the job's items and the counters of its finished pipelines, added up; returns it."""
    totals: Dict[str, int] = collections.Counter()
    for result in results:
        for metric in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]:
            totals[metric.key.metric.name] += (metric.committed if metric.committed is not None
                                               else metric.attempted)
    with fileio.open(os.path.join(report_dir, spec.REPORT_FILE), "w") as f:
        f.write(json.dumps({**items, **totals}, sort_keys=True))
    return load(report_dir)


def load(report_dir: str) -> Dict[str, object]:
    """The report; counts of things that never happened are 0."""
    with fileio.open(os.path.join(report_dir, spec.REPORT_FILE)) as f:
        result = json.loads(f.read())
    for key in (RATINGS_READ, MOVIES_READ, RATINGS_VALID, RATINGS_AFTER_AS_OF, NEGATIVES_TRAIN,
                *map(samples_key, spec.SPLITS)):
        result.setdefault(key, 0)
    result.setdefault(FIRST_REJECTED_ROWS, [])
    return result


def counts(report: Dict[str, object]) -> Dict[str, int]:
    return {k: v for k, v in report.items() if isinstance(v, int)}


def rejected_total(report: Dict[str, object]) -> int:
    return sum(v for k, v in counts(report).items() if k.startswith(f"{REJECTED}_"))


def failures(report: Dict[str, object], max_rejected_rows: int, rejected_rows_dir: str) -> List[str]:
    """What makes the output unusable, with what changes it: more rejected rows than allowed (all of them in
    rejected_rows_dir), or an empty split."""
    problems = []
    total = rejected_total(report)
    if total > max_rejected_rows:
        by_reason = ", ".join(f"{k[len(REJECTED) + 1:]}: {v}" for k, v in sorted(counts(report).items())
                              if k.startswith(f"{REJECTED}_"))
        first = "\n  ".join(report[FIRST_REJECTED_ROWS])
        problems.append(
            f"{total} malformed input rows ({by_reason}), more than max_rejected_rows={max_rejected_rows}; "
            f"the first:\n  {first}\nall of them: {rejected_rows_dir}\n"
            f"Fix the rows, or let up to N through with --sample-option max_rejected_rows=N "
            f"(they are then left out and counted)")
    for split in spec.SPLITS:
        if not report[samples_key(split)]:
            problems.append(f"no {split} samples (ratings read: {report[RATINGS_READ]}, valid: "
                            f"{report[RATINGS_VALID]}); the split is set by --sample-option split_mode=..., "
                            f"eval_fraction=... and min_user_history=...")
    return problems


def summary_line(properties: Dict[str, object]) -> str:
    """One line for a run summary, from the report's counts and the options (the Examples' custom properties)."""
    after_as_of = properties.get(RATINGS_AFTER_AS_OF, 0)
    ratings_rejected = properties[RATINGS_READ] - properties[RATINGS_VALID] - after_as_of
    skipped = {k[len(SKIPPED) + 1:]: v for k, v in sorted(properties.items()) if k.startswith(f"{SKIPPED}_")}
    line = (f"SampleGen ({properties['features_mode']} features, {properties['split_mode']} split): "
            f"{properties[RATINGS_READ]:,} ratings read = {properties[samples_key(spec.TRAIN_SPLIT)]:,} train + "
            f"{properties[samples_key(spec.EVAL_SPLIT)]:,} eval samples + {sum(skipped.values()):,} skipped ("
            + ", ".join(f"{reason} {n:,}" for reason, n in skipped.items()) + f") + {ratings_rejected:,} rejected")
    if properties.get("as_of"):
        line += f" + {after_as_of:,} at or after the as-of time {properties['as_of']}"
    negatives = properties.get(NEGATIVES_TRAIN, 0)
    line += f"; + {negatives:,} sampled negatives in train" if negatives else ""
    movies_rejected = rejected_total(properties) - ratings_rejected
    line += f"; movies.csv rows rejected: {movies_rejected:,}" if movies_rejected else ""
    return line + (f"; ratings {spans_read(properties).describe()}" if properties.get(spec.SPANS_PROPERTY) else "")


def spans_read(properties: Dict[str, object]) -> raw_rows.RatingsFiles:
    """The span files SampleGen read, from its Examples' custom properties (no paths)."""
    spans = raw_rows.parse_span_ranges(str(properties.get(spec.SPANS_PROPERTY) or ""))
    return raw_rows.RatingsFiles((), spans, int(properties.get(SPANS_PRESENT) or len(spans)))
