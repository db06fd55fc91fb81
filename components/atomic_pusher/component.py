"""AtomicPusher: publishes a blessed model with its feature snapshot as one new serving version.

TFX's filesystem Pusher copies file by file into the version directory, so a server polling the base directory
can load a partial model, and it has no input for the features the model is to be served with. This one stages
the model and the snapshot (under `assets.extra/feature_snapshot/`), the CatalogueEvaluator's serving policy
where it wrote one (`serving_policy.json`, a first-run fallback) and the training split's statistics
(`assets.extra/statistics/train.pb`, for the next run's drift check), and renames the whole into place.
"""
from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts

from components.atomic_pusher import executor, spec


class AtomicPusher(base_component.BaseComponent):
    SPEC_CLASS = spec.AtomicPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, model: types.BaseChannel, model_blessing: types.BaseChannel,
                 feature_snapshot: types.BaseChannel, serving_dir: str,
                 catalogue_evaluation: Optional[types.BaseChannel] = None,
                 statistics: Optional[types.BaseChannel] = None):
        super().__init__(spec.AtomicPusherSpec(
            model=model, model_blessing=model_blessing, feature_snapshot=feature_snapshot,
            catalogue_evaluation=catalogue_evaluation, statistics=statistics,
            push_destination=pusher_pb2.PushDestination(
                filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=serving_dir)),
            pushed_model=types.Channel(type=standard_artifacts.PushedModel)))
