"""The local pipeline compiled to its TFX IR (not the KFP spec of the compiled_pipeline fixture), for tests of how
the nodes are wired."""
from __future__ import annotations


def compiled_nodes(allow_anomalies: bool):
    """{node id: PipelineNode} of the compiled local pipeline (placeholder paths: nothing runs)."""
    from tfx.dsl.compiler import compiler

    from pipeline import configs
    from pipeline import pipeline as pipeline_lib

    pipeline = pipeline_lib.create_pipeline(
        configs.Settings(data_root="/tmp/unused", sample_gen=None, allow_anomalies=allow_anomalies),
        pipeline_name="gate-wiring", pipeline_root="/tmp/unused", schema_path="/tmp/unused/schema.pbtxt",
        serving_dir="/tmp/unused/serving")
    ir = compiler.Compiler().compile(pipeline)
    return {node.pipeline_node.node_info.id: node.pipeline_node for node in ir.nodes}
