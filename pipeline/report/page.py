"""The review as one self-contained HTML page: inline CSS and SVG, no script, nothing fetched (works offline).

Every metric cell carries `data-slice`, `data-model`, `data-metric` and the exact `data-value`, so a test (or a
scraper) reads the numbers without parsing the text.
"""
from __future__ import annotations

import datetime
import math
from html import escape
from typing import Dict, Iterable, List, Optional, Sequence

from components.catalogue_eval import spec as catalogue_spec
from models import features
from pipeline.report import review as review_lib
from pipeline.report import summary, svg
from recommender import catalogue

CANDIDATE, BASELINE, DIFF = summary.CANDIDATE_MODEL, summary.BASELINE_MODEL, "diff"
SLICE_COLUMNS = (  # (metric name in TFMA's output, header)
    ("example_count", "examples"), ("auc", "ROC AUC"), ("auc_precision_recall", "PR AUC"),
    ("binary_accuracy", "accuracy"), ("calibration", "calibration"), ("mean_label", "mean label"),
    ("mean_prediction", "mean prediction"),
)
COLORS = {CANDIDATE: "#1f6fb4", BASELINE: "#e07b00"}
CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px auto; max-width: 1180px; color: #222; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0; } th, td { padding: 3px 9px; border-bottom: 1px solid #eee; }
th { text-align: left; background: #f6f6f6; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.group td { background: #fafafa; font-weight: 600; }
.badge { display: inline-block; padding: 3px 10px; border-radius: 4px; color: #fff; font-weight: 600; }
.ok { background: #2e7d32; } .fail { background: #c62828; } .muted { color: #777; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; } .warn { color: #b26a00; }
code { background: #f3f3f3; padding: 0 3px; } a { color: #1f6fb4; }
"""


def _number(value: Optional[float], digits: int = 4, signed: bool = False) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:{'+' if signed else ''}.{digits}f}"


def _cell(value: Optional[float], slice_id: str, model: str, metric: str, digits: int = 4) -> str:
    """A metric's cell; `model` "diff" holds candidate minus baseline, shown with its sign."""
    exact = "" if value is None else repr(float(value))
    return (f'<td class="num" data-slice="{escape(slice_id)}" data-model="{model}" data-metric="{escape(metric)}" '
            f'data-value="{exact}">{_number(value, digits, signed=(model == DIFF))}</td>')


def _table(headers: Sequence[str], rows: Iterable[str], numeric_from: int = 1) -> str:
    head = "".join(f'<th class="{"num" if i >= numeric_from else ""}">{escape(h)}</th>'
                   for i, h in enumerate(headers))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def slice_id(key: summary.SliceKey) -> str:
    return "overall" if not key else ",".join(f"{column}={value}" for column, value in key)


def slice_value_label(column: str, value) -> str:
    """A bucket slice's index as the range it covers (Transform's apply_buckets: [low, high); missing is -1)."""
    for bucket in features.SLICE_BUCKETS:
        if bucket.name == column and isinstance(value, int):
            bounds = bucket.boundaries
            if value == 0:
                return f"< {bounds[0]:g} or missing {bucket.source}"
            if value >= len(bounds):
                return f">= {bounds[-1]:g}"
            return f"{bounds[value - 1]:g} to < {bounds[value]:g}"
    return str(value)


def _slice_order() -> Dict[str, int]:
    columns = features.SLICE_FEATURE_KEYS + tuple(b.name for b in features.SLICE_BUCKETS)
    return {column: i for i, column in enumerate(columns)}


def _bucket_source(column: str) -> str:
    return next((f" (buckets of {b.source})" for b in features.SLICE_BUCKETS if b.name == column), "")


def _slices_section(review: review_lib.Review) -> str:
    if not review.slices:
        return ""
    order = _slice_order()
    keys = sorted(review.slices, key=lambda k: (len(k), [(order.get(c, 99), c, str(v).zfill(6)) for c, v in k]))
    rows, group = [], None
    for key in keys:
        column = key[0][0] if key else "overall"
        if column != group:
            group = column
            rows.append(f'<tr class="group"><td colspan="{len(SLICE_COLUMNS) + 2}">{escape(column)}'
                        f'{escape(_bucket_source(column))}</td></tr>')
        metrics, sid = review.slices[key], slice_id(key)
        label = "all examples" if not key else slice_value_label(*key[0])
        cells = [_cell(metrics.candidate.get(name), sid, CANDIDATE, name, 0 if name == "example_count" else 4)
                 for name, _ in SLICE_COLUMNS]
        cells.append(_cell(metrics.diff.get("auc"), sid, DIFF, "auc"))
        rows.append(f"<tr><td>{escape(label)}</td>{''.join(cells)}</tr>")
    headers = ["slice"] + [h for _, h in SLICE_COLUMNS] + ["ROC AUC vs baseline"]
    return ("<h2>Metrics per slice</h2><p class=\"muted\">Candidate model on the eval split. Ranking metrics are "
            "per user, so they are read on the overall slice only (a user's list spans many item slices).</p>"
            + _table(headers, rows))


def _decision_section(review: review_lib.Review) -> str:
    run, gate = review.summary, review.summary.gate
    if run.blessed is None:
        badge = '<span class="badge fail" id="decision">NO DECISION</span> the Evaluator did not finish;'
    else:
        badge = ('<span class="badge ok" id="decision">BLESSED</span>' if run.blessed
                 else '<span class="badge fail" id="decision">NOT BLESSED</span>')
    if run.pushed_dir:
        pushed = (f"pushed to <code>{escape(run.pushed_dir)}</code>" if run.newly_pushed
                  else f"already serving as <code>{escape(run.pushed_dir)}</code>, not pushed again")
    else:
        pushed = "nothing pushed"
    parts = [f"<h2>Blessing decision</h2><p>{badge} &nbsp; {pushed}</p>"]
    if gate:
        auc = gate.comparisons.get("auc", (float("nan"), float("nan")))
        regression = (f" and at most <b>{gate.max_auc_regression:.4f}</b> below the baseline" if gate.has_baseline
                      else "")
        parts.append(f"<p>Gate on the overall slice: ROC AUC at least <b>{gate.min_auc:.4f}</b>{regression}. "
                     f"Baseline: {escape(gate.baseline_text)}.</p>")
        if gate.passed:
            reasons = [f"ROC AUC {auc[0]:.4f} &ge; {gate.min_auc:.4f}"]
            if gate.has_baseline:
                reasons.append(f"change against the baseline {auc[0] - auc[1]:+.4f} &ge; "
                               f"{-gate.max_auc_regression:+.4f}")
        else:
            reasons = [escape(f) for f in gate.failures]
        parts.append('<ul id="reasons">' + "".join(f"<li>{r}</li>" for r in reasons) + "</ul>")
        parts.append(_overall_section(gate))
        parts.append('<p class="muted">ndcg@k and recall@k rank each user\'s eval movies by the model\'s score '
                     "(label as relevance); users without a liked movie are left out.</p>")
    return "".join(parts)


def _catalogue_group_label(group: str) -> str:
    if group.startswith(catalogue.ACTIVITY_GROUP_PREFIX):
        return f"users with {group[len(catalogue.ACTIVITY_GROUP_PREFIX):]} training ratings"
    return {catalogue.ALL_USERS: "all eval users", catalogue.WITH_HISTORY: "users with history",
            catalogue.COLD: "cold-start users (no training ratings)"}.get(group, group)


def _catalogue_section(review: review_lib.Review) -> str:
    """Top-N over the whole catalogue, ours beside each baseline, per user group (cold-start apart)."""
    figures = review.catalogue
    if not figures:
        return ""
    ours = figures[catalogue_spec.OURS]
    fixed = [catalogue.ALL_USERS, catalogue.WITH_HISTORY, catalogue.COLD]
    groups = [g for g in fixed if g in ours] + sorted((g for g in ours if g not in fixed),
                                                       key=lambda g: (len(g), g))
    metrics = [m for m in ours[catalogue.ALL_USERS] if "@" in m]
    rankers = [catalogue_spec.OURS, *(r for r in figures if r != catalogue_spec.OURS)]
    headers = ["users", "n", *(f"{r} {m}" for m in metrics for r in rankers)]
    rows = []
    for group in groups:
        cells = "".join(_cell(figures[r].get(group, {}).get(m), group, r, m) for m in metrics for r in rankers)
        rows.append(f"<tr><td>{escape(_catalogue_group_label(group))}</td>"
                    f"<td class=\"num\">{int(ours[group]['users'])}</td>{cells}</tr>")
    coverage = ", ".join(f"{r} {int(figures[r][catalogue.ALL_USERS]['coverage'])}" for r in rankers)
    gate = review.summary.catalogue_gate
    gate_text = (f"<p id=\"catalogue-gate\">Catalogue gate: {escape(gate[1])}: "
                 f"<b>{'passed' if gate[0] else 'failed'}</b>.</p>") if gate else ""
    return ("<h2 id=\"catalogue\">Top-N over the catalogue</h2><p class=\"muted\">For each eval user, every movie "
            "not rated before the eval cutoff ranked with user and movie features as of the cutoff (what "
            "<code>recommend</code> would have served then), against the movies the user liked after it; "
            f"baselines ranked in the same pass. Distinct movies in all top lists: {escape(coverage)}.</p>"
            + gate_text + _table(headers, rows, numeric_from=1))


def _overall_section(gate) -> str:
    """Candidate vs. baseline on the overall slice; the candidate alone when nothing was serving."""
    def cells(name, cand, base):
        shown = _cell(cand, "overall", CANDIDATE, name)
        if gate.has_baseline:
            shown += _cell(base, "overall", BASELINE, name) + _cell(cand - base, "overall", DIFF, name)
        return shown

    rows = [f"<tr><td>{escape(name)}</td>{cells(name, cand, base)}</tr>"
            for name, (cand, base) in gate.comparisons.items()]
    if not gate.has_baseline:
        return "<h2>Candidate (overall)</h2>" + _table(["metric", "candidate"], rows)
    return "<h2>Candidate vs. baseline (overall)</h2>" + _table(
        ["metric", "candidate", "baseline", "candidate − baseline"], rows)


def _charts_section(review: review_lib.Review) -> str:
    gate = review.summary.gate
    models = [CANDIDATE] + ([BASELINE] if gate and gate.has_baseline else [])
    models = [m for m in models if m in review.curves]
    if not models:
        return ""

    def series(points_of, markers=False):
        return [svg.Series(m, points_of(review.curves[m]), COLORS[m], markers=markers, dashed=(m == BASELINE))
                for m in models]

    diagonal = [(0.0, 0.0), (1.0, 1.0)]
    charts = [
        svg.chart("ROC curve", series(lambda c: sorted(c.roc)), "false positive rate", "true positive rate",
                  diagonal),
        svg.chart("Precision-recall curve", series(lambda c: sorted(c.pr)), "recall", "precision"),
        svg.chart("Calibration", series(lambda c: [(b.mean_prediction, b.positive_rate) for b in c.calibration],
                                        markers=True), "mean prediction", "share of positives", diagonal),
    ]
    confusion = review.curves[CANDIDATE].confusion
    rows = [f"<tr><td>{m.threshold:g}</td>"
            + "".join(_cell(v, "overall", CANDIDATE, f"{name}@{m.threshold:g}", digits)
                      for name, v, digits in (("true_positives", m.true_positives, 0),
                                              ("false_positives", m.false_positives, 0),
                                              ("true_negatives", m.true_negatives, 0),
                                              ("false_negatives", m.false_negatives, 0),
                                              ("precision", m.precision, 4), ("recall", m.recall, 4)))
            + "</tr>" for m in confusion]
    calibration = f"{review_lib.CALIBRATION_BINS} equal-width bins of the prediction"
    return ("<h2>Plots (overall)</h2><div class=\"charts\">" + "".join(charts) + "</div>"
            f"<p class=\"muted\">From TFMA's ConfusionMatrixPlot and CalibrationPlot; calibration uses "
            f"{calibration}.</p><h2>Confusion matrices (candidate, overall)</h2>"
            + _table(["threshold", "TP", "FP", "TN", "FN", "precision", "recall"], rows))


def _data_section(review: review_lib.Review) -> str:
    if not review.examples:
        return ""
    splits = list(review.examples)
    counts = ", ".join(f"{split}: <b>{n}</b>" for split, n in review.examples.items())
    if review.anomalies:
        anomaly_headers = ["split", "feature", "severity", "anomaly"]
        anomalies = _table(anomaly_headers, (
            f"<tr><td>{escape(a.split)}</td><td>{escape(a.feature)}</td><td>{escape(a.severity)}</td>"
            f"<td class=\"warn\">{escape(a.description)}</td></tr>" for a in review.anomalies),
            numeric_from=len(anomaly_headers))
    else:
        anomalies = '<p id="anomalies">ExampleValidator found no anomaly against the schema.</p>'
    rows = []
    for f in review.features:
        missing = "".join(f'<td class="num{" warn" if f.missing.get(s) else ""}">'
                          f'{100 * f.missing.get(s, 0.0):.1f}%</td>' for s in splits)
        described = "".join(f'<td class="num">{escape(f.summary.get(s, ""))}</td>' for s in splits)
        rows.append(f"<tr><td>{escape(f.name)}</td><td>{escape(f.kind)}</td>{missing}{described}</tr>")
    headers = ["feature", "type"] + [f"missing ({s})" for s in splits] + [f"{s}" for s in splits]
    return (f"<h2>Data</h2><p>Examples per split (StatisticsGen): {counts}.</p><h3>Anomalies</h3>{anomalies}"
            f"<h3>Features</h3>" + _table(headers, rows, numeric_from=2))


def _drift_section(review: review_lib.Review) -> str:
    """The data gate's drift check: every feature's comparator, value, threshold and whether it passed."""
    found = review.summary.drift
    if found is None:
        return ""
    said = "".join(f"<p>{escape(line)}</p>" for line in found.summary_lines())
    if not found.lines:
        return f'<h3 id="drift">Drift</h3><div id="drift-status">{said}</div>'
    rows = [f'<tr data-feature="{escape(line.feature)}"><td>{escape(line.feature)}</td>'
            f"<td>{escape(line.comparator)}</td>"
            + _cell(line.value, "drift", "candidate", line.feature)
            + f'<td class="num">{"" if line.threshold is None else f"{line.threshold:g}"}</td>'
            + f'<td class="{"" if line.passed else "warn"}">{"passed" if line.passed else "drifted"}</td></tr>'
            for line in sorted(found.lines, key=lambda line: (line.passed, line.feature))]
    return ('<h3 id="drift">Drift</h3><p class="muted">The training split\'s statistics against those the serving '
            "version was trained on (TFDV's drift comparators; thresholds in the schema).</p>"
            f'<div id="drift-status">{said}</div>'
            + _table(["feature", "comparator", "value", "threshold", "result"], rows, numeric_from=2))


def _artifacts_section(review: review_lib.Review) -> str:
    rows = [f"<tr><td>{escape(a.node_id)}</td><td>{escape(a.key)}</td><td>{escape(a.type_name)}</td>"
            f"<td>{a.artifact_id}</td><td><a href=\"{escape(a.href)}\">{escape(a.uri)}</a></td></tr>"
            for a in review.artifacts]
    headers = ["component", "output", "type", "id", "location"]
    return "<h2>Artifacts of this run</h2>" + _table(headers, rows, numeric_from=len(headers))


def _header(review: review_lib.Review) -> str:
    record = review.record
    started = datetime.datetime.fromtimestamp(record.start_ms / 1000, datetime.timezone.utc)
    rows = [f"<tr><td>{escape(n.node_id)}</td><td>{escape(n.state)}</td><td class=\"num\">{n.seconds:.1f}</td></tr>"
            for n in record.nodes.values()]
    return (f"<h1>sparrow-tfx run {escape(record.run_id)}</h1><p class=\"muted\">started "
            f"{started:%Y-%m-%d %H:%M:%S} UTC</p>" + _table(["component", "state", "seconds"], rows, numeric_from=2))


def render(review: review_lib.Review) -> str:
    sections: List[str] = [_header(review), _decision_section(review), _catalogue_section(review),
                           _charts_section(review),
                           _slices_section(review), _data_section(review), _drift_section(review),
                           _artifacts_section(review)]
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>sparrow-tfx run "
            f"{escape(review.record.run_id)}</title><style>{CSS}</style></head><body>{''.join(sections)}"
            "</body></html>\n")
