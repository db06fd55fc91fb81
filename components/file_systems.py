"""TensorFlow file systems that TensorFlow itself does not register: s3:// comes from tensorflow-io since TF 2.6.

Local paths, gs:// and hdfs:// are TensorFlow's own. A process that reads or writes an s3:// path through
tf.io.gfile (TFX's fileio uses it) must call `register_for` first.
"""


def register_for(path: str) -> None:
    if path.startswith("s3://"):
        import tensorflow_io  # noqa: F401  registers the s3:// file system on import
