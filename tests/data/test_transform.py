"""The DataTransformer against every batch Caffe produced (caffe-reference/data/transforms).

TEST-phase variants must match bit for bit, JPEG ones included: netdef decodes
with OpenCV's libjpeg-turbo, as Caffe did. TRAIN crops
and mirrors are random: each Caffe item must be one of the crops/mirrors netdef can
produce, and exactly the one found for it when given the same offsets.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from netdef.data import datum, image
from netdef.data.db import Database
from netdef.data.lists import read_image_list
from netdef.data.mean import read_mean
from netdef.data.transform import DataTransformer
from netdef.errors import DataError
from netdef.proto import caffe_pb2



class Scripted:
    """A stand-in for the random generator: returns the given draws in order."""

    def __init__(self, *draws):
        self.draws = list(draws)

    def integers(self, n):
        value = self.draws.pop(0)
        assert 0 <= value < n
        return value


def _variants(ref_data):
    return json.loads((ref_data / "transforms" / "index.json").read_text())


def _layer_param(ref_data, name):
    from netdef.parse import read_net

    param, _, _ = read_net(str(ref_data / "transforms" / f"{name}.prototxt"))
    return param.layer[0]


def _records(ref_data, lp):
    """Every source item as Caffe's transformer receives it: (C, H, W) arrays."""
    if lp.type == "ImageData":
        p = lp.image_data_param
        return [image.read_image(str(ref_data / (p.root_folder + path)), p.new_height, p.new_width,
                                 p.is_color).transpose(2, 0, 1)
                for path, _ in read_image_list(str(ref_data / p.source))]
    mode = datum.decode_mode(lp.transform_param)
    with Database(str(ref_data / lp.data_param.source), "LMDB") as db:
        return [datum.to_array(datum.parse(v, k), mode, k) for k, v in db.items()]


def _transformer(ref_data, lp, phase, rng=None):
    t = lp.transform_param
    mean = read_mean(str(ref_data / t.mean_file)) if t.mean_file else None
    return DataTransformer(t, caffe_pb2.Phase.Value(phase), mean, rng)


def test_reference_variants_are_all_covered(ref_data):
    assert len(_variants(ref_data)) == 15


@pytest.mark.parametrize("name", ["a_v1_crop32_meanfile_scale", "a_v2_meanvalues_bgr",
                                  "a_v3_crop30_mean128_scale", "b_v1_crop32_meanfile_scale", "c_identity",
                                  "d_force_color", "e_native", "e_force_color", "e_force_gray",
                                  "f_float_crop4_mean_scale", "f_float_identity", "imagedata_color",
                                  "imagedata_gray"])
def test_test_phase_outputs_match_caffe(ref_data, name):
    lp = _layer_param(ref_data, name)
    records = _records(ref_data, lp)
    transform = _transformer(ref_data, lp, "TEST")
    stored = np.load(ref_data / "transforms" / f"{name}.npz")
    for i in range(int(stored["n_batches"])):
        for j, index in enumerate(stored[f"record_index_{i}"]):
            out = transform(records[index])
            want = stored[f"data_{i}"][j]
            assert out.dtype == np.float32 and out.shape == want.shape
            assert np.array_equal(out, want), f"batch {i} item {j}"


@pytest.mark.parametrize("name,phase", [("train_a_crop32_mirror", "TRAIN"), ("test_a_crop32_mirror", "TEST")])
def test_random_crops_and_mirrors_are_members(ref_data, name, phase):
    lp = _layer_param(ref_data, name)
    records = _records(ref_data, lp)
    stored = np.load(ref_data / "transforms" / f"{name}.npz")
    offsets = range(36 - 32 + 1) if phase == "TRAIN" else [2]
    for i in range(int(stored["n_batches"])):
        for j, index in enumerate(stored[f"record_index_{i}"]):
            want = stored[f"data_{i}"][j]
            h, w, m = (int(stored[f"{k}_{i}"][j]) for k in ("h_off", "w_off", "mirror"))
            draws = (m, h, w) if phase == "TRAIN" else (m,)
            assert np.array_equal(_transformer(ref_data, lp, phase, Scripted(*draws))(records[index]), want)
            matches = [(mm, hh, ww) for mm in (0, 1) for hh in offsets for ww in offsets
                       if np.array_equal(_transformer(ref_data, lp, phase, Scripted(
                           *((mm, hh, ww) if phase == "TRAIN" else (mm,))))(records[index]), want)]
            assert len(matches) == int(stored[f"n_matches_{i}"][j]) == 1


def test_own_random_draws_stay_in_range(ref_data):
    lp = _layer_param(ref_data, "train_a_crop32_mirror")
    rec = _records(ref_data, lp)[0]
    transform = _transformer(ref_data, lp, "TRAIN", np.random.default_rng(0))
    mean = read_mean(str(ref_data / "mean_a.binaryproto"))
    outs = {transform(rec).tobytes() for _ in range(200)}
    candidates = {np.ascontiguousarray(c[:, :, ::-1] if m else c).tobytes()
                  for h in range(5) for w in range(5) for m in (0, 1)
                  for c in [rec[:, h:h + 32, w:w + 32].astype(np.float32) - mean[:, h:h + 32, w:w + 32]]}
    assert outs <= candidates and len(outs) > 10


def _param(**fields):
    t = caffe_pb2.TransformationParameter()
    for key, value in fields.items():
        if key == "mean_value":
            t.mean_value.extend(value)
        else:
            setattr(t, key, value)
    return t


@pytest.mark.parametrize("fields,shape,mean,message", [
    ({"crop_size": 32}, (3, 30, 40), None, "crop_size 32 is larger than the item's height 30"),
    ({}, (3, 30, 40), (3, 36, 36), "mean_file is 3x36x36 but the item is 3x30x40"),
    ({"mean_value": [1, 2]}, (3, 4, 4), None, r"give either 1 mean_value or as many as channels \(3\); got 2"),
    ({}, (0, 4, 4), None, "at least one channel"),
])
def test_transform_errors(fields, shape, mean, message):
    t = DataTransformer(_param(**fields), 1, None if mean is None else np.zeros(mean, np.float32))
    with pytest.raises(DataError, match=message):
        t(np.zeros(shape, np.uint8))


def test_mean_file_and_mean_value_exclude_each_other():
    with pytest.raises(DataError, match="cannot specify mean_file and mean_value at the same time"):
        DataTransformer(_param(mean_file="m", mean_value=[1]), 1)


def test_single_mean_value_is_replicated_in_place_as_in_caffe(ref_data):
    """Caffe bug kept on purpose (errors.json e_single_mean_value_mixed_channels)."""
    lp = _layer_param(ref_data, "e_native")
    records = _records(ref_data, lp)
    transform = DataTransformer(_param(mean_value=[128]), 1)
    for rec in records[:3]:
        assert np.array_equal(transform(rec), rec.astype(np.float32) - 128)
    with pytest.raises(DataError, match=r"give either 1 mean_value or as many as channels \(1\); got 3"):
        transform(records[3])  # the first gray PNG


def test_force_color_and_gray_together():
    with pytest.raises(DataError, match="cannot set both force_color and force_gray"):
        datum.decode_mode(_param(force_color=True, force_gray=True))
