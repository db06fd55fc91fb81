"""Object-store file systems for TensorFlow and Beam, and the two faults of the pinned versions on S3.

Local paths, gs:// and hdfs:// are TensorFlow's own; s3:// comes from tensorflow-io since TF 2.6, registered when
it is imported. A process that touches an s3:// path through tf.io.gfile (TFX's fileio uses it) calls
`register_for` first. Beam reaches S3 through boto3 (endpoint and keys from the AWS_* environment or Beam's
--s3_* flags).

This is the one adapter over a private Beam API (apache_beam.io.aws.s3io.S3Uploader): Beam 2.60 completes the
multipart upload of an empty file with no parts, which S3 refuses (MalformedXML), so any empty output (a
rejections file with no rejections) fails the write. The fix uploads one empty part first.
"""
from __future__ import annotations

import os
import sys

S3_SCHEME = "s3://"
_s3_registered = False


def _upload_empty_files_to_s3() -> None:
    from apache_beam.io.aws import s3io

    uploader = s3io.S3Uploader
    if getattr(uploader.finish, "uploads_empty_files", False):
        return
    finish = uploader.finish

    def finish_with_a_part(self):
        if not self.parts and not self.buffer:
            self._write_to_s3(b"")  # pylint: disable=protected-access
        finish(self)

    finish_with_a_part.uploads_empty_files = True
    uploader.finish = finish_with_a_part


def register_for(*paths: str) -> None:
    """Makes s3:// work in this process if any of paths is on S3."""
    global _s3_registered
    if any(path.startswith(S3_SCHEME) for path in paths):
        import tensorflow_io  # noqa: F401  registers the s3:// file system on import

        _upload_empty_files_to_s3()
        _s3_registered = True


def leave(exit_code: int) -> None:
    """Ends the process with exit_code. Once this process registered S3, the interpreter's normal exit aborts in
    tensorflow-io's S3 client ("pure virtual method called", exit 134; tensorflow/io#2039), so then it leaves
    without running static destructors, once stdout and stderr are flushed."""
    if _s3_registered:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(exit_code)
    sys.exit(exit_code)
