"""Torch forward for the recurrent family (see recurrent.py for the specs).

The time loop runs directly in torch; autograd gives the gradients of the
unrolled net, except in the LSTM cell, whose backward is Caffe's own (below).

Two Caffe behaviours are kept on purpose:
- Without expose_hidden the layer is stateful: each forward starts from the
  final states of the previous forward (zeros at first; `reset()` zeroes them,
  like Caffe's RecurrentLayer::Reset). Gradients never cross forwards.
- With expose_hidden, Caffe shares only the *data* of the h_0/c_0 bottoms and
  h_T/c_T tops with the unrolled net, never their diffs: no gradient flows into
  h_0/c_0, and diffs put on h_T/c_T are ignored. Here those are detached.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from netdef.layers.base_torch import CaffeLayer


class _LSTMCell(torch.autograd.Function):
    """c = cont*sigmoid(f')*c_prev + i*g, h = o*tanh(c), with Caffe's LSTMUnit backward.

    Caffe folds cont into the forget gate, f = cont*sigmoid(f'), and differentiates
    as if f itself were the sigmoid: df' = dc_total * c_prev * f * (1 - f). That is
    the true gradient only for binary cont, so autograd alone would differ for
    fractional cont."""

    @staticmethod
    def forward(ctx, c_prev, gates, cont):  # (M, H), (M, 4H), (M,)
        i, f, o, g = gates.chunk(4, dim=-1)
        i, o, g = torch.sigmoid(i), torch.sigmoid(o), torch.tanh(g)
        f = torch.sigmoid(f) * cont.unsqueeze(-1)
        c = f * c_prev + i * g
        tanh_c = torch.tanh(c)
        ctx.save_for_backward(c_prev, i, f, o, g, tanh_c)
        return c, o * tanh_c

    @staticmethod
    @once_differentiable
    def backward(ctx, dc, dh):
        c_prev, i, f, o, g, tanh_c = ctx.saved_tensors
        dc_total = dc + dh * o * (1 - tanh_c * tanh_c)
        d_gates = torch.cat([dc_total * g * i * (1 - i),
                             dc_total * c_prev * f * (1 - f),
                             dh * tanh_c * o * (1 - o),
                             dc_total * i * (1 - g * g)], dim=-1)
        return dc_total * f, d_gates, None


def lstm_cell(c_prev, gates, cont):
    """One LSTM step over M streams: (M, H), (M, 4H), (M,) -> c, h (M, H)."""
    return _LSTMCell.apply(c_prev, gates, cont.detach().to(gates.dtype))


class LSTMUnit(CaffeLayer):
    def forward(self, c_prev, x, cont):  # (1, N, H), (1, N, 4H), (1, N)
        h_dim = c_prev.shape[-1]
        c, h = lstm_cell(c_prev.reshape(-1, h_dim), x.reshape(-1, 4 * h_dim), cont.reshape(-1))
        return c.reshape(c_prev.shape), h.reshape(c_prev.shape)


class _Recurrent(CaffeLayer):
    """Bottom/top plumbing and the carried state shared by RNN and LSTM."""

    states: tuple[str, ...] = ()

    def setup(self, layer, shapes):
        p = layer.param
        self.num_output = p.num_output
        self.expose_hidden = p.expose_hidden
        hidden = len(self.states) if self.expose_hidden else 0
        self.static = len(shapes.bottom_shapes) > 2 + hidden
        for name in self.states:  # final states of the last forward (not saved in caffemodels)
            self.register_buffer(f"{name}_state", None, persistent=False)

    def reset(self) -> None:
        """Forget the carried states (Caffe's Reset): the next forward starts from zeros."""
        for name in self.states:
            setattr(self, f"{name}_state", None)

    def _inputs(self, x, rest):
        """x as (T, N, D); x_static as (N, Ds) or None; initial states, each (N, H)."""
        t, n = x.shape[:2]
        x_static = rest[0].reshape(n, -1) if self.static else None
        given = rest[self.static:]
        if self.expose_hidden:
            initial = [s.detach().reshape(n, self.num_output) for s in given]
        else:
            initial = [self._carried(name, n, x) for name in self.states]
        return x.reshape(t, n, -1), x_static, initial

    def _carried(self, name, n, like):
        state = getattr(self, f"{name}_state")
        if state is None or state.shape != (n, self.num_output):
            return like.new_zeros(n, self.num_output)  # first forward, or N changed
        return state.to(like)

    def _finish(self, top, finals):
        """The tops: output, then (expose_hidden) final states; else keep them for next time."""
        if not self.expose_hidden:
            for name, state in zip(self.states, finals):
                setattr(self, f"{name}_state", state.detach())
            return top
        return (top,) + tuple(s.detach().unsqueeze(0) for s in finals)


class RNN(_Recurrent):
    states = ("h",)

    def forward(self, x, cont, *rest):  # x (T, N, ...), cont (T, N)
        x, x_static, (h,) = self._inputs(x, rest)
        drive = F.linear(x, self.W_xh, self.b_h)                             # (T, N, H)
        if x_static is not None:
            drive = drive + F.linear(x_static, self.W_xh_static)             # + (N, H)
        keep = cont.detach().to(drive.dtype).unsqueeze(-1)                   # (T, N, 1)
        hs = []
        for t in range(drive.shape[0]):
            h = torch.tanh(F.linear(h * keep[t], self.W_hh) + drive[t])     # (N, H)
            hs.append(h)
        out = torch.tanh(F.linear(torch.stack(hs), self.W_ho, self.b_o))    # (T, N, H)
        return self._finish(out, [h])


class LSTM(_Recurrent):
    states = ("h", "c")

    def forward(self, x, cont, *rest):  # x (T, N, ...), cont (T, N)
        x, x_static, (h, c) = self._inputs(x, rest)
        drive = F.linear(x, self.W_xc, self.b_c)                             # (T, N, 4H)
        if x_static is not None:
            drive = drive + F.linear(x_static, self.W_xc_static)             # + (N, 4H)
        cont = cont.detach().to(drive.dtype)                                  # (T, N)
        hs = []
        for t in range(drive.shape[0]):
            gates = F.linear(h * cont[t].unsqueeze(-1), self.W_hc) + drive[t]  # (N, 4H)
            c, h = lstm_cell(c, gates, cont[t])
            hs.append(h)
        return self._finish(torch.stack(hs), [h, c])
