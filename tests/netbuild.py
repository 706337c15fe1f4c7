"""Building small test nets as prototxt text (shared by the layer test files)."""
from __future__ import annotations


def input_layer(name: str, top: str, shape: tuple[int, ...]) -> str:
    """One Input layer on one line."""
    dims = " ".join(f"dim: {d}" for d in shape)
    return f'layer {{ name: "{name}" type: "Input" top: "{top}" input_param {{ shape {{ {dims} }} }} }}'


def inputs_then(bottoms: dict[str, tuple[int, ...]], layer: str) -> str:
    """Input layers "in_<blob>" for `bottoms`, then `layer` (prototxt text)."""
    return "\n".join(input_layer(f"in_{b}", b, s) for b, s in bottoms.items()) + "\n" + layer


def layer_l(layer: str, *bottoms: tuple[int, ...]) -> str:
    """Inputs x0, x1, ... into layer "l" (top y); `layer` is the body after name, bottoms and
    top, e.g. 'type: "ReLU"', on a line of its own."""
    lines = ['name: "t"'] + [input_layer(f"in{i}", f"x{i}", s) for i, s in enumerate(bottoms)]
    tops = "".join(f' bottom: "x{i}"' for i in range(len(bottoms)))
    lines.append(f'layer {{ name: "l"{tops} top: "y"\n  {layer}\n}}')
    return "\n".join(lines) + "\n"


def row_net(body: str, bottoms: list[tuple[int, ...]], name: str = "test") -> str:
    """Inputs b0, b1, ... (one line each), then layer `name` with `body` on one line."""
    lines = ['name: "rows"'] + [input_layer(f"in{i}", f"b{i}", s) for i, s in enumerate(bottoms)]
    lines.append(f'layer {{ name: "{name}" {body} }}')
    return "\n".join(lines) + "\n"


def line_of(text: str, token: str, after: str = 'name: "l"') -> int:
    """1-based line of the first `token` after `after`."""
    start = text.index(after)
    return text.count("\n", 0, text.index(token, start)) + 1


def row_ids(rows) -> list[str]:
    """Test ids: the layer type (first quoted word of the row) and the row index."""
    return [f"{row[0].split(chr(34))[1]}-{i}" for i, row in enumerate(rows)]


def inputs_x(*shapes: tuple[int, ...]) -> str:
    """Input layers in0, in1, ... with tops x0, x1, ... (one line each)."""
    return "".join(input_layer(f"in{i}", f"x{i}", s) + "\n" for i, s in enumerate(shapes))


def field_layer(type_: str, params, tops=("data", "label"), bottoms=()) -> str:
    """Layer "d" of `type_`, one field per line (so file:line points somewhere)."""
    lines = ["layer {", '  name: "d"', f'  type: "{type_}"']
    lines += [f'  bottom: "{b}"' for b in bottoms] + [f'  top: "{t}"' for t in tops]
    return "\n".join(lines + [f"  {p}" for p in params] + ["}"]) + "\n"


def write_db(path, backend: str, records, map_size: int = 64 << 20) -> str:
    """An LMDB or LevelDB at `path` holding (key, value) records."""
    import pytest

    if backend == "LMDB":
        import lmdb

        env = lmdb.open(str(path), map_size=map_size)
        with env.begin(write=True) as txn:
            for key, value in records:
                txn.put(key, value)
        env.close()
    else:
        plyvel = pytest.importorskip("plyvel")
        db = plyvel.DB(str(path), create_if_missing=True)
        for key, value in records:
            db.put(key, value)
        db.close()
    return str(path)
