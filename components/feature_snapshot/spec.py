"""FeatureSnapshot's contract: keys defined once for the component, the executor, the Pusher and the tests."""
from tfx.types import component_spec, standard_artifacts
from tfx.types.experimental import simple_artifacts

EXAMPLES_KEY = "examples"
SNAPSHOT_KEY = "feature_snapshot"
# Raw MovieLens files (the ones SampleGen reads): a directory and patterns relative to it; "" = not used.
INPUT_BASE_KEY = "input_base"
RATINGS_PATTERN_KEY = "ratings_pattern"
MOVIES_PATTERN_KEY = "movies_pattern"
SHUFFLE_SHARDS_KEY = "shuffle_shards"  # 0: automatic (`shuffle_shards.shard_count`)
# Raw ratings at or after this moment (YYYY-MM-DD[THH:MM[:SS]], UTC) are not read, as SampleGen's as_of; "": all.
AS_OF_KEY = "as_of"
# The snapshot format the executor writes (recommender.snapshot.FORMAT_VERSION), set by the component: a cached
# snapshot in an earlier format is not reused.
FORMAT_VERSION_KEY = "format_version"
TRAIN_SPLIT = "train"  # the examples' split the cold-start back-test reads: the history before the cutoff

# A standard type: TFX's Kubeflow compiler and entry point map only standard types to Python classes.
SnapshotArtifact = simple_artifacts.Dataset


class FeatureSnapshotSpec(component_spec.ComponentSpec):
    PARAMETERS = {
        INPUT_BASE_KEY: component_spec.ExecutionParameter(type=str),
        RATINGS_PATTERN_KEY: component_spec.ExecutionParameter(type=str),
        MOVIES_PATTERN_KEY: component_spec.ExecutionParameter(type=str),
        SHUFFLE_SHARDS_KEY: component_spec.ExecutionParameter(type=int, optional=True),
        AS_OF_KEY: component_spec.ExecutionParameter(type=str, optional=True),
        FORMAT_VERSION_KEY: component_spec.ExecutionParameter(type=int, optional=True),
    }
    INPUTS = {EXAMPLES_KEY: component_spec.ChannelParameter(type=standard_artifacts.Examples)}
    OUTPUTS = {SNAPSHOT_KEY: component_spec.ChannelParameter(type=SnapshotArtifact)}
