"""Layer specs: data family (Input and the layers that read data sources).

Source layers size their tops the way Caffe's set-up does: from the first
record of the source (a Datum, decoded if encoded; the first image of a list;
the first HDF5 file's datasets), then crop_size / new_height x new_width; the
label top is (N,). Relative paths are looked up in the current directory
(Caffe's rule), then in the prototxt's folder. The caller's --input / --batch
win over everything and, for the data top, keep the source from being read.
When the source is absent, netdef/data/probe.py's documented rule assumes a
shape from the prototxt alone (crop_size, batch, the layer's parameters; never
the path's name) and one warning line says so (or a ShapeError asks for --input).
"""
from __future__ import annotations

from contextlib import contextmanager

from netdef.errors import DataError, ShapeError
from netdef.layers.registry import register
from netdef.layers.spec import Count, LayerSpec, check, fmt_shape


def overridden(layer, top: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Apply the caller's --input NAME=dims and --batch N to a source layer's top."""
    context = layer.context
    if top in context.inputs:
        return tuple(context.inputs[top])
    if context.batch is not None and shape:
        return (context.batch,) + tuple(shape[1:])
    return tuple(shape)


@register
class Input(LayerSpec):
    type = "Input"
    param = "input_param"
    bottoms = Count.exactly(0)
    tops = Count.at_least(1)
    role = "input"
    impl = "data_torch:Input"

    def infer(self, layer, bottoms):
        shapes = layer.param.shape
        tops = layer.tops
        check(len(shapes) in (0, 1, len(tops)),
              f"give input_param.shape once, once per top ({len(tops)}), or not at all; "
              f"got {len(shapes)}", "shape")
        out = []
        for i, top in enumerate(tops):
            dims = tuple(shapes[0 if len(shapes) == 1 else i].dim) if shapes else ()
            out.append(overridden(layer, top, dims))
        return out

    def flops(self, layer, bottoms, tops):
        return 0

    def summary(self, layer):
        return ""


# -- helpers shared by the source layers --------------------------------------------
def batch_size(layer, size: int, field: str = "batch_size") -> int:
    """--batch if given, else the layer's own batch_size (which must be positive)."""
    if layer.context.batch is not None:
        return layer.context.batch
    check(size > 0, f"batch_size must be positive, got {size}", field)
    return size


def data_and_label(layer, batch: int, item: tuple[int, ...] | None) -> list[tuple[int, ...]]:
    """(N, C, H, W) for the data top and (N,) for the label top, after overrides."""
    data = overridden(layer, layer.tops[0], (batch,) + tuple(item or ()))
    out = [data]
    for top in layer.tops[1:]:
        out.append(overridden(layer, top, (data[0] if data else batch,)))
    return out


def data_top_given(layer) -> bool:
    """The caller gave the data top's shape: the source is not read at all."""
    return layer.tops[0] in layer.context.inputs


@contextmanager
def as_shape_error():
    """Problems reading a source are shape errors while shapes are inferred."""
    from netdef.data.sources import SourceMissing

    try:
        yield
    except SourceMissing:
        raise
    except DataError as err:
        raise ShapeError(err.message, field=err.field) from None


def warn(layer, message: str) -> None:
    if layer.context.warn is not None:
        layer.context.warn(f'{layer.where}: layer "{layer.name}" ({layer.type}): {message}')


def item_from_source(layer, read, assume, batch: int) -> tuple[int, int, int]:
    """The item shape `read()` finds in the source; if the source is absent, the
    shape `assume()` guesses (one warning), or a ShapeError asking for --input."""
    from netdef.data.sources import SourceMissing

    try:
        with as_shape_error():
            return read()
    except SourceMissing as missing:
        guess = assume()
        top = layer.tops[0]
        if guess.shape is None:
            raise ShapeError(f"{missing.message}; the prototxt gives no image size (no crop_size, "
                             f"resize or readable mean_file): pass --input {top}={batch},C,H,W",
                             field=missing.field) from None
        with as_shape_error():
            shape = transformed(layer, guess.shape, assumed=True)
        reasons = [f"batch {batch} from {'--batch' if layer.context.batch is not None else 'batch_size'}"]
        warn(layer, f"{missing.message}; assuming {top} is {fmt_shape((batch,) + shape)} from the "
                    f"prototxt ({', '.join(reasons + guess.reasons)}); pass --input {top}=N,C,H,W to set it")
        return shape


def transformed(layer, chw: tuple[int, int, int], assumed: bool = False) -> tuple[int, int, int]:
    """An item's shape after transform_param, with Caffe's checks (crop fits, mean fits)."""
    from netdef.data.mean import read_mean
    from netdef.data.paths import resolve
    from netdef.data.transform import DataTransformer

    t = layer.lp.transform_param
    mean_path = resolve(t.mean_file, layer.context.base_dir) if t.mean_file else None
    mean = read_mean(mean_path) if mean_path and not assumed else None
    transformer = DataTransformer(t, layer.phase, mean)
    shape = transformer.shape(chw)
    transformer.check_mean(chw)
    return shape


def check_transform_param(layer) -> None:
    from netdef.data.transform import check_param

    with as_shape_error():
        check_param(layer.lp.transform_param)


def _transform_summary(layer, batch: int, extra: str = "") -> str:
    t = layer.lp.transform_param
    parts = [f"batch {batch}"] + ([extra] if extra else [])
    if t.crop_size:
        parts.append(f"crop {t.crop_size}")
    if t.mirror:
        parts.append("mirror")
    return ", ".join(parts)


class _Source(LayerSpec):
    bottoms = Count.exactly(0)
    tops = Count.exactly(2)
    role = "data"

    def flops(self, layer, bottoms, tops):
        return 0


@register
class Data(_Source):
    type = "Data"
    param = "data_param"
    tops = Count(1, 2)
    impl = "data_torch:Data"

    def infer(self, layer, bottoms):
        from netdef.data.probe import guess

        p = layer.param
        check_transform_param(layer)
        batch = batch_size(layer, p.batch_size)
        if data_top_given(layer):
            return data_and_label(layer, batch, None)
        item = item_from_source(
            layer, lambda: first_datum_item(layer),
            lambda: guess(layer.lp.transform_param, layer.context.base_dir), batch)
        return data_and_label(layer, batch, item)

    def summary(self, layer):
        backend = "LMDB" if layer.param.backend == layer.param.LMDB else "LevelDB"
        return _transform_summary(layer, layer.param.batch_size, backend)


def first_datum_item(layer) -> tuple[int, int, int]:
    """The item shape the first record of a Data layer's database gives after
    transform_param; a problem with it names the record and the database."""
    from netdef.data import datum, image
    from netdef.data.db import Database
    from netdef.data.sources import find

    p = layer.param
    path = find(p.source, layer.context.base_dir, "source")
    with Database(path, "LMDB" if p.backend == p.LMDB else "LEVELDB") as db:
        key, value = db.first()
    try:
        record = datum.parse(value, key)
        mode = datum.decode_mode(layer.lp.transform_param) if record.encoded else image.NATIVE
        return transformed(layer, datum.shape(record, mode, key))
    except DataError as err:
        name = key.decode("utf-8", "replace")
        if f'"{name}"' in err.message:
            raise DataError(f'{err.message} (source "{p.source}")', field=err.field) from None
        raise DataError(f'record "{name}" of "{p.source}": {err.message}', field=err.field) from None


@register
class ImageData(_Source):
    type = "ImageData"
    param = "image_data_param"
    impl = "data_torch:ImageData"

    def infer(self, layer, bottoms):
        from netdef.data.probe import guess

        p = layer.param
        check((p.new_height == 0 and p.new_width == 0) or (p.new_height > 0 and p.new_width > 0),
              f"set new_height and new_width together (got new_height {p.new_height}, "
              f"new_width {p.new_width})", "new_height" if p.new_height else "new_width")
        check_transform_param(layer)
        batch = batch_size(layer, p.batch_size)
        if data_top_given(layer):
            return data_and_label(layer, batch, None)
        channels = 3 if p.is_color else 1
        if p.new_height > 0:  # every image is resized: the size is known without reading one
            with as_shape_error():
                return data_and_label(layer, batch, transformed(layer, (channels, p.new_height, p.new_width)))
        item = item_from_source(
            layer, lambda: transformed(layer, first_image_shape(layer)),
            lambda: guess(layer.lp.transform_param, layer.context.base_dir, channels=channels), batch)
        return data_and_label(layer, batch, item)

    def summary(self, layer):
        p = layer.param
        return _transform_summary(layer, p.batch_size, f"{p.new_height}x{p.new_width}" if p.new_height else "")


def first_image_shape(layer) -> tuple[int, int, int]:
    """(C, H, W) of the first image an ImageData list names (as decoded, before cropping)."""
    from netdef.data import image, lists
    from netdef.data.sources import find

    p, base = layer.param, layer.context.base_dir
    name = lists.read_image_list(find(p.source, base, "source"))[0][0]
    path = find(p.root_folder + name, base, "image", "root_folder" if p.root_folder else "source")
    return image.peek_shape(path, image.COLOR if p.is_color else image.GRAY, f'"{path}"')


@register
class WindowData(_Source):
    type = "WindowData"
    param = "window_data_param"
    impl = "data_torch:WindowData"

    def infer(self, layer, bottoms):
        from netdef.data.probe import guess

        p, t = layer.param, layer.lp.transform_param
        check(t.crop_size > 0, "WindowData needs transform_param.crop_size > 0: every window is "
                               f"warped to crop_size x crop_size (got {t.crop_size})", "transform_param.crop_size")
        check_transform_param(layer)
        batch = batch_size(layer, p.batch_size)
        if data_top_given(layer):
            return data_and_label(layer, batch, None)

        def read():
            from netdef.data.lists import read_window_file
            from netdef.data.sources import find
            from netdef.data.transform import check_mean_values

            path = find(p.source, layer.context.base_dir, "window file")
            channels = read_window_file(path, p.root_folder, p.fg_threshold, p.bg_threshold).channels
            check_mean_values(len(t.mean_value), channels)
            return channels, t.crop_size, t.crop_size

        item = item_from_source(layer, read, lambda: guess(t, None, channels=3), batch)
        return data_and_label(layer, batch, item)

    def summary(self, layer):
        return _transform_summary(layer, layer.param.batch_size, layer.param.crop_mode)


@register
class HDF5Data(_Source):
    type = "HDF5Data"
    param = "hdf5_data_param"
    tops = Count.at_least(1)
    impl = "data_torch:HDF5Data"

    def infer(self, layer, bottoms):
        from netdef.data.sources import HDF5Reader, SourceMissing, find

        p, options = layer.param, layer.context
        check(not layer.lp.HasField("transform_param"),
              "HDF5Data does not transform data: remove transform_param", "transform_param")
        batch = batch_size(layer, p.batch_size)
        if all(top in options.inputs for top in layer.tops):
            return [tuple(options.inputs[top]) for top in layer.tops]
        try:
            with as_shape_error():
                reader = HDF5Reader(find(p.source, options.base_dir, "source"), layer.tops,
                                    options.base_dir, False, None)
                shapes = reader.first_shapes()
        except SourceMissing as missing:
            wanted = " ".join(f"--input {top}={batch},..." for top in layer.tops)
            raise ShapeError(f"{missing.message}; HDF5Data takes its top shapes from the first HDF5 "
                             f"file, so they cannot be assumed: pass {wanted}", field=missing.field) from None
        return [overridden(layer, top, (batch,) + s[1:]) for top, s in zip(layer.tops, shapes)]

    def summary(self, layer):
        return f"batch {layer.param.batch_size}" + (", shuffle" if layer.param.shuffle else "")


@register
class HDF5Output(LayerSpec):
    type = "HDF5Output"
    param = "hdf5_output_param"
    bottoms = Count.exactly(2)
    tops = Count.exactly(0)
    impl = "data_torch:HDF5Output"

    def infer(self, layer, bottoms):
        check(bool(layer.param.file_name), "HDF5Output needs hdf5_output_param.file_name", "file_name")
        for i, b in enumerate(bottoms):
            check(len(b) <= 4, f"bottom {i} is {fmt_shape(b)}; HDF5Output writes blobs of at most "
                               "4 axes", "bottom")
        num = [b[0] if b else 1 for b in bottoms]
        check(num[0] == num[1], f"data and label must have the same batch size: {num[0]} vs {num[1]}",
              "bottom")
        return []

    def flops(self, layer, bottoms, tops):
        return 0

    def summary(self, layer):
        return layer.param.file_name


@register
class MemoryData(_Source):
    type = "MemoryData"
    param = "memory_data_param"
    impl = "data_torch:MemoryData"
    shape_at_forward = True  # Caffe's Forward reshapes the label to (N, 1, 1, 1)

    def infer(self, layer, bottoms):
        p = layer.param
        batch = layer.context.batch or p.batch_size
        dims = (batch, p.channels, p.height, p.width)
        check(batch * p.channels * p.height * p.width > 0,
              "batch_size, channels, height and width must be given and positive in "
              f"memory_data_param (got {fmt_shape(dims)})",
              next((f for f, v in zip(("batch_size", "channels", "height", "width"), dims) if v <= 0), None))
        return data_and_label(layer, batch, dims[1:])

    def summary(self, layer):
        return f"batch {layer.param.batch_size}"


@register
class DummyData(_Source):
    type = "DummyData"
    param = "dummy_data_param"
    tops = Count.at_least(1)
    impl = "data_torch:DummyData"

    def infer(self, layer, bottoms):
        return [overridden(layer, top, shape) for top, shape in zip(layer.tops, dummy_shapes(layer))]


def dummy_shapes(layer) -> list[tuple[int, ...]]:
    """Each top's shape from `shape` (once or per top) or legacy num/channels/height/width."""
    p, n = layer.param, len(layer.tops)
    check(len(p.data_filler) in (0, 1, n), f"give data_filler 0 times, once, or once per top ({n}); "
                                           f"got {len(p.data_filler)}", "data_filler")
    legacy = {f: list(getattr(p, f)) for f in ("num", "channels", "height", "width")}
    if any(legacy.values()):
        check(not len(p.shape), "give either shape or the legacy num/channels/height/width, not both",
              "shape")
        for f, values in legacy.items():
            check(len(values) in (1, n), f"give {f} once, or once per top ({n}); got {len(values)}", f)
        pick = lambda values, i: values[0] if len(values) == 1 else values[i]  # noqa: E731
        return [tuple(pick(legacy[f], i) for f in legacy) for i in range(n)]
    check(len(p.shape) in (1, n), f"give shape once, or once per top ({n}); got {len(p.shape)}", "shape")
    return [tuple(p.shape[0 if len(p.shape) == 1 else i].dim) for i in range(n)]
