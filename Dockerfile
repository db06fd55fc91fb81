# The pipeline image: TFX's official image of the pinned TFX version, plus this project.
# Every task of the compiled Kubeflow pipeline runs it (`python -m pipeline.runners.kfp_entrypoint`); Dataflow
# and portable Flink/Spark workers can run it too (TFX's image keeps Beam's worker entry point, /opt/apache/beam/boot).
# The base tag must equal the TFX version pinned in pyproject.toml (tests/test_kubeflow_image.py checks it).
FROM tensorflow/tfx:1.16.0

# TFX's image already has TFX, TensorFlow, TFT, TFMA, tf-keras, Beam and kfp in matching versions: install this
# project alone (--no-deps), so nothing of the image is re-resolved. The import check runs the installed package
# (the sources are gone by then) against the image's libraries.
COPY pyproject.toml README.md /tmp/sparrow-tfx-src/
COPY components /tmp/sparrow-tfx-src/components
COPY models /tmp/sparrow-tfx-src/models
COPY recommender /tmp/sparrow-tfx-src/recommender
COPY dataio /tmp/sparrow-tfx-src/dataio
COPY compat /tmp/sparrow-tfx-src/compat
COPY pipeline /tmp/sparrow-tfx-src/pipeline
COPY serving /tmp/sparrow-tfx-src/serving
# `sparrow-tfx serve` (serving/, serving/kserve/'s custom predictor): Starlette, uvicorn and what they need, pinned as
# in requirements.lock, not resolved either.
RUN python -m pip install --no-cache-dir --no-deps starlette==1.7.0 uvicorn==0.54.0 anyio==4.16.0 h11==0.16.0 \
    exceptiongroup==1.3.2 idna==3.20 typing-extensions==4.16.0
RUN python -m pip install --no-cache-dir --no-deps /tmp/sparrow-tfx-src \
    && rm -rf /tmp/sparrow-tfx-src \
    && python -c "import models.trainer, models.preprocessing, components.evaluator.eval_config, recommender.serve, \
    pipeline.runners.kfp_entrypoint, serving.server"

# ImportSchemaGen reads the curated schema from here (pipeline/runners/image.py SCHEMA_PATH_IN_IMAGE).
WORKDIR /opt/sparrow-tfx
COPY schema ./schema
