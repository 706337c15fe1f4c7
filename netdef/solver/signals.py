"""SIGINT / SIGHUP as `caffe train --sigint_effect/--sighup_effect` handle them.

A handler only records the signal; the solver asks `requested()` between
iterations (and between test batches), as Caffe's SignalHandler does. A second
SIGINT while the first is still being acted on raises KeyboardInterrupt at
once, so a user is never stuck waiting for a long snapshot or test.
"""
from __future__ import annotations

import signal

from netdef.errors import SolverError

EFFECTS = ("stop", "snapshot", "none")


def check_effect(value: str, flag: str) -> str:
    if value not in EFFECTS:
        raise SolverError(f'{flag}: "{value}" is not one of {", ".join(EFFECTS)}')
    return value


class SignalActions:
    """Callable: the action requested since the last call ("stop", "snapshot", "none")."""

    def __init__(self, sigint: str = "stop", sighup: str = "snapshot"):
        self.sigint = check_effect(sigint, "--sigint-effect")
        self.sighup = check_effect(sighup, "--sighup-effect")
        self.got_sigint = self.got_sighup = False
        self.stopping = False
        self._old = {}

    def _handle(self, signum, frame) -> None:
        if signum == signal.SIGINT:
            if self.got_sigint or self.stopping:
                signal.signal(signal.SIGINT, signal.default_int_handler)
                raise KeyboardInterrupt
            self.got_sigint = True
        else:
            self.got_sighup = True

    def install(self) -> SignalActions:
        for sig in (signal.SIGINT, getattr(signal, "SIGHUP", None)):
            if sig is not None:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def uninstall(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}

    def __enter__(self):
        return self.install()

    def __exit__(self, *exc):
        self.uninstall()

    def __call__(self) -> str:
        if self.got_sigint:
            self.got_sigint = False
            if self.sigint == "stop":
                self.stopping = True
            return self.sigint
        if self.got_sighup:
            self.got_sighup = False
            if self.sighup == "stop":
                self.stopping = True
            return self.sighup
        return "none"
