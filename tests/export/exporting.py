"""Helpers shared by the export tests: running each format, comparing outputs."""
from __future__ import annotations

import os

import numpy as np
import pytest


def need_onnx():
    """onnx and onnxruntime; CI installs them (the dev extra), so there a missing one fails."""
    if os.environ.get("CI"):
        import onnx  # noqa: F401
        import onnxruntime
        return onnxruntime
    pytest.importorskip("onnx")
    return pytest.importorskip("onnxruntime")


def run_onnx(path, feed: dict) -> list[np.ndarray]:
    ort = need_onnx()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {k: np.asarray(v, np.float32) for k, v in feed.items()})


def max_error(got, expected) -> float:
    """max |got - expected| relative to the largest |expected| (absolute when that is 0)."""
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    assert got.shape == expected.shape, f"shape {got.shape} != {expected.shape}"
    scale = np.abs(expected).max() if expected.size else 0.0
    worst = np.abs(got - expected).max() if expected.size else 0.0
    return worst / scale if scale > 0 else worst
