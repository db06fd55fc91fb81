"""A run's TFMA output read with tfma.load_metrics directly, to check what the report and summary show."""
from __future__ import annotations

from pipeline.report import metadata


def tfma_overall_and_slices(record: metadata.RunRecord):
    """The run's TFMA output read with tfma.load_metrics directly (not through pipeline.report.summary).

    Returns ({model: {metric: value}} for the overall slice, {slice id: {metric: value}} for the candidate).
    """
    import tensorflow_model_analysis as tfma

    overall, slices = {}, {}
    for proto in tfma.load_metrics(record.node("Evaluator").output("evaluation").uri):
        parts = [f"{k.column}={k.bytes_value.decode() if k.HasField('bytes_value') else k.int64_value}"
                 for k in proto.slice_key.single_slice_keys]
        slice_name = ",".join(parts) or "overall"
        for item in proto.metric_keys_and_values:
            if item.key.is_diff or item.value.WhichOneof("type") != "double_value":
                continue
            model = item.key.model_name or "candidate"  # TFMA leaves the one model of a first run unnamed
            top_k = item.key.sub_key.top_k.value if item.key.sub_key.HasField("top_k") else None
            name = item.key.name + (f"@{top_k}" if top_k else "")
            if slice_name == "overall":
                overall.setdefault(model, {})[name] = item.value.double_value.value
            if model == "candidate":
                slices.setdefault(slice_name, {})[name] = item.value.double_value.value
    return overall, slices
