"""The run history: one entry per pipeline run in ML Metadata (start, component states, AUC, blessing, push)."""
from __future__ import annotations

import dataclasses
import datetime
import os
from typing import List, Optional

from pipeline.report import metadata, summary


@dataclasses.dataclass
class RunRow:
    run_id: str
    started: str  # UTC
    states: List[str]  # "Component state", in execution order
    auc: Optional[float]
    blessed: Optional[bool]
    pushed: str  # the version pushed by this run, "=VERSION" when that model was already serving, or "-"


def _pushed(run: summary.RunSummary) -> str:
    if not run.pushed_dir:
        return "-"
    version = os.path.basename(run.pushed_dir.rstrip("/"))
    return version if run.newly_pushed else f"={version}"


def row(record: metadata.RunRecord) -> RunRow:
    run = summary.RunSummary.from_record(record)
    started = datetime.datetime.fromtimestamp(record.start_ms / 1000, datetime.timezone.utc)
    return RunRow(
        run_id=record.run_id,
        started=f"{started:%Y-%m-%d %H:%M:%S}",
        states=[f"{node} {state if state == 'FAILED' else state.lower()}" for node, state in run.states.items()],
        auc=run.metrics.get("auc"),
        blessed=run.blessed,
        pushed=_pushed(run))


def rows(records: List[metadata.RunRecord]) -> List[RunRow]:
    return [row(r) for r in records]


def table(run_rows: List[RunRow]) -> List[str]:
    if not run_rows:
        return ["no runs recorded"]
    width = max(len("RUN"), *(len(r.run_id) for r in run_rows))
    out = [f"{'RUN':<{width}}  {'STARTED (UTC)':<19}  {'AUC':>6}  {'BLESSED':<7}  PUSHED"]
    for r in run_rows:
        auc = f"{r.auc:.4f}" if r.auc is not None else "-"
        blessed = "-" if r.blessed is None else ("yes" if r.blessed else "no")
        out.append(f"{r.run_id:<{width}}  {r.started:<19}  {auc:>6}  {blessed:<7}  {r.pushed}")
        out.append("    " + ", ".join(r.states))
    out.append("PUSHED: the version this run pushed; =VERSION: its model was already serving there.")
    return out
