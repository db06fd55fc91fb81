"""`sparrow-tfx replay` on small generated data, three 180-day periods, as a user runs it: a worse candidate made
on purpose is not pushed and the serving version keeps serving, a better one is; no run reads a rating at or after
its as-of time; a killed replay, run again, resumes after its finished periods."""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys

import pytest

from components.sample_gen import report as sample_gen_report
from dataio import raw_rows
from models import schema
from pipeline import configs
from pipeline.datasets import synthetic
from pipeline.report import metadata
from pipeline.runners import replay
from recommender import snapshot
from tests.conftest import E2E_MIN_AUC, REPO_ROOT, run_cli
from tests.helpers.browser import open_browser

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SIZE = 6000
START, EVERY = "2012-07-01", "180d"
SCREENSHOT_COPY = os.path.join(REPO_ROOT, ".work", "screenshots", "replay.png")
WORSE_ON_PURPOSE = ("--hparam", "learning_rate=0")  # the model keeps its initial weights


def replay_args(data: str, work_dir: str, periods: int, *extra: str) -> list:
    # the e2e runs' AUC floor: a few thousand ratings do not teach the model the world's latent taste
    return ["replay", "--movielens", data, "--start", START, "--every", EVERY, "--periods", str(periods),
            "--work-dir", work_dir, "--min-auc", str(E2E_MIN_AUC), *extra]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp("replay-data"))
    synthetic.generate(root, SIZE, configs.DEFAULT_DATA_SEED)
    return os.path.join(root, "raw")


@pytest.fixture(scope="module")
def replayed(data, tmp_path_factory):
    """Period 1 as usual; period 2 with a model worse on purpose; period 3 killed while it runs, then resumed."""
    work_dir = str(tmp_path_factory.mktemp("replay-work"))
    first = run_cli(*replay_args(data, work_dir, 1))
    second = run_cli(*replay_args(data, work_dir, 2, *WORSE_ON_PURPOSE))
    after_two = replay.load(work_dir)
    command = [sys.executable, "-m", "pipeline.cli.main", *replay_args(data, work_dir, 3)]
    killed = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    seen = []
    for line in killed.stdout:
        seen.append(line)
        if "Transform done" in line:  # period 3's run is under way
            os.killpg(killed.pid, signal.SIGKILL)
            break
    killed.wait(timeout=60)
    interrupted = replay.load(work_dir)
    resumed = run_cli(*replay_args(data, work_dir, 3))
    return work_dir, first, second, after_two, "".join(seen), interrupted, resumed


def test_the_worse_candidate_is_not_pushed_and_what_served_keeps_serving(replayed):
    work_dir, first, second, *_ = replayed
    periods = replay.load(work_dir)["periods"]
    assert [p["as_of"] for p in periods] == ["2012-07-01", "2012-12-28", "2013-06-26"]
    assert periods[0]["pushed"] and periods[0]["serving_version"]
    assert not periods[1]["pushed"] and periods[1]["gate"].startswith("not pushed: evaluator gate"), periods[1]
    assert periods[1]["serving_version"] == periods[0]["serving_version"]  # the first version still serves
    assert periods[2]["pushed"] and periods[2]["serving_version"] != periods[0]["serving_version"], periods[2]
    assert periods[2]["gate"].startswith("pushed: the evaluator gate and the serving-version gate passed")
    assert f"serving version {periods[0]['serving_version']} (not pushed: evaluator gate" in second.stdout
    # Drift against the version serving when each period's run started: none then; the same generator after
    assert periods[0]["drift"] == []
    for period in periods[1:]:
        assert {line["feature"] for line in period["drift"]} == set(schema.DRIFT_THRESHOLDS), period["drift"]
        assert all(line["passed"] for line in period["drift"]), period["drift"]
    for period in periods:  # the served list and every baseline were scored for the period's known users
        known = period["known"]
        assert known["users"] > 0 and set(known["rankers"]) == {replay.SERVED, "most_rated", "recent_most_rated",
                                                               "item_knn", "ease"}


def test_no_run_reads_a_rating_at_or_after_its_as_of_time(replayed, data):
    work_dir = replayed[0]
    ratings = replay.read_ratings(os.path.join(data, "ratings.csv"))
    store = configs.LocalPaths(work_dir).metadata_path
    for period in replay.load(work_dir)["periods"]:
        as_of = raw_rows.as_of_timestamp(period["as_of"])
        record = metadata.run_by_id(store, period["run_id"])
        examples = record.node("SampleGen").output("examples")
        assert metadata.custom_property(examples, sample_gen_report.RATINGS_AFTER_AS_OF) == int(
            (ratings.times >= as_of).sum())
        snapshot_artifact = record.node("FeatureSnapshot").output("feature_snapshot")
        assert 0 < metadata.custom_property(snapshot_artifact, snapshot.AS_OF) < as_of
        assert metadata.custom_property(snapshot_artifact, snapshot.RATINGS) == int((ratings.times < as_of).sum())


def test_a_killed_replay_resumes_after_its_finished_periods(replayed):
    work_dir, _, _, after_two, killed_output, interrupted, resumed = replayed
    assert "period 2/3" in killed_output and "(from replay.json)" in killed_output
    assert interrupted == after_two  # the killed period left nothing behind
    final = replay.load(work_dir)
    assert final["periods"][:2] == after_two["periods"]
    assert resumed.stdout.count("(from replay.json)") == 2
    assert "period 3/3: as of 2013-06-26 until 2013-12-23" in resumed.stdout
    assert resumed.stdout.rstrip().endswith(f"wrote {os.path.join(work_dir, replay.REPLAY_FILE)}")
    assert json.loads(open(os.path.join(work_dir, replay.REPLAY_FILE)).read()) == final


def test_the_replay_page_shows_each_period_and_marks_the_pushes_in_chromium(replayed, tmp_path):
    work_dir = replayed[0]
    output = tmp_path / "replay.html"
    run_cli("report", "--replay", "--work-dir", work_dir, "--output", str(output))
    periods = replay.load(work_dir)["periods"]
    with open_browser(str(tmp_path / "profile")) as browser:
        for domain in ("Page", "Runtime", "Log"):
            browser.call(f"{domain}.enable")
        browser.call("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)
        browser.call("Page.navigate", url=f"file://{output}")
        browser.wait_for("Page.loadEventFired")
        assert not [e for e in browser.events if e.get("method") == "Runtime.exceptionThrown"
                    or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
        charts = browser.evaluate("[...document.querySelectorAll('svg.timeline')].map(svg => "
                                  "[svg.getAttribute('aria-label'), svg.querySelectorAll('path.push').length, "
                                  "svg.querySelectorAll('polyline').length, svg.getBoundingClientRect().width])")
        rows = browser.evaluate("[...document.querySelectorAll('#periods tr[data-as-of]')].map(tr => "
                                "[tr.dataset.asOf, tr.dataset.pushed, tr.cells[2].textContent])")
        height = browser.evaluate("document.documentElement.scrollHeight")
        browser.call("Emulation.setDeviceMetricsOverride", width=1280, height=height, deviceScaleFactor=1,
                     mobile=False)
        png = base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"])
    assert [label.split(",")[0] for label, *_ in charts] == ["recall@10", "ndcg@10", "recall@10", "ndcg@10"]
    pushes = sum(p["pushed"] for p in periods)
    assert all(marks == pushes and width > 300 for _, marks, _, width in charts)
    assert all(lines >= 5 for _, _, lines, _ in charts[:2])  # known users: served and the four baselines
    assert rows == [[p["as_of"], str(int(p["pushed"])), p["serving_version"]] for p in periods]
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    os.makedirs(os.path.dirname(SCREENSHOT_COPY), exist_ok=True)
    with open(SCREENSHOT_COPY, "wb") as f:
        f.write(png)
