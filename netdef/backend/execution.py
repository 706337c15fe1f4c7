"""How a compiled net runs: numeric precision, memory layout, torch.compile, TF32.

All of it is off by default, so a net computes what Caffe's float32 computes.
`Execution` holds the choices (the CLI's --precision, --channels-last,
--compile, --allow-tf32); `Runner` runs a CaffeNet with them and otherwise
behaves like the net (attributes are the net's, so `run_test`, the timing code
and a solver can take either):

    runner = Runner(net, Execution(precision="bf16", channels_last=True, compile=True))
    out = runner(data=x)          # autocast bf16, NHWC weights, compiled graph

Parameters stay float32 under autocast (master weights), so the solver's
history and the snapshots are Caffe's float32 files whatever the precision.
Source layers (Data, HDF5Data, ...) read NumPy and run eagerly; only the
computation after them is compiled, so reading data never breaks the graph.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from netdef.errors import BackendError

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Execution:
    """Run-time choices that do not change the net's definition."""

    precision: str = "fp32"        # fp32 | bf16 | fp16: autocast dtype (fp16 adds loss scaling in training)
    channels_last: bool = False    # NHWC memory format for 4-D weights and data
    compile: bool = False          # torch.compile the net's computation (source layers stay eager)
    allow_tf32: bool = False       # on CUDA: TF32 matmuls/convolutions (off keeps Caffe's float32)

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise BackendError(f"precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")

    @property
    def dtype(self) -> torch.dtype | None:
        return PRECISIONS[self.precision]

    @property
    def is_default(self) -> bool:
        return self == Execution()

    def autocast(self, device) -> contextlib.AbstractContextManager:
        """torch.autocast for `device` in this precision (nothing for fp32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=torch.device(device).type, dtype=self.dtype)

    def describe(self) -> str:
        parts = [self.precision] + [name for name, on in (("channels-last", self.channels_last),
                                                          ("compile", self.compile),
                                                          ("tf32", self.allow_tf32)) if on]
        return " + ".join(parts)


def set_tf32(allow: bool) -> None:
    """TF32 on CUDA matmuls and cuDNN convolutions: torch turns it on for cuDNN by
    default, which makes GPU results drift from Caffe's float32; netdef turns it off."""
    mode = "tf32" if allow else "ieee"
    backends = [torch.backends.cuda.matmul, getattr(torch.backends.cudnn, "conv", None),
                getattr(torch.backends.cudnn, "rnn", None)]
    if all(b is not None and hasattr(b, "fp32_precision") for b in backends):  # torch >= 2.9
        for b in backends:
            b.fp32_precision = mode
    else:
        torch.backends.cuda.matmul.allow_tf32 = allow
        torch.backends.cudnn.allow_tf32 = allow


def net_device(net) -> torch.device:
    tensor = next(iter(net.parameters()), None)
    if tensor is None:
        tensor = next(iter(net.buffers()), None)
    return tensor.device if tensor is not None else torch.device("cpu")


class Runner:
    """A CaffeNet run with an Execution: call it like the net; other attributes are the net's.

    `module` is what runs the computation: by default the net (compiled if asked), or a
    wrapper of it (netdef.parallel.ddp.DataParallelNet) that compiles the net inside.
    """

    def __init__(self, net, execution: Execution = Execution(), module=None, report=print):
        self.__dict__.update(net_=net, execution=execution, report=report, _reported=False)
        if execution.channels_last:
            net.to(memory_format=torch.channels_last)
        if net_device(net).type == "cuda":
            set_tf32(execution.allow_tf32)
        if module is None:  # a given module (DDP's wrapper) has compiled what it runs itself
            module = torch.compile(net) if execution.compile else net
        self.__dict__["module"] = module

    def __getattr__(self, name):  # everything else is the net's (params(), outputs, train(), ...)
        net = self.__dict__.get("net_")
        if net is None:
            raise AttributeError(name)
        return getattr(net, name)

    def __call__(self, blobs=None, **inputs):
        with self.execution.autocast(net_device(self.net_)):
            if self.execution.compile:
                inputs = self._layout(self.net_.run_sources(inputs))
                out = self._compiled_call(blobs, inputs)
            else:
                out = self.module(blobs, **self._layout(inputs))
        return out

    def _layout(self, inputs: dict) -> dict:
        if not self.execution.channels_last:
            return inputs
        return {k: v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v
                for k, v in inputs.items()}

    def _compiled_call(self, blobs, inputs):
        from torch._dynamo.utils import counters

        before = sum(counters["graph_break"].values())
        out = self.module(blobs, **inputs)
        if not self._reported:  # once, after the first (compiling) call, not every iteration
            self.__dict__["_reported"] = True
            self.report(graph_break_report(counters["graph_break"], before))
        return out


def graph_break_report(breaks: dict, before: int = 0) -> str:
    """One line (plus one per reason) about the graph breaks torch.compile met."""
    total = sum(breaks.values()) - before
    if total <= 0:
        return "torch.compile: one graph, no graph breaks"
    reasons = "".join(f"\n    {count} x {reason}" for reason, count in breaks.items())
    return f"torch.compile: {total} graph break(s); the net runs in pieces:{reasons}"
