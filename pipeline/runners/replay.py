"""The continuous-training loop, replayed over time in one work dir.

At each boundary t_k the pipeline runs as of t_k (`run --as-of t_k`: one ML Metadata store, one serving dir,
caching and both gates as usual), then the version that serves at t_k is scored on the real future: every user
who liked (rating >= 3.5) a movie in [t_k, t_k+1) that they had not rated before t_k gets the top 10 exactly as
`recommend` serves it, against the movies they liked. Beside it, from the ratings before t_k and over the same
candidates (recommender.future): most-rated, most-rated in the last 90 days, item-kNN and EASE. Known users
(rated before t_k) and new users apart.

Each finished period is appended to <work dir>/replay.json at once, so a replay that was stopped, run again,
resumes after its last finished period.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import os
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from dataio import raw_rows
from pipeline import configs
from recommender import future

REPLAY_FILE = "replay.json"
FORMAT_VERSION = 1
DAY = 86_400
TOP_N = 10
SERVED = "served"
RANKERS = (SERVED, *future.BASELINES)  # the order tables and charts show them in
GROUPS = ("known", "new")
METRICS = ("hit@10", "recall@10", "ndcg@10")


class ReplayError(ValueError):
    """A replay that cannot run as asked; the message names the option that changes it."""


def utc_text(timestamp: int) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d") if timestamp % DAY == 0 else moment.strftime("%Y-%m-%dT%H:%M:%S")


@dataclasses.dataclass(frozen=True)
class Plan:
    """K periods of `every_days` days from `start` (seconds since 1970, UTC) over one MovieLens directory."""
    movielens_dir: str
    start: int
    every_days: int
    periods: int

    @property
    def boundaries(self) -> List[Tuple[int, int]]:
        step = self.every_days * DAY
        return [(self.start + k * step, self.start + (k + 1) * step) for k in range(self.periods)]

    def check(self, ratings_range: raw_rows.TimestampRange) -> None:
        """Every period must have ratings before it to train on and lie within the ratings."""
        first, last = ratings_range
        span = f"{raw_rows.utc_time(first)} .. {raw_rows.utc_time(last)}"
        if self.every_days < 1:
            raise ReplayError(f"--every must be at least 1d (a period shorter than a day), got {self.every_days}d")
        if self.periods < 1:
            raise ReplayError(f"--periods must be at least 1, got {self.periods}")
        if self.start <= first:
            raise ReplayError(f"--start {utc_text(self.start)} is not after the first rating ({span}): the first "
                              "period would have nothing to train on; pick a later start")
        end = self.boundaries[-1][1]
        if self.boundaries[-1][0] > last:
            fits = max(0, (last - self.start) // (self.every_days * DAY) + 1)
            raise ReplayError(
                f"--periods {self.periods} of {self.every_days}d from {utc_text(self.start)} end "
                f"{utc_text(end)}, past the last rating ({span}): the data holds {fits} such period(s); "
                "ask for fewer periods or an earlier --start")

    def to_dict(self) -> dict:
        return {"movielens": os.path.abspath(self.movielens_dir), "start": utc_text(self.start),
                "every_days": self.every_days}


def parse_every(text: str) -> int:
    """'90d' -> 90; a period shorter than a day, or another unit, is refused."""
    number, unit = text[:-1], text[-1:]
    if unit == "h" and number.isdigit():
        raise ReplayError(f"--every {text}: a period shorter than a day is not replayed; use Nd with N >= 1")
    if unit != "d" or not number.isdigit() or int(number) < 1:
        raise ReplayError(f"--every expects Nd, a whole number of days >= 1 (e.g. 90d), got {text!r}")
    return int(number)


def read_ratings(path: str):
    """Every rating of a MovieLens ratings.csv as columns (recommender.future.Ratings): the replay reads the
    future, which the pipeline's runs never do."""
    import pandas as pd

    table = pd.read_csv(path, usecols=[0, 1, 2, 3])
    users, movies, stars, times = (table.iloc[:, i].to_numpy() for i in range(4))
    return future.Ratings(users.astype(np.int64), movies.astype(np.int64), stars.astype(np.float64),
                          times.astype(np.int64))


def read_raw_ratings(movielens_dir: str):
    """Every rating of a data root: ratings.csv, or every span file (the future lies in the newest)."""
    parts = [read_ratings(path) for path in raw_rows.local_ratings_files(movielens_dir).paths]
    if len(parts) == 1:
        return parts[0]
    return future.Ratings(*(np.concatenate([getattr(part, field.name) for part in parts])
                            for field in dataclasses.fields(future.Ratings)))


def time_range(ratings) -> raw_rows.TimestampRange:
    return raw_rows.TimestampRange(int(ratings.times.min()), int(ratings.times.max()))


def ordered(by_ranker: dict) -> dict:
    """by_ranker's items in RANKERS' order (replay.json keeps its keys sorted)."""
    return {name: by_ranker[name] for name in sorted(by_ranker, key=lambda n: (RANKERS + (n,)).index(n))}


def load(work_dir: str) -> Optional[dict]:
    path = os.path.join(work_dir, REPLAY_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def save(work_dir: str, state: dict) -> None:
    """Written whole to a temporary file, then renamed: a stopped replay never leaves half a file."""
    path = os.path.join(work_dir, REPLAY_FILE)
    with open(path + ".tmp", "w") as f:
        json.dump(state, f, indent=1, sort_keys=True)
    os.replace(path + ".tmp", path)


def resume_state(work_dir: str, plan: Plan) -> dict:
    """The replay so far in this work dir, or a new one; a replay of other data, start or period length is an error
    (its periods would not line up)."""
    state = load(work_dir)
    if state is None:
        return {"format_version": FORMAT_VERSION, "plan": plan.to_dict(), "periods": []}
    if state.get("plan") != plan.to_dict():
        raise ReplayError(f"{os.path.join(work_dir, REPLAY_FILE)} is a replay of {state.get('plan')}, not of "
                          f"{plan.to_dict()}; use another --work-dir, or delete that file to start over")
    return state


def period_settings(settings: configs.Settings, plan: Plan, as_of: int) -> configs.Settings:
    sample_gen = dataclasses.replace(settings.sample_gen, as_of=utc_text(as_of))
    return dataclasses.replace(settings, data_root=plan.movielens_dir, sample_gen=sample_gen)


def decision(summary) -> Tuple[bool, str]:
    """Whether this period's candidate was pushed, and which gate decided, in words."""
    catalogue = summary.catalogue_decision
    if summary.newly_pushed:
        if catalogue is not None and catalogue.is_first_run_fallback:
            return True, f"pushed with the first-run fallback ({catalogue.fallback or catalogue.popularity_gate})"
        return True, "pushed: the evaluator gate and " + (catalogue.label if catalogue else "the catalogue gate") + \
            " passed"
    if summary.pushed_dir:
        return False, "not pushed: the same model already serves"
    if not summary.succeeded:
        failed = [node for node, state in summary.states.items() if state not in ("COMPLETE", "CACHED")]
        return False, f"not pushed: {', '.join(failed) or 'the run'} failed"
    if summary.gate is not None and not summary.gate.passed:
        return False, f"not pushed: evaluator gate ({summary.gate.rule}: {'; '.join(summary.gate.failures)})"
    if summary.catalogue_gate is not None and not summary.catalogue_gate[0]:
        label = catalogue.label if catalogue else "the catalogue gate"
        return False, f"not pushed: {label} ({summary.catalogue_gate[1]})"
    return False, "not pushed"


def served_ranker(served) -> Callable[[int, np.ndarray], np.ndarray]:
    """A ranker (recommender.future's contract) whose top N is the version's list exactly as `recommend` serves
    it, over every snapshot movie the user had not rated as of that version; the rest of the candidates score
    -inf (a stale version can list a movie the user rated since: a miss, as it is for the user)."""
    from recommender import serve

    def rank(user_id: int, candidates: np.ndarray) -> np.ndarray:
        listed = [item.movie_id for item in serve.recommend(served, user_id, TOP_N).items]
        scores = np.full(len(candidates), -np.inf)
        positions = np.searchsorted(candidates, listed)
        for place, (movie_id, position) in enumerate(zip(listed, positions)):
            if position < len(candidates) and candidates[position] == movie_id:
                scores[position] = TOP_N - place
        return scores

    return rank


def figures_to_json(groups: Dict[str, object]) -> dict:
    """Per-user figures (recommender.future.GroupFigures) as JSON, to pool over periods later."""
    return {group: {"users": figures.users.tolist(),
                    "figures": {name: None if values is None else {m: v.round(6).tolist() for m, v in values.items()}
                                for name, values in figures.figures.items()}}
            for group, figures in groups.items()}


def figures_from_json(groups: dict) -> dict:
    return {group: future.GroupFigures(np.array(part["users"], np.int64), {
        name: None if values is None else {m: np.array(v, np.float64) for m, v in values.items()}
        for name, values in part["figures"].items()}) for group, part in groups.items()}


def score_period(ratings, as_of: int, until: int, version_dir: Optional[str]) -> dict:
    """The serving version and the baselines on what users liked in [as_of, until), over the serving version's
    snapshot movies (every movie rated before as_of when nothing serves)."""
    from recommender import serve

    served = serve.ServedVersion.load(version_dir) if version_dir else None
    period = future.FuturePeriod.of(ratings, as_of, until, catalogue=sorted(served.movies) if served else None)
    rankers = future.baselines(period)
    if served is not None:
        rankers = {SERVED: served_ranker(served), **rankers}
    groups = future.per_user(period, rankers, TOP_N)
    summary = {group: figures.summary() for group, figures in groups.items()}
    return {"serving_version": served.version if served else None,
            **{group: {"users": found.pop("users"), "rankers": found} for group, found in summary.items()},
            "per_user": figures_to_json(groups)}


def run_period(plan: Plan, index: int, settings: configs.Settings, paths: configs.LocalPaths, ratings,
               progress=None) -> dict:
    from pipeline.report import summary as summary_lib
    from pipeline.runners import local
    from recommender import serving_dir

    as_of, until = plan.boundaries[index]
    started = time.monotonic()
    try:
        record = local.run(period_settings(settings, plan, as_of), paths, progress)
        failure = None
    except local.ComponentFailed as failed:
        record, failure = failed.record, str(failed)
    summary = summary_lib.RunSummary.from_record(record) if record else None
    pushed, gate = decision(summary) if summary else (False, f"not pushed: {failure}")
    run_seconds = time.monotonic() - started
    scored = score_period(ratings, as_of, until, serving_dir.latest_version_dir(paths.serving_dir))
    return {"as_of": utc_text(as_of), "until": utc_text(until), "run_id": record.run_id if record else None,
            "pushed": pushed, "gate": gate, "failure": failure,
            "seconds": round(time.monotonic() - started, 1), "run_seconds": round(run_seconds, 1),
            "node_seconds": {k: round(v, 1) for k, v in (summary.seconds if summary else {}).items()},
            "eval_auc": summary.metrics.get("auc") if summary else None,
            "drift": [line.to_dict() for line in summary.drift.lines] if summary and summary.drift else [],
            **scored}


def period_lines(index: int, total: int, period: dict) -> List[str]:
    version = period["serving_version"]
    lines = [f"period {index + 1}/{total}: as of {period['as_of']} until {period['until']}: serving "
             f"{'version ' + version if version else 'nothing'} ({period['gate']}), {period['seconds']:.0f} s"]
    drifted = [line for line in period.get("drift", []) if not line["passed"]]
    if drifted:
        lines.append("  drift above thresholds: " + ", ".join(
            f"{line['feature']} {line['comparator']} {line['value']:.4f} > {line['threshold']:g}"
            if line["value"] is not None else f"{line['feature']} not measured" for line in drifted))
    for group in GROUPS:
        figures = period[group]
        lines.append(f"  {group} users ({figures['users']}){'':<8}" + "".join(f"{m:>11}" for m in METRICS))
        for ranker, values in ordered(figures["rankers"]).items():
            if values is not None:
                lines.append(f"    {ranker:<22}" + "".join(f"{values[m]:>11.4f}" for m in METRICS))
    return lines


def pooled_ratios(periods: Sequence[dict]) -> Dict[str, dict]:
    """Per group and metric: the pooled user-periods' mean of every ranker, and served / the best baseline with a
    bootstrap 90% interval over user-periods (recommender.future.bootstrap_ratio)."""
    pooled = future.pool([figures_from_json(period["per_user"]) for period in periods])
    result = {}
    for group, figures in pooled.items():
        defined = {name: values for name, values in figures.figures.items() if values is not None}
        rows = {}
        for metric in METRICS:
            means = {name: float(np.mean(values[metric])) for name, values in defined.items()} if len(
                figures.users) else {}
            row = {"means": means}
            baselines = {name: mean for name, mean in means.items() if name != SERVED}
            if SERVED in means and baselines:
                best = max(baselines, key=lambda name: (baselines[name], name))
                ratio, low, high = future.bootstrap_ratio(defined[SERVED][metric], defined[best][metric])
                row["served_to_best"] = {"best": best, "ratio": ratio, "low": low, "high": high}
            rows[metric] = row
        result[group] = {"users": len(figures.users), "metrics": rows}
    return result


def summary_lines(periods: Sequence[dict]) -> List[str]:
    """Means over pooled user-periods, and served / the best baseline with its bootstrap 90% interval."""
    lines = [f"replay: {len(periods)} period(s), {sum(p['pushed'] for p in periods)} pushed, "
             f"{sum(p['serving_version'] is not None for p in periods)} with a version serving"]
    for group, pooled in pooled_ratios(periods).items():
        lines.append(f"  {group} users, pooled over periods ({pooled['users']} user-periods):")
        for metric, row in pooled["metrics"].items():
            if not row["means"]:
                continue
            means = "  ".join(f"{name} {value:.4f}" for name, value in ordered(row["means"]).items())
            ratio = row.get("served_to_best")
            lines.append(f"    {metric:<10} {means}" + (
                f"  | served / {ratio['best']} {ratio['ratio']:.2f}x [{ratio['low']:.2f}, {ratio['high']:.2f}]"
                if ratio else ""))
    return lines


def replay(plan: Plan, settings: configs.Settings, paths: configs.LocalPaths, print_line=print,
           progress=None) -> dict:
    """Runs the periods not yet in the work dir's replay.json, appending each as it finishes; returns the state."""
    ratings = read_raw_ratings(plan.movielens_dir)
    plan.check(time_range(ratings))
    os.makedirs(paths.work_dir, exist_ok=True)
    state = resume_state(paths.work_dir, plan)
    done = state["periods"]
    for index in range(len(done)):
        if index < plan.periods:
            print_line("\n".join(period_lines(index, plan.periods, done[index])) + "  (from replay.json)")
    for index in range(len(done), plan.periods):
        period = run_period(plan, index, settings, paths, ratings, progress)
        done.append(period)
        save(paths.work_dir, state)
        print_line("\n".join(period_lines(index, plan.periods, period)))
    print_line("\n".join(summary_lines(done[:plan.periods])))
    return state


def timeline(state: dict) -> Dict[str, List[Optional[float]]]:
    """Per ranker, known users' recall@10 per period (None where a ranker has no figure): the report's chart."""
    names: Dict[str, List[Optional[float]]] = {}
    for index, period in enumerate(state["periods"]):
        for name, values in period["known"]["rankers"].items():
            names.setdefault(name, [None] * len(state["periods"]))[index] = (
                values["recall@10"] if values else None)
    return names
