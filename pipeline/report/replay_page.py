"""The replay page: what served in each period against each baseline on that period's future, pushes marked."""
from __future__ import annotations

from html import escape
from typing import List

from pipeline.report import svg
from pipeline.report.page import CSS
from pipeline.runners import replay

# The served list is the solid line the eye follows; the baselines are dashed.
RANKER_COLORS = {replay.SERVED: "#1f6fb4", "most_rated": "#e07b00", "recent_most_rated": "#8e44ad",
                 "item_knn": "#2e7d32", "ease": "#c62828"}


def _chart(periods: List[dict], group: str, metric: str) -> str:
    names: dict = {}
    for index, period in enumerate(periods):
        for name, values in replay.ordered(period[group]["rankers"]).items():
            names.setdefault(name, []).append((index, values[metric] if values else None))
    series = [svg.Series(name, points, RANKER_COLORS.get(name, "#555"), dashed=name != replay.SERVED)
              for name, points in names.items()]
    users = sum(period[group]["users"] for period in periods)
    return svg.timeline(f"{metric}, {group} users ({users} user-periods)", [p["as_of"] for p in periods], series,
                        metric, marked=[p["pushed"] for p in periods])


def _period_rows(periods: List[dict]) -> str:
    rows = []
    for period in periods:
        served = period["known"]["rankers"].get(replay.SERVED)
        recall = f"{served['recall@10']:.4f}" if served else "-"
        rows.append(
            f"<tr data-as-of=\"{escape(period['as_of'])}\" data-pushed=\"{int(period['pushed'])}\">"
            f"<td>{escape(period['as_of'])}</td><td>{escape(period['until'])}</td>"
            f"<td>{escape(period['serving_version'] or 'nothing')}</td>"
            f"<td>{'pushed' if period['pushed'] else 'kept'}</td><td>{escape(period['gate'])}</td>"
            f"<td>{period['known']['users']}</td><td>{period['new']['users']}</td><td>{recall}</td>"
            f"<td>{period['seconds']:.0f}</td></tr>")
    return "".join(rows)


def render(state: dict) -> str:
    periods = state["periods"]
    plan = state["plan"]
    charts = "".join(_chart(periods, group, metric) for group in replay.GROUPS
                     for metric in ("recall@10", "ndcg@10"))
    summary = "\n".join(replay.summary_lines(periods)) if periods else "no period finished yet"
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>sparrow-tfx replay</title>"
        f"<style>{CSS}</style></head><body><h1>Replay of {escape(plan['movielens'])}</h1>"
        f"<p>{len(periods)} period(s) of {plan['every_days']} days from {escape(plan['start'])}: at each start the "
        "pipeline ran as of it, and the version serving then was scored on what users liked in the period "
        "(movies they had not rated before), beside baselines made from the ratings before it, over the same "
        "candidates. A green triangle marks a period whose candidate was pushed.</p>"
        f"<div class=\"charts\">{charts}</div>"
        "<h2>Periods</h2><table id=\"periods\"><tr><th>as of</th><th>until</th><th>serving</th><th>push</th>"
        "<th>gate</th><th>known users</th><th>new users</th><th>served recall@10 (known)</th><th>s</th></tr>"
        f"{_period_rows(periods)}</table><h2>Summary</h2><pre id=\"summary\">{escape(summary)}</pre></body></html>")
