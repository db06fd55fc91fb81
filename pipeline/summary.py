"""What a run did, in a few numbers: blessing, overall eval metrics, pushed version, time per component."""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional

from pipeline import metadata

EVALUATOR = "Evaluator"
PUSHER = "Pusher"


def overall_metrics(evaluation_uri: str) -> Dict[str, float]:
    """The overall slice's metrics from TFMA's output; comparison keys get a `_diff` suffix."""
    import tensorflow_model_analysis as tfma  # heavy; only when a summary is asked for

    for slice_metrics in tfma.load_metrics(evaluation_uri):
        if slice_metrics.slice_key.single_slice_keys:
            continue
        values = {}
        for item in slice_metrics.metric_keys_and_values:
            if item.value.WhichOneof("type") != "double_value":
                continue
            name = item.key.name + ("_diff" if item.key.is_diff else "")
            values[name] = item.value.double_value.value
        return values
    return {}


@dataclasses.dataclass
class RunSummary:
    run_id: str
    states: Dict[str, str]
    seconds: Dict[str, float]
    blessed: Optional[bool]
    metrics: Dict[str, float]
    pushed_dir: Optional[str]  # the version directory now serving this model (new or already there)
    newly_pushed: bool

    @property
    def succeeded(self) -> bool:
        return all(s in ("COMPLETE", "CACHED") for s in self.states.values())

    @classmethod
    def from_record(cls, record: metadata.RunRecord) -> "RunSummary":
        evaluator, pusher = record.node(EVALUATOR), record.node(PUSHER)
        blessing = evaluator.output("blessing") if evaluator else None
        evaluation = evaluator.output("evaluation") if evaluator else None
        pushed = pusher.output("pushed_model") if pusher else None
        newly_pushed = bool(pushed and metadata.custom_property(pushed, "pushed", 0))
        pushed_dir = None
        if pushed:
            pushed_dir = (metadata.custom_property(pushed, "pushed_destination") if newly_pushed
                          else metadata.custom_property(pushed, "already_served"))
        return cls(
            run_id=record.run_id,
            states={n.node_id: n.state for n in record.nodes.values()},
            seconds={n.node_id: n.seconds for n in record.nodes.values()},
            blessed=bool(metadata.custom_property(blessing, "blessed", 0)) if blessing else None,
            metrics=overall_metrics(evaluation.uri) if evaluation else {},
            pushed_dir=pushed_dir,
            newly_pushed=newly_pushed)

    def lines(self) -> list:
        out = [f"run {self.run_id}"]
        out += [f"  {node:<18} {self.states[node]:<9} {self.seconds[node]:7.1f} s" for node in self.states]
        auc, pr_auc = self.metrics.get("auc"), self.metrics.get("auc_precision_recall")
        if auc is not None:
            out.append(f"eval ROC AUC {auc:.4f}  PR AUC {pr_auc:.4f}  accuracy "
                       f"{self.metrics.get('binary_accuracy', float('nan')):.4f}  "
                       f"examples {self.metrics.get('example_count', 0):.0f}")
        out.append(f"blessed: {'yes' if self.blessed else 'no'}")
        if self.pushed_dir:
            how = "pushed" if self.newly_pushed else "already serving, not pushed again"
            out.append(f"serving model: {self.pushed_dir} ({how})")
        else:
            out.append("serving model: unchanged (nothing pushed)")
        return out
