"""What a user must not see on the console: the lines TensorFlow, absl, Beam and Google's clients print."""
from __future__ import annotations

import re

# Lines TensorFlow, absl, Beam and Google's clients print when nothing holds them back.
NOISE = re.compile(r"cuFFT|cuDNN|cuBLAS|Warning:|WARNING:absl|absl::|Traceback|apache_beam|tensorflow/|"
                   r"google/|site-packages|I0000|E0000|W0000")


def assert_quiet(*outputs: str) -> None:
    noisy = [line for output in outputs for line in output.splitlines() if NOISE.search(line)]
    assert not noisy, noisy
