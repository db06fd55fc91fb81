"""The adapter over Beam's private S3 uploader fails loudly when an upgrade changes what it relies on."""
import inspect

import pytest

pytestmark = pytest.mark.slow  # imports TensorFlow and Beam


def test_s3_registration_patches_the_uploader_beam_2_60_has():
    from apache_beam.io.aws import s3io

    from compat import file_systems

    source = inspect.getsource(s3io.S3Uploader)
    for attribute in ("self.parts = []", "self.buffer", "def _write_to_s3(self, data)",
                      "CompleteMultipartUploadRequest"):
        assert attribute in source, f"Beam's S3Uploader changed ({attribute!r}); revisit compat/file_systems.py"
    file_systems.register_for("/local/path")
    assert not getattr(s3io.S3Uploader.finish, "uploads_empty_files", False)
    file_systems.register_for("s3://bucket/root")
    assert s3io.S3Uploader.finish.uploads_empty_files
