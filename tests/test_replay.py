"""`replay`'s plan, resume and summary on hand-made periods (no pipeline); the loop itself runs in
tests/test_replay_e2e.py."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dataio import raw_rows
from pipeline.runners import replay
from recommender import future

DAY = replay.DAY
START = 1_420_070_400  # 2015-01-01


def test_the_plan_cuts_periods_of_whole_days_from_the_start():
    plan = replay.Plan("ml", START, 90, 3)
    assert plan.boundaries == [(START, START + 90 * DAY), (START + 90 * DAY, START + 180 * DAY),
                               (START + 180 * DAY, START + 270 * DAY)]
    assert plan.to_dict()["start"] == "2015-01-01" and replay.utc_text(START + 3600) == "2015-01-01T01:00:00"


@pytest.mark.parametrize("text, days, problem", [
    ("90d", 90, None), ("1d", 1, None),
    ("12h", None, "a period shorter than a day is not replayed"),
    ("0d", None, "a whole number of days >= 1"), ("3w", None, "expects Nd"), ("d", None, "expects Nd")])
def test_every_takes_whole_days(text, days, problem):
    if problem is None:
        assert replay.parse_every(text) == days
    else:
        with pytest.raises(replay.ReplayError, match=problem):
            replay.parse_every(text)


@pytest.mark.parametrize("start, periods, problem", [
    (START - 400 * DAY, 1, "is not after the first rating"),
    (START, 5, r"--periods 5 of 90d from 2015-01-01 end 2016-03-26, past the last rating .*: the data holds 2 "
               r"such period\(s\)"),
])
def test_a_plan_the_data_cannot_hold_is_one_error_naming_the_option(start, periods, problem):
    ratings = raw_rows.TimestampRange(START - 365 * DAY, START + 100 * DAY)
    with pytest.raises(replay.ReplayError, match=problem):
        replay.Plan("ml", start, 90, periods).check(ratings)


def test_a_replay_resumes_only_its_own_plan(tmp_path):
    plan = replay.Plan(str(tmp_path), START, 90, 2)
    state = replay.resume_state(str(tmp_path), plan)
    state["periods"].append({"as_of": "2015-01-01"})
    replay.save(str(tmp_path), state)
    assert replay.resume_state(str(tmp_path), replay.Plan(str(tmp_path), START, 90, 4))["periods"] == [
        {"as_of": "2015-01-01"}]  # more periods of the same plan go on from the finished ones
    with pytest.raises(replay.ReplayError, match="is a replay of .*use another --work-dir, or delete that file"):
        replay.resume_state(str(tmp_path), replay.Plan(str(tmp_path), START, 30, 2))
    assert not (tmp_path / (replay.REPLAY_FILE + ".tmp")).exists()
    assert json.loads((tmp_path / replay.REPLAY_FILE).read_text())["format_version"] == replay.FORMAT_VERSION


def _period(seed: int) -> dict:
    """A scored period of a small random world, with a `served` ranker that knows the future (the best list)."""
    rng = np.random.default_rng(seed)
    n = 3000
    users = rng.integers(1, 80, n)
    times = START - 200 * DAY + rng.integers(0, 300 * DAY, n)
    times[users >= 60] = START + rng.integers(0, 90 * DAY, int((users >= 60).sum()))  # new users: after START only
    ratings = future.Ratings(users, rng.integers(1, 80, n), rng.choice([2.0, 4.0, 5.0], n), times)
    period = future.FuturePeriod.of(ratings, START, START + 90 * DAY)
    rankers = future.baselines(period)
    rankers = {replay.SERVED: lambda user, candidates: np.isin(candidates, period.targets[user]).astype(float),
               **rankers}
    groups = future.per_user(period, rankers)
    summary = {group: figures.summary() for group, figures in groups.items()}
    return {"as_of": "2015-01-01", "until": "2015-04-01", "serving_version": "1", "pushed": seed == 0,
            "gate": "pushed: both gates passed", "seconds": 1.0,
            **{group: {"users": found.pop("users"), "rankers": found} for group, found in summary.items()},
            "per_user": replay.figures_to_json(groups)}


def test_the_summary_pools_user_periods_and_compares_served_with_the_best_baseline():
    periods = [_period(0), _period(1)]
    pooled = replay.pooled_ratios(periods)
    known = pooled["known"]
    assert known["users"] == periods[0]["known"]["users"] + periods[1]["known"]["users"]
    recall = known["metrics"]["recall@10"]
    ratio = recall["served_to_best"]
    best = max((name for name in recall["means"] if name != replay.SERVED), key=lambda name: recall["means"][name])
    assert ratio["best"] == best
    assert ratio["ratio"] == pytest.approx(recall["means"][replay.SERVED] / recall["means"][best])
    assert 1 < ratio["low"] <= ratio["ratio"] <= ratio["high"]  # served is the best list
    lines = replay.summary_lines(periods)
    assert lines[0] == "replay: 2 period(s), 1 pushed, 2 with a version serving"
    assert any(line.strip().startswith("recall@10") and f"served / {best}" in line for line in lines)
    # New users have no item-kNN or EASE: the best baseline is a popularity list.
    new = pooled["new"]
    assert new["users"] > 0
    assert new["metrics"]["recall@10"]["served_to_best"]["best"] in (future.MOST_RATED, future.RECENT_MOST_RATED)


def test_per_user_figures_survive_replay_json():
    period = _period(2)
    again = replay.figures_from_json(json.loads(json.dumps(period["per_user"])))
    assert again["known"].summary()["users"] == period["known"]["users"]
    for name, values in period["known"]["rankers"].items():
        found = again["known"].summary()[name]
        assert (found is None) == (values is None)
        if values:
            assert found == pytest.approx(values, abs=1e-6)
