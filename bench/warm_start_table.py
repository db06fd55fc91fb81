"""Warm start vs cold, per replay period: two `bench_replay` work dirs of the same data, one run with `--warm-start`.

    python -m bench.bench_replay --generated 24000 --name warm-start-generated-24000-cold
    python -m bench.bench_replay --generated 24000 --name warm-start-generated-24000-warm -- --warm-start
    python -m bench.warm_start_table .work/bench-warm-start-generated-24000-cold \
        .work/bench-warm-start-generated-24000-warm --name warm-start-generated-24000

Prints, per period and pooled over the user-periods, pushed, the Trainer's seconds and epochs, and the served
recall@10 and NDCG@10 of known and new users, cold beside warm with warm / cold; writes results/<name>.json.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from typing import List, Optional

from bench import common
from pipeline.runners import replay

METRICS = ("recall@10", "ndcg@10")
GROUPS = ("known", "new")


def training_summaries(work_dir: str) -> List[dict]:
    """Each Trainer execution's training summary, oldest first (a replay trains once a period, in order)."""
    paths = glob.glob(os.path.join(work_dir, "pipeline_root", "Trainer", "model_run", "*", "training_summary.json"))
    summaries = []
    for path in sorted(paths, key=lambda p: int(os.path.basename(os.path.dirname(p)))):
        with open(path) as f:
            summaries.append(json.load(f))
    return summaries


def _ratio(warm: Optional[float], cold: Optional[float]) -> Optional[float]:
    return round(warm / cold, 3) if warm is not None and cold else None


def period_rows(cold_dir: str, warm_dir: str) -> List[dict]:
    cold, warm = replay.load(cold_dir)["periods"], replay.load(warm_dir)["periods"]
    trained = {"cold": training_summaries(cold_dir), "warm": training_summaries(warm_dir)}
    if len(trained["cold"]) != len(cold) or len(trained["warm"]) != len(warm):
        raise SystemExit("a period's Trainer was served from cache: replay each in a fresh work dir")
    rows = []
    for k, (c, w) in enumerate(zip(cold, warm)):
        assert c["as_of"] == w["as_of"], (c["as_of"], w["as_of"])
        row = {"as_of": c["as_of"], "pushed": {"cold": c["pushed"], "warm": w["pushed"]},
               "gate": {"cold": c["gate"], "warm": w["gate"]},
               "eval_auc": {"cold": c.get("eval_auc"), "warm": w.get("eval_auc")},
               "trainer_seconds": {"cold": c["node_seconds"].get("Trainer"), "warm": w["node_seconds"].get("Trainer")},
               "epochs_run": {side: trained[side][k]["epochs_run"] for side in trained},
               # The epochs' own seconds (training and validation), without loading data, building and exporting.
               "epoch_seconds": {side: round(sum(e["seconds"] for e in trained[side][k]["epochs"]), 1)
                                 for side in trained},
               "warm_start": trained["warm"][k].get("warm_start")}
        for group in GROUPS:
            row[group] = {"users": c[group]["users"], **{
                metric: {"cold": c[group]["rankers"]["served"][metric], "warm": w[group]["rankers"]["served"][metric],
                         "warm/cold": _ratio(w[group]["rankers"]["served"][metric],
                                             c[group]["rankers"]["served"][metric])}
                for metric in METRICS}}
        rows.append(row)
    return rows


def pooled(cold_dir: str, warm_dir: str) -> dict:
    found = {}
    for side, work_dir in (("cold", cold_dir), ("warm", warm_dir)):
        for group, values in replay.pooled_ratios(replay.load(work_dir)["periods"]).items():
            for metric in METRICS:
                found.setdefault(group, {"users": values["users"]}).setdefault(metric, {})[side] = \
                    values["metrics"][metric]["means"][replay.SERVED]
    for group in found.values():
        for metric in METRICS:
            group[metric]["warm/cold"] = _ratio(group[metric]["warm"], group[metric]["cold"])
    return found


def _f(value) -> str:
    return "" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _x(ratio) -> str:
    return "" if ratio is None else f"{ratio:.2f}x"


def table(rows: List[dict], totals: dict) -> str:
    lines = ["| as of | pushed cold / warm | Trainer s cold / warm (epochs, their s) | eval AUC | started | "
             + " | ".join(f"{g} {m} cold / warm (ratio)" for g in GROUPS for m in METRICS) + " |",
             "|---|---|---|---|---|" + "---|" * (len(GROUPS) * len(METRICS))]
    for row in rows:
        started = row["warm_start"] or {}
        source = "warm" if started.get("warm") else f"cold: {started.get('reason', 'off')}"
        cells = [row["as_of"], " / ".join("yes" if row["pushed"][s] else "no" for s in ("cold", "warm")),
                 " / ".join(f"{row['trainer_seconds'][s]:.1f} ({row['epochs_run'][s]}, {row['epoch_seconds'][s]})"
                            for s in ("cold", "warm")),
                 " / ".join(_f(row["eval_auc"][s]) for s in ("cold", "warm")), source]
        cells += [f"{_f(row[g][m]['cold'])} / {_f(row[g][m]['warm'])} ({_x(row[g][m]['warm/cold'])})"
                  for g in GROUPS for m in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    cells = ["pooled", "", f"{sum(r['trainer_seconds']['cold'] for r in rows):.1f} / "
             f"{sum(r['trainer_seconds']['warm'] for r in rows):.1f} (total)", "",
             " / ".join(f"{g} {totals[g]['users']}" for g in GROUPS) + " user-periods"]
    cells += [f"{_f(totals[g][m]['cold'])} / {_f(totals[g][m]['warm'])} ({_x(totals[g][m]['warm/cold'])})"
              for g in GROUPS for m in METRICS]
    lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.warm_start_table")
    parser.add_argument("cold_work_dir")
    parser.add_argument("warm_work_dir")
    parser.add_argument("--name", required=True, help="results file name")
    args = parser.parse_args(argv)
    rows, totals = period_rows(args.cold_work_dir, args.warm_work_dir), pooled(args.cold_work_dir, args.warm_work_dir)
    print(table(rows, totals))
    command = "python -m bench.warm_start_table " + " ".join(argv if argv is not None else sys.argv[1:])
    path = common.write_results(args.name, {"command": command, "cold": args.cold_work_dir,
                                            "warm": args.warm_work_dir, "per_period": rows, "pooled": totals})
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
