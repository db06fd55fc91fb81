"""Pusher executor that publishes atomically and never pushes the model already in serving again.

TFX's filesystem Pusher copies file by file into the version directory, so a server polling the base directory
can load a partial model; this one stages the copy and renames it into place (see components/serving_dir.py).
A re-run of an unchanged pipeline re-blesses the same model; pushing it again would only add a duplicate version.
"""
import logging
import os
from typing import Any, Dict, List

from tfx import types
from tfx.components.pusher import executor as tfx_pusher
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from components import serving_dir


class Executor(tfx_pusher.Executor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        model_push = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        model_path = self.GetModelPath(input_dict)
        destination = proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], pusher_pb2.PushDestination())
        base_dir = destination.filesystem.base_directory
        latest = serving_dir.latest_version_dir(base_dir)
        fingerprint = serving_dir.model_fingerprint(model_path)
        if latest and fingerprint and serving_dir.model_fingerprint(latest) == fingerprint:
            logging.info("Model %s is already served as %s; not pushing it again.", model_path, latest)
            self._MarkNotPushed(model_push)
            model_push.set_string_custom_property("already_served", latest)
            return
        target = serving_dir.publish(model_path, base_dir)
        io_utils.copy_dir(model_path, model_push.uri)
        self._MarkPushed(model_push, pushed_destination=target, pushed_version=os.path.basename(target))
        logging.info("Model pushed to %s.", target)
