"""Finding a data layer's files: Caffe's rule first, then the prototxt's folder.

Caffe opens `source`, `mean_file` and list entries exactly as written, so a
relative path is relative to the directory Caffe runs in (usually Caffe's
root). netdef tries the same place first and then the folder of the prototxt
(`NetOptions.base_dir`), so `netdef shapes some/dir/net.prototxt` finds
sources written relative to the net as well.
"""
from __future__ import annotations

import os


def candidates(path: str, base_dir: str | None = None) -> list[str]:
    """The places `path` is looked for, in order (one for an absolute path)."""
    if not path:
        return []
    if os.path.isabs(path):
        return [path]
    places = [os.path.abspath(path)]
    if base_dir:
        alt = os.path.abspath(os.path.join(base_dir, path))
        if alt not in places:
            places.append(alt)
    return places


def resolve(path: str, base_dir: str | None = None) -> str | None:
    """The first existing candidate for `path`, or None."""
    for place in candidates(path, base_dir):
        if os.path.exists(place):
            return place
    return None


def looked_in(path: str, base_dir: str | None = None) -> str:
    """'a' or 'a, b': where `path` was looked for, for messages."""
    return " and ".join(candidates(path, base_dir)) or "(empty path)"
