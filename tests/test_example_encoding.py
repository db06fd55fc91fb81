"""The hand-written tf.Example wire format against protobuf's own Example built through its Python API."""
import math

import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from components.sample_gen.example_encoding import to_example
from models import features

_VALUES = {
    "int": st.integers(-2**63, 2**63 - 1),
    "float": st.floats(width=32),
    "string": st.text(),
}
samples = st.fixed_dictionaries({c.name: st.one_of(st.none(), _VALUES[c.kind]) for c in features.COLUMNS})


def protobuf_example(sample) -> tf.train.Example:
    example = tf.train.Example()
    for column in features.COLUMNS:
        value = sample[column.name]
        if value is None:
            continue
        feature = example.features.feature[column.name]
        if column.kind == "int":
            feature.int64_list.value.append(value)
        elif column.kind == "float":
            feature.float_list.value.append(value)
        else:
            feature.bytes_list.value.append(value.encode("utf-8"))
    return example


@settings(max_examples=300, deadline=None)
@given(sample=samples)
def test_encoded_sample_parses_to_the_protobuf_built_example(sample):
    parsed = tf.train.Example.FromString(to_example(sample))
    expected = protobuf_example(sample)
    # NaN != NaN: compare the bytes protobuf itself writes for both, in its deterministic key order.
    assert (parsed.features.SerializeToString(deterministic=True)
            == expected.features.SerializeToString(deterministic=True))
    assert set(parsed.features.feature) == {k for k, v in sample.items() if v is not None}


def test_floats_are_stored_as_float32():
    sample = dict.fromkeys(features.COLUMN_NAMES)
    sample["rating"] = 3.37
    value = tf.train.Example.FromString(to_example(sample)).features.feature["rating"].float_list.value[0]
    assert value != 3.37 and math.isclose(value, 3.37, rel_tol=1e-7)
