"""Reports of a NetShapes: a torchinfo-style table and the JSON scripts rely on."""
from __future__ import annotations

from netdef.layers.spec import fmt_shape
from netdef.shapes.infer import NetShapes


def to_json(shapes: NetShapes) -> dict:
    """The `netdef shapes --json` document (keys are a stable interface)."""
    net = shapes.net
    batch = shapes.batch or 1
    return {
        "name": net.name,
        "file": net.file,
        "phase": net.phase_name,
        "batch": shapes.batch,
        "blobs": {name: list(shape) for name, shape in shapes.blobs.items()},
        "inputs": net.inputs,
        "outputs": net.outputs,
        "layers": [
            {
                "name": ls.layer.name,
                "type": ls.layer.type,
                "bottoms": ls.layer.bottoms,
                "tops": ls.layer.tops,
                "top_shapes": [list(s) for s in ls.top_shapes],
                "param_shapes": [list(b.shape) for b in ls.blobs],
                "params": ls.params,
                "shared_params": [b.count for b, s in zip(ls.blobs, ls.shared) if s],
                "macs": ls.macs,
                "flops": ls.flops,
                "loss_weights": ls.layer.loss_weights,
            }
            for ls in shapes.layers
        ],
        "total_params": shapes.total_params,
        "total_macs": shapes.total_macs,
        "total_macs_per_image": shapes.total_macs // batch,
        "total_flops": shapes.total_flops,
        "activation_bytes": 4 * shapes.activation_elements,
        "notes": net.notes,
    }


def _num(n: int) -> str:
    return f"{n:,}" if n else "-"


def to_table(shapes: NetShapes) -> str:
    """One row per layer (a row per extra top), then totals."""
    net = shapes.net
    rows = [("Layer", "Type", "Output shape", "Params", "MACs")]
    for ls in shapes.layers:
        layer = ls.layer
        label = layer.type + (" (in-place)" if layer.tops and layer.in_place(0) else "")
        summary = layer.spec.summary(layer)
        if summary:
            label += f" {summary}"
        tops = ls.top_shapes or [()]
        for i, shape in enumerate(tops):
            shown = fmt_shape(shape) if ls.top_shapes else "(no top)"
            if i == 0:
                rows.append((layer.name, label, shown, _num(ls.params), _num(ls.macs)))
            else:  # an extra top (a data layer's label): name it
                rows.append((f"  + {layer.tops[i]}", "", shown, "", ""))
    widths = [max(len(r[c]) for r in rows) for c in range(5)]
    line = "  ".join("=" * w for w in widths)

    def fmt(r):
        return "  ".join(r[c].ljust(widths[c]) if c < 3 else r[c].rjust(widths[c]) for c in range(5)).rstrip()

    batch = shapes.batch or 1
    out = [f'Net "{net.name}"  phase {net.phase_name}  batch {shapes.batch}  ({net.file})', fmt(rows[0]), line]
    out += [fmt(r) for r in rows[1:]]
    out.append(line)
    out.append(f"Total params: {shapes.total_params:,} ({4 * shapes.total_params / 2**20:,.2f} MiB as float32)")
    out.append(f"Total MACs (conv, inner product, ...): {shapes.total_macs:,} "
               f"({shapes.total_macs // batch:,} per image)")
    out.append(f"Other FLOPs (activations, pooling, norms, ...): {shapes.total_flops:,}")
    out.append(f"Activations (forward, float32): {4 * shapes.activation_elements / 2**20:,.2f} MiB")
    return "\n".join(out)
