"""The pipeline image the top-level Dockerfile builds: its default name and where the project lives in it."""
import importlib.metadata

PROJECT_DISTRIBUTION = "sparrow-tfx"
IMAGE_REPOSITORY = "sparrow-tfx"
PROJECT_DIR = "/opt/sparrow-tfx"  # the Dockerfile's WORKDIR: the project's schema/ is read from here
SCHEMA_PATH_IN_IMAGE = f"{PROJECT_DIR}/schema/schema.pbtxt"
ENTRYPOINT_COMMAND = ("python", "-m", "pipeline.runners.kfp_entrypoint")  # every container of the compiled spec


def default_image() -> str:
    """`sparrow-tfx:<project version>-tfx<TFX version>`: this project on TFX's image of the pinned version."""
    versions = {name: importlib.metadata.version(name) for name in (PROJECT_DISTRIBUTION, "tfx")}
    return f"{IMAGE_REPOSITORY}:{versions[PROJECT_DISTRIBUTION]}-tfx{versions['tfx']}"
