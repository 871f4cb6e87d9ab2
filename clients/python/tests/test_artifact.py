"""quantlab_client.artifact against the project's own decoder: each fixture (written by
test/helpers/npz-fixtures.ts, checked to be current by test/export.npz.test.ts) holds an .npz export and, beside it,
the float32 weights quantlab's decoder gives; the reader must give the same bits. Needs no live stack."""
import os

import numpy as np
import pytest

from quantlab_client.artifact import read_npz

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
CASES = ["fixed8", "fixed12-channel", "dict3-per-layer-channel", "dict9", "float32"]


@pytest.mark.parametrize("case", CASES)
def test_decoded_weights_equal_quantlabs_bit_for_bit(case):
    art = read_npz(os.path.join(FIXTURES, f"{case}.npz"))
    with np.load(os.path.join(FIXTURES, f"{case}.expected.npz")) as expected:
        names = sorted(k for k in expected.files if k != "README.txt")
        assert sorted(art.weights) == names
        for name in names:
            want = expected[name]
            got = art.weights[name]
            assert got.dtype == np.float32 and got.shape == want.shape, name
            assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), name


def test_codes_keep_their_compact_types():
    fixed = read_npz(os.path.join(FIXTURES, "fixed8.npz")).layers["conv1/kernel"]
    assert fixed.encoding == "fixed" and fixed.codes.dtype == np.int8 and fixed.steps.shape == (1,)
    wide = read_npz(os.path.join(FIXTURES, "fixed12-channel.npz")).layers["fc/kernel"]
    assert wide.codes.dtype == np.int16 and wide.steps.shape == (5,)
    dict9 = read_npz(os.path.join(FIXTURES, "dict9.npz"))
    assert dict9.layers["fc/kernel"].codes.dtype == np.uint16 and dict9.dictionaries[0].shape == (512,)
    per_layer = read_npz(os.path.join(FIXTURES, "dict3-per-layer-channel.npz"))
    assert per_layer.layers["conv1/kernel"].codes.dtype == np.uint8 and len(per_layer.dictionaries) == 2
    assert per_layer.layers["fc/kernel"].scales.shape == (5,)
    assert read_npz(os.path.join(FIXTURES, "float32.npz")).layers["fc/bias"].encoding == "float32"


def test_a_file_that_is_not_an_export_is_refused(tmp_path):
    import zipfile

    path = tmp_path / "other.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", '{"format": "something-else"}')
    with pytest.raises(ValueError, match="not a quantlab-npz/1 file"):
        read_npz(path)
