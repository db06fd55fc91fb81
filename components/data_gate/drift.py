"""Drift between the serving version's training statistics and the candidate's: TFDV's drift comparators, with the
thresholds the schema gives each feature (models/schema.py DRIFT_THRESHOLDS).

The serving version carries the statistics it was trained on (the AtomicPusher publishes them inside the version,
recommender/serving_dir.py TRAINING_STATISTICS_FILE); `tfdv.validate_statistics(candidate, schema,
previous_statistics=served)` measures every feature with a drift_comparator. A version pushed before versions
carried statistics has none: then nothing is compared, and the check passes saying so.

Pure data classes here (the run summary, `report` and the replay read them back from JSON); TFDV only in
`compare`.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import List, Optional, Tuple

NOTHING_SERVES = "nothing_serves"  # no version serves: nothing to compare with
NO_STATISTICS = "no_statistics"  # the serving version carries no training statistics (pushed before they were)
COMPARED = "compared"
L_INFINITY = "L-infinity"
JENSEN_SHANNON = "Jensen-Shannon divergence"
MISSING = "missing"  # a compared feature absent from one side's statistics: TFDV cannot measure it
STOP_FLAG = "--stop-on-drift"


@dataclasses.dataclass(frozen=True)
class DriftLine:
    """One feature's comparison: comparator (L_INFINITY, JENSEN_SHANNON, or MISSING with `where` it is missing),
    the measured value and the schema's threshold; passed when the value is at most the threshold (as TFDV
    decides)."""
    feature: str
    comparator: str
    value: Optional[float]  # None for MISSING
    threshold: Optional[float]
    where: str = ""  # for MISSING: "the serving version's statistics" or "this run's statistics"

    @property
    def passed(self) -> bool:
        return self.value is not None and self.threshold is not None and self.value <= self.threshold

    def text(self) -> str:
        if self.comparator == MISSING:
            return f"{self.feature}: not in {self.where}, so not compared"
        if self.value is None:
            return f"{self.feature}: {self.comparator} not measurable (not a finite number)"
        relation = "<=" if self.passed else ">"
        return f"{self.feature}: {self.comparator} {self.value:.4f} {relation} {self.threshold:g}"

    def to_dict(self) -> dict:
        return {"feature": self.feature, "comparator": self.comparator, "value": self.value,
                "threshold": self.threshold, "passed": self.passed, **({"where": self.where} if self.where else {})}

    @classmethod
    def from_dict(cls, values: dict) -> "DriftLine":
        return cls(values["feature"], values["comparator"], values["value"], values["threshold"],
                   values.get("where", ""))


@dataclasses.dataclass(frozen=True)
class DriftReport:
    """The drift check of one run: against which serving version, how it ended and every feature's comparison."""
    status: str  # COMPARED, NO_STATISTICS or NOTHING_SERVES
    serving_version: str = ""  # "" when nothing serves
    lines: Tuple[DriftLine, ...] = ()
    stop_on_drift: bool = False

    @property
    def drifted(self) -> List[DriftLine]:
        return [line for line in self.lines if not line.passed]

    @property
    def passed(self) -> bool:
        return not self.drifted

    @property
    def stopped(self) -> bool:
        return self.stop_on_drift and not self.passed

    @property
    def against(self) -> str:
        return f"drift vs serving version {self.serving_version}"

    def summary_lines(self) -> List[str]:
        """One line per drifted feature, or one line saying there was none (or why nothing was compared)."""
        if self.status == NOTHING_SERVES:
            return ["drift: nothing serves yet, no training statistics to compare with"]
        if self.status == NO_STATISTICS:
            return [f"{self.against}: no statistics of the serving version (pushed before versions carried them); "
                    "not compared"]
        if self.passed:
            return [f"{self.against}: none above thresholds ({len(self.lines)} features)"]
        how = (f"stopped the run ({STOP_FLAG})" if self.stop_on_drift else
               f"reported only; {STOP_FLAG} stops the run on it")
        return [f"{self.against}: {line.text()}" for line in self.drifted] + [
            f"{self.against}: {len(self.drifted)} of {len(self.lines)} features above thresholds, {how}"]

    def error_message(self) -> str:
        listing = "\n".join(f"  {line.text()}" for line in self.drifted)
        return (f"the training data drifted from serving version {self.serving_version}'s ({len(self.drifted)} of "
                f"{len(self.lines)} features above the schema's thresholds; feature: comparator value > threshold):"
                f"\n{listing}\nCheck the data; to train on it anyway, run without {STOP_FLAG} (drift is then reported "
                "only). Thresholds: drift_comparator in schema/schema.pbtxt (models/schema.py).")

    def to_dict(self) -> dict:
        return {"status": self.status, "serving_version": self.serving_version, "stop_on_drift": self.stop_on_drift,
                "passed": self.passed, "lines": [line.to_dict() for line in self.lines]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict) -> "DriftReport":
        return cls(values["status"], values.get("serving_version", ""),
                   tuple(DriftLine.from_dict(line) for line in values.get("lines", [])),
                   bool(values.get("stop_on_drift", False)))

    @classmethod
    def from_json(cls, text: str) -> "DriftReport":
        return cls.from_dict(json.loads(text))


def _comparator_name(measurement_type: int) -> str:
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    kind = anomalies_pb2.DriftSkewInfo.Measurement
    return {kind.L_INFTY: L_INFINITY, kind.JENSEN_SHANNON_DIVERGENCE: JENSEN_SHANNON}.get(
        measurement_type, kind.Type.Name(measurement_type))


def measure(current, schema, previous) -> Tuple[DriftLine, ...]:
    """Every drift comparison of the schema's drift comparators between two DatasetFeatureStatisticsLists (TFDV)."""
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    anomalies = tfdv.validate_statistics(current, schema, previous_statistics=previous)
    lines = []
    for info in anomalies.drift_skew_info:
        feature = ".".join(info.path.step)
        for measurement in info.drift_measurements:
            value = measurement.value
            lines.append(DriftLine(feature, _comparator_name(measurement.type),
                                   value if math.isfinite(value) else None, measurement.threshold))
    missing = {anomalies_pb2.AnomalyInfo.COMPARATOR_CONTROL_DATA_MISSING: "the serving version's statistics",
               anomalies_pb2.AnomalyInfo.COMPARATOR_TREATMENT_DATA_MISSING: "this run's statistics"}
    for feature, info in sorted(anomalies.anomaly_info.items()):
        for reason in info.reason:
            if reason.type in missing:
                lines.append(DriftLine(feature, MISSING, None, None, missing[reason.type]))
    return tuple(sorted(lines, key=lambda line: (line.feature, line.comparator)))


def read_statistics(path: str):
    """A binary DatasetFeatureStatisticsList (StatisticsGen's FeatureStats.pb)."""
    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import statistics_pb2

    with tf.io.gfile.GFile(path, "rb") as f:
        return statistics_pb2.DatasetFeatureStatisticsList.FromString(f.read())


def compare(current, schema, base_dir: str, stop_on_drift: bool = False) -> DriftReport:
    """The candidate's training statistics against those of the newest version committed under base_dir."""
    import tensorflow as tf

    from recommender import serving_dir

    latest = serving_dir.latest_version_dir(base_dir)
    if latest is None:
        return DriftReport(NOTHING_SERVES, stop_on_drift=stop_on_drift)
    version = os.path.basename(latest.rstrip("/"))
    path = os.path.join(latest, serving_dir.TRAINING_STATISTICS_FILE)
    if not tf.io.gfile.exists(path):
        return DriftReport(NO_STATISTICS, version, stop_on_drift=stop_on_drift)
    return DriftReport(COMPARED, version, measure(current, schema, read_statistics(path)), stop_on_drift)
