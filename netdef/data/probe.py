"""Item shapes for the shapes pass: from the real source, or a documented guess.

Caffe sizes a data layer's top from the first record of its source. When the
source is absent (a fresh clone of a repository without its LMDBs), netdef
still gives shapes, by this rule, and says so in one warning line:

- channels: what the layer says (ImageData's is_color: 3 or 1; WindowData 3);
  else the mean_file's (when it can be read: Caffe requires it to match the
  data); else the dataset a Data source's path names -- "siamese" 2 (MNIST
  pairs), "mnist" 1, "cifar" 3; else 3 (colour images);
- height x width: crop_size (the top is crop x crop whatever the image size);
  else the mean_file's; else MNIST 28x28 / CIFAR 32x32 by name as above;
  otherwise nothing can be assumed and the caller must pass
  --input <top>=N,C,H,W.
"""
from __future__ import annotations

from dataclasses import dataclass

from netdef.data.mean import read_mean
from netdef.data.paths import resolve
from netdef.errors import DataError

# Caffe's examples' datasets, recognised by a word in the source path: (C, H, W).
KNOWN_DATASETS = (("siamese", (2, 28, 28), "MNIST pairs"), ("mnist", (1, 28, 28), "MNIST"),
                  ("cifar", (3, 32, 32), "CIFAR-10"))


@dataclass
class Guess:
    """An assumed item shape (after cropping) and why, for the warning."""

    shape: tuple[int, int, int] | None
    reasons: list[str]


def mean_shape(transform_param, base_dir: str | None) -> tuple[int, int, int] | None:
    """(C, H, W) of the mean file if it can be found and read, else None."""
    if not transform_param.mean_file:
        return None
    path = resolve(transform_param.mean_file, base_dir)
    if path is None:
        return None
    try:
        return tuple(read_mean(path).shape)
    except DataError:
        return None


def guess(transform_param, base_dir: str | None, *, source: str = "", channels: int | None = None,
          size: tuple[int, int] | None = None, by_name: bool = False) -> Guess:
    """The rule in the module docstring. `channels`/`size` are what the layer type
    knows for sure (ImageData's is_color, new_height x new_width)."""
    mean = mean_shape(transform_param, base_dir)
    known = next(((word, s, label) for word, s, label in KNOWN_DATASETS if word in source.lower()),
                 None) if by_name else None
    crop = transform_param.crop_size
    if channels is not None:
        c, c_why = channels, None
    elif mean is not None:
        c, c_why = mean[0], "channels from mean_file"
    elif known is not None:
        c, c_why = known[1][0], f'{known[2]}\'s {known[1][0]} channel(s): the source path says "{known[0]}"'
    else:
        c, c_why = 3, "3 channels (colour images)"
    if crop:
        hw, hw_why = (crop, crop), f"{crop}x{crop} from crop_size"
    elif size is not None:
        hw, hw_why = size, None
    elif mean is not None:
        hw, hw_why = mean[1:], f"{mean[1]}x{mean[2]} from mean_file"
    elif known is not None:
        return Guess(known[1], [f'{known[2]} images ({"x".join(map(str, known[1]))}): the source path '
                                f'says "{known[0]}"'])
    else:
        return Guess(None, [])
    return Guess((c,) + tuple(hw), [why for why in (c_why, hw_why) if why])
