"""Item shapes for the shapes pass when a data source is absent: what the prototxt says.

Caffe sizes a data layer's top from the first record of its source. When the
source is absent (a fresh clone of a repository without its LMDBs), netdef
still gives shapes from the prototxt alone -- never from words in a path name --
and says so in one warning line:

- channels: what the layer says (ImageData's is_color: 3 or 1; WindowData 3);
  else the mean_file's (when it can be read: Caffe requires it to match the
  data); else the number of mean_value entries when there are several (Caffe
  requires one per channel); else 3 (colour images);
- height x width: crop_size (the top is crop x crop whatever the image size);
  else the layer's resize (new_height x new_width); else the mean_file's;
  otherwise nothing can be assumed and the caller must pass
  --input <top>=N,C,H,W.

The batch is the layer's batch_size, or --batch.
"""
from __future__ import annotations

from dataclasses import dataclass

from netdef.data.mean import read_mean
from netdef.data.paths import resolve
from netdef.errors import DataError


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


def _channels(transform_param, mean, channels: int | None) -> tuple[int, str | None]:
    if channels is not None:
        return channels, None
    if mean is not None:
        return mean[0], "channels from mean_file"
    if len(transform_param.mean_value) > 1:
        n = len(transform_param.mean_value)
        return n, f"{n} channels from the {n} mean_value entries"
    return 3, "3 channels (colour images)"


def guess(transform_param, base_dir: str | None, *, channels: int | None = None,
          size: tuple[int, int] | None = None) -> Guess:
    """The rule in the module docstring. `channels`/`size` are what the layer type
    knows for sure (ImageData's is_color, new_height x new_width)."""
    mean = mean_shape(transform_param, base_dir)
    c, c_why = _channels(transform_param, mean, channels)
    crop = transform_param.crop_size
    if crop:
        hw, hw_why = (crop, crop), f"{crop}x{crop} from crop_size"
    elif size is not None:
        hw, hw_why = size, None
    elif mean is not None:
        hw, hw_why = mean[1:], f"{mean[1]}x{mean[2]} from mean_file"
    else:
        return Guess(None, [])
    return Guess((c,) + tuple(hw), [why for why in (c_why, hw_why) if why])
