"""RNN, LSTM, LSTMUnit: Caffe's RecurrentLayer family.

Caffe builds RNN and LSTM as an unrolled net of InnerProduct, Scale, Eltwise,
TanH and LSTMUnit layers sharing named parameters; the layer's parameter blobs
are the unrolled net's unique params in creation order. netdef runs the time
loop directly, but keeps that blob order and those shapes so .caffemodel files
load unchanged:

    RNN:  W_xh (H, D), b_h (H), [W_xh_static (H, Ds)], W_hh (H, H), W_ho (H, H), b_o (H)
    LSTM: W_xc (4H, D), b_c (4H), [W_xc_static (4H, Ds)], W_hc (4H, H)

with H = num_output, D = prod(x.shape[2:]), Ds = prod(x_static.shape[1:]).
LSTM gates are stacked i, f, o, g.

Bottoms: x (T, N, ...), cont (T, N), optional x_static (N, ...), then with
`expose_hidden` the initial states h_0 [, c_0] (1, N, H). Tops: the output
(T, N, H), then with `expose_hidden` the final states h_T [, c_T] (1, N, H).
"""
from __future__ import annotations

from math import prod

from netdef.layers.registry import register
from netdef.layers.spec import Blob, Count, LayerSpec, Shape, check, filler, fmt_shape


class _Recurrent(LayerSpec):
    """What RNN and LSTM share: the bottom/top layout and Caffe's set-up checks."""

    param = "recurrent_param"
    states: tuple[str, ...] = ()     # recurrent states, in Caffe's blob-name order
    gates: int = 1                   # rows of the x / h transforms per output unit

    def layout(self, layer, bottoms: list[Shape]) -> bool:
        """Check Caffe's set-up rules; return whether x_static is given."""
        p = layer.param
        check(p.num_output > 0, f"num_output must be positive, got {p.num_output}", "num_output")
        hidden = len(self.states) if p.expose_hidden else 0
        lo, hi = 2 + hidden, 3 + hidden
        check(lo <= len(bottoms) <= hi, _count_message(self, p, len(bottoms), lo, hi), "bottom")
        want_tops = 1 + hidden
        check(len(layer.tops) == want_tops,
              f"takes exactly {want_tops} top(s) with expose_hidden: {str(p.expose_hidden).lower()} "
              f"(output{''.join(', ' + s + '_T' for s in self.states[:hidden])}), "
              f"got {len(layer.tops)}", "top")
        x, cont = bottoms[0], bottoms[1]
        # x goes through an InnerProduct on axis 2, so it needs a feature axis after (T, N).
        check(len(x) >= 3, f"bottom 0 (x) must be T x N x features... (at least 3 axes), "
                           f"got {fmt_shape(x)}", "bottom")
        check(len(cont) == 2 and cont == x[:2],
              f"bottom 1 (cont) must be T x N = {fmt_shape(x[:2])} to match x {fmt_shape(x)}, "
              f"got {fmt_shape(cont)}", "bottom")
        static = len(bottoms) > lo
        if static:
            xs = bottoms[2]
            check(len(xs) >= 2 and xs[0] == x[1],
                  f"bottom 2 (x_static) must be N x features... with N = {x[1]} (at least 2 axes), "
                  f"got {fmt_shape(xs)}", "bottom")
        state_shape = (1, x[1], p.num_output)
        for i, name in enumerate(self.states[:hidden], 2 + static):
            check(bottoms[i] == state_shape,
                  f"bottom {i} ({name}_0) must be 1 x N x num_output = {fmt_shape(state_shape)}, "
                  f"got {fmt_shape(bottoms[i])}", "bottom")
        return static

    def infer(self, layer, bottoms):
        self.layout(layer, bottoms)
        p, (t, n) = layer.param, bottoms[0][:2]
        hidden = len(self.states) if p.expose_hidden else 0
        return [(t, n, p.num_output)] + [(1, n, p.num_output)] * hidden

    def _sizes(self, layer, bottoms) -> tuple[int, int, int | None]:
        """(rows of the transforms, D, Ds or None)."""
        static = self.layout(layer, bottoms)
        rows = self.gates * layer.param.num_output
        return rows, prod(bottoms[0][2:]), prod(bottoms[2][1:]) if static else None

    def macs(self, layer, bottoms, tops):
        rows, d, ds = self._sizes(layer, bottoms)
        t, n = bottoms[0][:2]
        h = layer.param.num_output
        return t * n * rows * (d + h) + (n * rows * ds if ds else 0)

    def summary(self, layer):
        p = layer.param
        return f"{p.num_output}" + (" expose_hidden" if p.expose_hidden else "")


def _count_message(spec, p, got: int, lo: int, hi: int) -> str:
    states = ", ".join(f"{s}_0" for s in spec.states)
    layout = f"x, cont, [x_static]{', ' + states if p.expose_hidden else ''}"
    return (f"takes {lo} or {hi} bottoms ({layout}) with expose_hidden: "
            f"{str(p.expose_hidden).lower()}, got {got}")


@register
class RNN(_Recurrent):
    """h_t = tanh(W_hh (cont_t h_{t-1}) + W_xh x_t + b_h [+ W_xh_static x_static]);
    output o_t = tanh(W_ho h_t + b_o)."""

    type = "RNN"
    bottoms = Count(2, 4)        # exact counts depend on expose_hidden: checked in layout()
    tops = Count(1, 2)
    no_backward_to = (1,)        # cont
    impl = "recurrent_torch:RNN"
    states = ("h",)

    def blobs(self, layer, bottoms):
        rows, d, ds = self._sizes(layer, bottoms)
        p = layer.param
        w, b = filler(p, "weight_filler"), filler(p, "bias_filler")
        blobs = [Blob("W_xh", (rows, d), w), Blob("b_h", (rows,), b)]
        if ds is not None:
            blobs.append(Blob("W_xh_static", (rows, ds), w))
        h = p.num_output
        return blobs + [Blob("W_hh", (h, h), w), Blob("W_ho", (h, h), w), Blob("b_o", (h,), b)]

    def macs(self, layer, bottoms, tops):
        t, n = bottoms[0][:2]
        h = layer.param.num_output
        return super().macs(layer, bottoms, tops) + t * n * h * h   # plus the W_ho output transform

    def flops(self, layer, bottoms, tops):
        # per step and unit: cont scale, two biases, the input sum(s), two tanh
        _, _, ds = self._sizes(layer, bottoms)
        t, n = bottoms[0][:2]
        return t * n * layer.param.num_output * (6 + (ds is not None))


@register
class LSTM(_Recurrent):
    """gates = W_hc (cont_t h_{t-1}) + W_xc x_t + b_c [+ W_xc_static x_static], then
    LSTMUnit: c_t = cont_t f_t c_{t-1} + i_t g_t, h_t = o_t tanh(c_t); output h_t."""

    type = "LSTM"
    bottoms = Count(2, 5)        # exact counts depend on expose_hidden: checked in layout()
    tops = Count(1, 3)
    no_backward_to = (1,)        # cont
    impl = "recurrent_torch:LSTM"
    states = ("h", "c")
    gates = 4

    def blobs(self, layer, bottoms):
        rows, d, ds = self._sizes(layer, bottoms)
        p = layer.param
        w = filler(p, "weight_filler")
        blobs = [Blob("W_xc", (rows, d), w), Blob("b_c", (rows,), filler(p, "bias_filler"))]
        if ds is not None:
            blobs.append(Blob("W_xc_static", (rows, ds), w))
        return blobs + [Blob("W_hc", (rows, p.num_output), w)]

    def flops(self, layer, bottoms, tops):
        # per step and unit: cont scale of h, 4 gate sums and biases, 3 sigmoids,
        # 2 tanh, the cell update (3) and the output product
        t, n = bottoms[0][:2]
        return t * n * layer.param.num_output * 18


@register
class LSTMUnit(LayerSpec):
    """One LSTM step: bottoms c_prev (1, N, H), gate inputs x (1, N, 4H) stacked
    i, f, o, g, and cont (1, N); tops c and h (1, N, H)."""

    type = "LSTMUnit"
    bottoms = Count.exactly(3)
    tops = Count.exactly(2)
    no_backward_to = (2,)        # cont
    impl = "recurrent_torch:LSTMUnit"

    def infer(self, layer, bottoms):
        c_prev, x, cont = bottoms
        for i, (name, b, axes) in enumerate((("c_prev", c_prev, 3), ("x", x, 3), ("cont", cont, 2))):
            check(len(b) == axes, f"bottom {i} ({name}) must have {axes} axes, got {fmt_shape(b)}",
                  "bottom")
            check(b[0] == 1, f"bottom {i} ({name}) must hold a single timestep (first axis 1), "
                             f"got {fmt_shape(b)}", "bottom")
            check(b[1] == c_prev[1], f"bottom {i} ({name}) has {b[1]} streams (axis 1) but "
                                     f"c_prev has {c_prev[1]}", "bottom")
        check(x[2] == 4 * c_prev[2],
              f"bottom 1 (x) must hold 4 gates x {c_prev[2]} units = {4 * c_prev[2]} on axis 2 "
              f"(c_prev is {fmt_shape(c_prev)}), got {fmt_shape(x)}", "bottom")
        return [c_prev, c_prev]

    def flops(self, layer, bottoms, tops):
        # per unit: 3 sigmoids, 2 tanh, cont * f, the cell update (3), o * tanh(c)
        return prod(tops[0]) * 10
