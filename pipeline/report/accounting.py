"""Record accounting per split: rows read from the input = examples written + rows rejected.

Rows read are counted by the preflight (CSV data rows); examples written are the `num_examples` StatisticsGen
computed over ExampleGen's output. CsvExampleGen converts every row or fails, so nothing is rejected on the CSV
path: any difference is a loss and the run is reported as failed.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional

from ml_metadata.proto import metadata_store_pb2

from pipeline.report import metadata

STATISTICS_GEN = "StatisticsGen"


@dataclasses.dataclass(frozen=True)
class SplitAccount:
    split: str
    rows_read: int
    examples_written: Optional[int]  # None when the run stopped before the statistics
    rows_rejected: int = 0

    @property
    def balanced(self) -> bool:
        return self.examples_written is not None and self.rows_read == self.examples_written + self.rows_rejected

    def line(self) -> str:
        if self.examples_written is None:
            return f"  {self.split:<6} {self.rows_read} rows read; no examples counted (the run stopped before)"
        verdict = "ok" if self.balanced else "MISMATCH: rows were lost"
        return (f"  {self.split:<6} {self.rows_read} rows read = {self.examples_written} examples written"
                f" + {self.rows_rejected} rejected: {verdict}")


def examples_written(statistics: metadata_store_pb2.Artifact) -> Dict[str, int]:
    """num_examples per split of a StatisticsGen output."""
    from tfx.components.statistics_gen import stats_artifact_utils
    from tfx.types import artifact_utils, standard_artifacts

    artifact = standard_artifacts.ExampleStatistics()
    artifact.set_mlmd_artifact(statistics)
    return {split: stats_artifact_utils.load_statistics(artifact, split).proto().datasets[0].num_examples
            for split in artifact_utils.decode_split_names(artifact.split_names)}


def accounts(rows_read: Dict[str, int], record: Optional[metadata.RunRecord]) -> List[SplitAccount]:
    node = record.node(STATISTICS_GEN) if record else None
    statistics = node.output("statistics") if node else None
    written = examples_written(statistics) if statistics else {}
    return [SplitAccount(split, rows, written.get(split)) for split, rows in rows_read.items()]


def lines(split_accounts: List[SplitAccount]) -> List[str]:
    return ["records (rows read = examples written + rejected):"] + [a.line() for a in split_accounts]
