"""Anomalies as a short report a person can act on: one line per split and feature."""
from __future__ import annotations

from typing import Dict, List

from tensorflow_metadata.proto.v0 import anomalies_pb2

DATASET = "(dataset)"  # anomalies about a whole split rather than one feature


def _describe(info: anomalies_pb2.AnomalyInfo) -> str:
    """`short description (details)`, from the reasons when there are several ("Multiple errors")."""
    reasons = list(info.reason) or [info]
    short = "; ".join(dict.fromkeys(r.short_description for r in reasons if r.short_description))
    # TFDV's description sometimes only repeats the short one ("New column (column in data but not in schema)").
    repeats = [bool(r.short_description) and r.description.startswith(r.short_description) for r in reasons]
    details = "; ".join(r.description for r, repeated in zip(reasons, repeats) if r.description and not repeated)
    return f"{short} ({details})" if details else short


def anomaly_lines(split: str, anomalies: anomalies_pb2.Anomalies) -> List[str]:
    """`split feature: short description (details)`: the split's own problems first, then by feature."""
    lines = []
    if anomalies.data_missing:
        lines.append(f"{split} {DATASET}: no examples (the split is empty)")
    if anomalies.HasField("dataset_anomaly_info"):
        lines.append(f"{split} {DATASET}: {_describe(anomalies.dataset_anomaly_info)}")
    for feature in sorted(anomalies.anomaly_info):
        lines.append(f"{split} {feature}: {_describe(anomalies.anomaly_info[feature])}")
    return lines


def report(anomalies_by_split: Dict[str, anomalies_pb2.Anomalies]) -> List[str]:
    return [line for split in sorted(anomalies_by_split)
            for line in anomaly_lines(split, anomalies_by_split[split])]
