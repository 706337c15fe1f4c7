"""The text files data layers read: image lists, HDF5 file lists, window files."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from netdef.errors import DataError


def _read(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()
    except OSError as err:
        raise DataError(f'cannot read {what} "{path}": {err.strerror}', field="source") from None


def atoi(text: str) -> int:
    """C's atoi: optional leading whitespace and sign, then digits; 0 if none."""
    text = text.lstrip(" \t\n\v\f\r")
    sign, i = 1, 0
    if text[:1] in "+-" and text[:1]:
        sign, i = (-1 if text[0] == "-" else 1), 1
    j = i
    while j < len(text) and text[j] in "0123456789":
        j += 1
    return sign * int(text[i:j]) if j > i else 0


def parse_image_list(text: str, keep_empty: bool = False) -> list[tuple[str, int]]:
    """ImageData lines `path label`: the label follows the LAST space, so paths may
    contain spaces. A line without a space is, as in Caffe, both path and label.
    An empty line is an error, or with `keep_empty` the entry ("", 0), which is
    what convert_imageset makes of it (an image that fails to load)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # std::getline yields no line after a final newline
    entries = []
    for number, line in enumerate(lines, 1):
        if not line.strip() and not keep_empty:
            raise DataError(f"line {number} of the image list is empty", field="source")
        pos = line.rfind(" ")
        entries.append((line[:pos] if pos >= 0 else line, atoi(line[pos + 1:])))
    return entries


def read_image_list(path: str, keep_empty: bool = False) -> list[tuple[str, int]]:
    entries = parse_image_list(_read(path, "image list"), keep_empty)
    if not entries:
        raise DataError(f'image list "{path}" is empty', field="source")
    return entries


def read_hdf5_list(path: str) -> list[str]:
    """HDF5Data's source: file names separated by any whitespace (Caffe reads words)."""
    names = _read(path, "HDF5 file list").split()
    if not names:
        raise DataError(f'"{path}" lists no HDF5 file; it needs at least one', field="source")
    return names


@dataclass
class WindowFile:
    """A WindowData source: images (path, (C, H, W)) and their windows.

    A window is (image index, label, overlap, x1, y1, x2, y2)."""

    images: list[tuple[str, tuple[int, int, int]]] = field(default_factory=list)
    foreground: list[tuple] = field(default_factory=list)
    background: list[tuple] = field(default_factory=list)

    @property
    def channels(self) -> int:
        """Caffe sizes the data top with the channels of the LAST image entry."""
        return self.images[-1][1][0]


def parse_window_file(text: str, root_folder: str = "", fg_threshold: float = 0.5,
                      bg_threshold: float = 0.5) -> WindowFile:
    """`# index / path / C / H / W / n / n x (label overlap x1 y1 x2 y2)`, repeated.
    Windows with overlap >= fg_threshold are foreground, < bg_threshold background
    (label 0, overlap 0); the rest are dropped."""
    words, out, pos = text.split(), WindowFile(), 0

    def take(kind, what):
        nonlocal pos
        if pos >= len(words):
            raise DataError(f"window file ends early: expected {what}", field="source")
        try:
            value = kind(words[pos])
        except ValueError:
            raise DataError(f"window file: expected {what}, got {words[pos]!r}", field="source") from None
        pos += 1
        return value

    while pos < len(words):
        if take(str, '"#"') != "#":
            raise DataError(f"window file: expected \"#\" to start image entry {len(out.images)}, "
                            f"got {words[pos - 1]!r}", field="source")
        index = take(int, "an image index")
        path = root_folder + take(str, "an image path")
        size = (take(int, "channels"), take(int, "height"), take(int, "width"))
        out.images.append((path, size))
        for _ in range(take(int, "the number of windows")):
            label, overlap = take(int, "a label"), np.float32(take(float, "an overlap"))
            box = tuple(take(int, "a coordinate") for _ in range(4))
            if overlap >= np.float32(fg_threshold):  # float32 compares, as Caffe's
                if label <= 0:
                    raise DataError(f"foreground window of image {index} has label {label}; "
                                    "foreground labels must be > 0", field="source")
                out.foreground.append((index, label, float(overlap)) + box)
            elif overlap < np.float32(bg_threshold):
                out.background.append((index, 0, 0.0) + box)
    if not out.images:
        raise DataError("window file is empty", field="source")
    return out


def read_window_file(path: str, root_folder: str = "", fg_threshold: float = 0.5,
                     bg_threshold: float = 0.5) -> WindowFile:
    return parse_window_file(_read(path, "window file"), root_folder, fg_threshold, bg_threshold)
