"""Drift between runs (issue 35, point 4): the DataGate compares the run's training statistics with those the serving
version was trained on, with TFDV's drift comparators and the schema's thresholds.

Real executors on a small generated world: SampleGen as of two moments (the same distribution a little later), and
on the same ratings with the rating shifted one star down or the ids re-numbered; StatisticsGen with the schema;
the AtomicPusher publishes the earlier run's statistics with its version; the DataGate measures against it:
- the later sample passes with one "none above thresholds" line, every compared feature recorded;
- the shifted rating and the re-numbered ids are reported (feature, comparator, value, threshold), the run goes on;
  with stop_on_drift the gate stops it with one error naming the features, the values and the flag;
- a version without statistics (pushed before they were published) passes and says so, as does nothing serving.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
from typing import Dict

import pytest

from components.data_gate import drift, spec
from models import features, schema
from recommender import serving_dir

SHIFTS = ("ratings_lower", "renumbered")


def test_drift_lines_read_as_the_summary_prints_them():
    lines = (drift.DriftLine("movieId", drift.JENSEN_SHANNON, 0.9972, 0.05),
             drift.DriftLine("rating", drift.JENSEN_SHANNON, 0.3244, 0.01),
             drift.DriftLine("userGenre1", drift.L_INFINITY, 0.0093, 0.03))
    found = drift.DriftReport(drift.COMPARED, "1700000000", lines)
    assert [line.passed for line in lines] == [False, False, True]
    assert found.summary_lines() == [
        "drift vs serving version 1700000000: movieId: Jensen-Shannon divergence 0.9972 > 0.05",
        "drift vs serving version 1700000000: rating: Jensen-Shannon divergence 0.3244 > 0.01",
        "drift vs serving version 1700000000: 2 of 3 features above thresholds, reported only; --stop-on-drift "
        "stops the run on it"]
    assert drift.DriftReport.from_json(found.to_json()) == found
    assert json.loads(found.to_json())["lines"][2] == {
        "feature": "userGenre1", "comparator": "L-infinity", "value": 0.0093, "threshold": 0.03, "passed": True}
    quiet = drift.DriftReport(drift.COMPARED, "1700000000", lines[2:])
    assert quiet.summary_lines() == ["drift vs serving version 1700000000: none above thresholds (1 features)"]
    assert drift.DriftReport(drift.NO_STATISTICS, "17").summary_lines() == [
        "drift vs serving version 17: no statistics of the serving version (pushed before versions carried them); "
        "not compared"]
    assert drift.DriftReport(drift.NOTHING_SERVES).summary_lines() == [
        "drift: nothing serves yet, no training statistics to compare with"]
    missing = drift.DriftLine("rating", drift.MISSING, None, None, "the serving version's statistics")
    assert not missing.passed and missing.text() == "rating: not in the serving version's statistics, so not compared"


def test_the_run_summary_and_the_report_show_the_drift_lines():
    from pipeline.report import metadata, page, review, summary

    found = drift.DriftReport(drift.COMPARED, "1700000000", (
        drift.DriftLine("movieId", drift.JENSEN_SHANNON, 0.9972, 0.05),
        drift.DriftLine("userGenre1", drift.L_INFINITY, 0.0093, 0.03)))
    run = summary.RunSummary("run-1", {"ExampleValidator": "COMPLETE"}, {"ExampleValidator": 1.0}, None, {}, None,
                             False, drift=found)
    assert run.lines()[1:4] == ["  ExampleValidator   COMPLETE      1.0 s", *found.summary_lines()]
    text = page.render(review.Review(metadata.RunRecord("run-1", 0, {}), run, {}, {}, {}, [], [], [], {}))
    assert ('<tr data-feature="movieId"><td>movieId</td><td>Jensen-Shannon divergence</td><td class="num" '
            'data-slice="drift" data-model="candidate" data-metric="movieId" data-value="0.9972">0.9972</td>'
            '<td class="num">0.05</td><td class="warn">drifted</td></tr>') in text
    assert '<td class="num">0.03</td><td class="">passed</td>' in text
    assert "drift vs serving version 1700000000: movieId: Jensen-Shannon divergence 0.9972 &gt; 0.05" in text
    quiet = summary.RunSummary("run-2", {}, {}, None, {}, None, False,
                               drift=drift.DriftReport(drift.NO_STATISTICS, "17"))
    text = page.render(review.Review(metadata.RunRecord("run-2", 0, {}), quiet, {}, {}, {}, [], [], [], {}))
    assert '<div id="drift-status"><p>drift vs serving version 17: no statistics of the serving version' in text


def test_the_schema_holds_the_comparators_and_the_ids_are_categorical():
    built = {f.name: f for f in schema.build_schema().feature}
    compared = {name for name, f in built.items() if f.HasField("drift_comparator")}
    assert compared == set(schema.DRIFT_THRESHOLDS)
    assert compared == {features.MOVIE_KEY, features.USER_KEY, features.RATING_KEY, features.LABEL_KEY,
                        *schema.GENRE_KEYS, *(f.name for f in features.NUMERIC_FEATURES)} - set(
                            features.TIME_FEATURE_KEYS)  # ages and recencies move with the cut
    for name, (comparator, threshold) in schema.DRIFT_THRESHOLDS.items():
        assert getattr(built[name].drift_comparator, comparator).threshold == pytest.approx(threshold), name
    assert all(built[name].int_domain.is_categorical for name in (features.MOVIE_KEY, features.USER_KEY))
    assert not built[features.TIME_KEY].HasField("drift_comparator")  # time always moves on


@dataclasses.dataclass
class Runs:
    root: str
    schema: object  # the Schema artifact
    statistics: Dict[str, object]  # name -> StatisticsGen's output


def _rewrite(source_dir: str, target_dir: str, change_rating=None, id_offset: int = 0) -> str:
    """A copy of raw MovieLens files with the rating changed or every id moved by id_offset (another export)."""
    os.makedirs(target_dir)
    with open(os.path.join(source_dir, "ratings.csv")) as f:
        rows = list(csv.reader(f))
    with open(os.path.join(target_dir, "ratings.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(rows[0])
        for user, movie, rating, timestamp in rows[1:]:
            writer.writerow([int(user) + id_offset, int(movie) + id_offset,
                             change_rating(float(rating)) if change_rating else rating, timestamp])
    with open(os.path.join(source_dir, "movies.csv")) as f:
        rows = list(csv.reader(f))
    with open(os.path.join(target_dir, "movies.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(rows[0])
        writer.writerows([int(movie) + id_offset, *rest] for movie, *rest in rows[1:])
    return target_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    import numpy as np

    from components.sample_gen.config import SampleGenConfig
    from pipeline.datasets import synthetic
    from pipeline.runners import replay
    from tests.helpers import executors

    root = str(tmp_path_factory.mktemp("drift"))
    world = synthetic.generate_world(num_ratings=6000, seed=7)
    raw = os.path.join(root, "raw")
    synthetic.write_movielens(world, raw)
    # The earlier run: as of the moment 97% of the ratings were made (consecutive runs of a replay differ so).
    earlier = replay.utc_text(int(np.quantile([r.timestamp for r in world.ratings], 0.97)) // 86_400 * 86_400)
    sources = {
        "earlier": (raw, earlier),
        "later": (raw, ""),
        "ratings_lower": (_rewrite(raw, os.path.join(root, "raw-lower"), lambda r: max(0.5, r - 1.0)), ""),
        "renumbered": (_rewrite(raw, os.path.join(root, "raw-renumbered"), id_offset=500_000), ""),
    }
    schema_artifact = executors.schema_artifact(os.path.join(root, "schema"))
    statistics = {}
    for name, (raw_dir, as_of) in sources.items():
        examples = executors.run_sample_gen(raw_dir, os.path.join(root, name, "examples"),
                                            SampleGenConfig(as_of=as_of))
        statistics[name] = executors.run_statistics_gen(examples, schema_artifact,
                                                        os.path.join(root, name, "statistics"))
    return Runs(root, schema_artifact, statistics)


def _push(runs: Runs, base_dir: str, name: str, statistics=None):
    """The real AtomicPusher: a small model, a snapshot and (given) the run's statistics as one version."""
    from tests.helpers import executors
    from tests.helpers.pushes import feature_snapshot, saved_model

    model = saved_model(os.path.join(runs.root, name, "model"))
    snapshot = feature_snapshot(os.path.join(runs.root, name, "snapshot"), f"Heat ({name})")
    return executors.run_pusher(model, 1, snapshot, base_dir, os.path.join(runs.root, name, "pushed"),
                                statistics=statistics)


@pytest.fixture(scope="module")
def serving(runs) -> str:
    """A serving dir whose version was pushed by the earlier run, with its training statistics."""
    base = os.path.join(runs.root, "serving")
    _push(runs, base, "push-earlier", runs.statistics["earlier"])
    return base


def _gate(runs: Runs, name: str, base_dir: str, out: str, stop_on_drift: bool = False):
    from tests.helpers import executors

    return executors.run_data_gate(runs.statistics[name], runs.schema, os.path.join(runs.root, out), base_dir,
                                   stop_on_drift=stop_on_drift)


def _report(anomalies) -> drift.DriftReport:
    found = drift.DriftReport.from_json(anomalies.get_string_custom_property(spec.DRIFT_PROPERTY))
    with open(os.path.join(anomalies.uri, spec.DRIFT_FILE)) as f:
        assert drift.DriftReport.from_json(f.read()) == found
    return found


@pytest.mark.slow
def test_the_training_statistics_are_published_with_the_version_under_its_marker(runs, serving):
    from tfx.types import artifact_utils

    version = serving_dir.latest_version_dir(serving)
    published = os.path.join(version, serving_dir.TRAINING_STATISTICS_FILE)
    source = os.path.join(artifact_utils.get_split_uri([runs.statistics["earlier"]], "train"), "FeatureStats.pb")
    with open(published, "rb") as f, open(source, "rb") as g:
        assert f.read() == g.read()
    assert serving_dir.committed_files(version)[serving_dir.TRAINING_STATISTICS_FILE] == os.path.getsize(source)


@pytest.mark.slow
def test_the_same_distribution_a_little_later_does_not_drift(runs, serving):
    found = _report(_gate(runs, "later", serving, "gate-later", stop_on_drift=True))
    version = os.path.basename(serving_dir.latest_version_dir(serving))
    assert (found.status, found.serving_version, found.passed) == (drift.COMPARED, version, True)
    assert {line.feature for line in found.lines} == set(schema.DRIFT_THRESHOLDS)  # every one measured
    assert {line.feature: (line.comparator, round(line.threshold, 6)) for line in found.lines} == {
        name: (drift.L_INFINITY if comparator == schema.L_INFINITY else drift.JENSEN_SHANNON, threshold)
        for name, (comparator, threshold) in schema.DRIFT_THRESHOLDS.items()}
    assert found.summary_lines() == [
        f"drift vs serving version {version}: none above thresholds ({len(schema.DRIFT_THRESHOLDS)} features)"]


@pytest.mark.slow
@pytest.mark.parametrize("shift, drifted", [
    ("ratings_lower", {features.RATING_KEY, features.MOVIE_AVG_RATING_KEY, features.USER_AVG_RATING_KEY,
                       "userGenre1"}),  # a user's genres are those of the movies they liked
    ("renumbered", {features.MOVIE_KEY, features.USER_KEY}),
])
def test_a_shift_is_reported_and_with_the_option_stops_the_run(runs, serving, shift, drifted):
    from components.data_gate.executor import DataDriftError

    found = _report(_gate(runs, shift, serving, f"gate-{shift}"))
    assert {line.feature for line in found.drifted} >= drifted
    for line in found.drifted:
        assert line.value > line.threshold
    assert found.summary_lines()[-1].endswith("reported only; --stop-on-drift stops the run on it")
    with pytest.raises(DataDriftError) as stopped:
        _gate(runs, shift, serving, f"gate-{shift}-stop", stop_on_drift=True)
    message = str(stopped.value)
    assert message.startswith(f"the training data drifted from serving version {found.serving_version}'s")
    for line in found.drifted:
        assert f"  {line.feature}: {line.comparator} {line.value:.4f} > {line.threshold:g}" in message
    assert "without --stop-on-drift" in message


@pytest.mark.slow
def test_a_version_without_statistics_passes_and_says_so(runs, tmp_path):
    base = str(tmp_path / "serving")
    executors_found = _gate(runs, "renumbered", base, "gate-nothing-serves", stop_on_drift=True)
    assert _report(executors_found).status == drift.NOTHING_SERVES
    _push(runs, base, "push-without-statistics")  # as a version pushed before versions carried statistics
    version = os.path.basename(serving_dir.latest_version_dir(base))
    found = _report(_gate(runs, "renumbered", base, "gate-no-statistics", stop_on_drift=True))
    assert (found.status, found.serving_version, found.passed, found.lines) == (
        drift.NO_STATISTICS, version, True, ())
    assert found.summary_lines() == [
        f"drift vs serving version {version}: no statistics of the serving version (pushed before versions carried "
        "them); not compared"]
