"""A solver file read, upgraded and checked the way Caffe's Solver::Init does,
with errors located in the file (no torch here).

    spec = read_solver_file("solver.prototxt")   # SolverSpec
    spec.param          # the upgraded SolverParameter
    spec.train_source() / spec.test_sources()    # which NetParameter + NetState each net uses

Relative paths (`net`, `train_net`, `test_net`, `weights`) are opened as Caffe
opens them, against the working directory, with the solver file's folder as
the fallback the front end also uses for data sources.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from netdef.data.paths import looked_in, resolve
from netdef.errors import ParseError, SolverError, Where
from netdef.parse import parse_net, read_net
from netdef.parse.locate import SourceMap
from netdef.parse.text import parse_text, read_text
from netdef.proto import caffe_pb2

_TYPE_NAMES = {  # UpgradeSolverType: the old solver_type enum -> the type string
    "SGD": "SGD", "NESTEROV": "Nesterov", "ADAGRAD": "AdaGrad", "RMSPROP": "RMSProp",
    "ADADELTA": "AdaDelta", "ADAM": "Adam",
}
_TRAIN_FIELDS = ("net", "net_param", "train_net", "train_net_param")


@dataclass
class NetSource:
    """Where one of the solver's nets comes from, and the NetState Caffe gives it."""

    param: caffe_pb2.NetParameter
    source: SourceMap | None          # the net file's text, for located errors
    base_dir: str                     # data sources fall back to this folder
    state: caffe_pb2.NetState
    described: str                    # "net file: x.prototxt" as Caffe's log says
    notes: list[str] = field(default_factory=list)


@dataclass
class SolverSpec:
    param: caffe_pb2.SolverParameter
    path: str | None = None
    source: SourceMap | None = None
    notes: list[str] = field(default_factory=list)     # upgrade notes (Caffe logs them as INFO)
    warnings: list[str] = field(default_factory=list)  # fields netdef reads but cannot honour fully

    @property
    def base_dir(self) -> str:
        return os.path.dirname(os.path.abspath(self.path)) if self.path else "."

    def where(self, name: str | None = None) -> Where:
        if self.source is None:
            return Where(self.path or "<solver>")
        return self.source.field_where(name) if name else Where(self.source.file)

    def error(self, message: str, name: str | None = None) -> SolverError:
        return SolverError(message, where=self.where(name), field=name)

    # -- nets --------------------------------------------------------------------
    def train_source(self) -> NetSource:
        """Solver::InitTrainNet: the one train net and its merged NetState."""
        p = self.param
        given = [f for f in _TRAIN_FIELDS if p.HasField(f)]
        if not given:
            raise self.error("no train net: give one of " + ", ".join(_TRAIN_FIELDS))
        if len(given) > 1:
            raise self.error("more than one train net given (" + ", ".join(given) + "); keep one",
                             given[1])
        name = given[0]
        src = (self._inline(getattr(p, name), name) if name.endswith("_param")
               else self._file(getattr(p, name), name))
        src.state = _merged(caffe_pb2.TRAIN, src.param.state, p.train_state if p.HasField("train_state") else None)
        return src

    def test_sources(self) -> list[NetSource]:
        """Solver::InitTestNets: test_net_param, then test_net files, then the
        generic net once per remaining test_iter."""
        p = self.param
        if p.HasField("net") and p.HasField("net_param"):
            raise self.error("give net or net_param, not both", "net_param")
        explicit = len(p.test_net_param) + len(p.test_net)
        generic = p.HasField("net") or p.HasField("net_param")
        if (len(p.test_iter) < explicit) if generic else (len(p.test_iter) != explicit):
            raise self.error(f"test_iter must be given once per test net: {len(p.test_iter)} test_iter "
                             f"for {explicit} test_net/test_net_param", "test_iter")
        sources = [self._inline(n, "test_net_param") for n in p.test_net_param]
        sources += [self._file(path, "test_net") for path in p.test_net]
        for _ in range(len(p.test_iter) - explicit):
            sources.append(self._file(p.net, "net") if p.HasField("net") else self._inline(p.net_param, "net_param"))
        if p.test_state and len(p.test_state) != len(sources):
            raise self.error(f"test_state must be given once per test net ({len(sources)}) or not at "
                             f"all; got {len(p.test_state)}", "test_state")
        if sources and p.test_interval <= 0:
            raise self.error(f"{len(sources)} test net(s) but test_interval is {p.test_interval}; "
                             "set test_interval > 0",
                             "test_interval" if p.HasField("test_interval") else "test_iter")
        for i, src in enumerate(sources):
            src.state = _merged(caffe_pb2.TEST, src.param.state, p.test_state[i] if p.test_state else None)
        return sources

    def _file(self, path: str, name: str) -> NetSource:
        found = resolve(path, self.base_dir)
        if found is None:
            raise self.error(f'{name} file "{path}" not found (looked in {looked_in(path, self.base_dir)})', name)
        try:
            param, source, notes = read_net(found)
        except ParseError as err:
            raise err from None
        return NetSource(param, source, os.path.dirname(found), caffe_pb2.NetState(),
                         f"{name if name != 'net' else 'net'} file: {path}", notes)

    def _inline(self, net: caffe_pb2.NetParameter, name: str) -> NetSource:
        param = caffe_pb2.NetParameter()
        param.CopyFrom(net)
        from netdef.parse.upgrade import upgrade_net

        notes = upgrade_net(param, None)
        return NetSource(param, None, self.base_dir, caffe_pb2.NetState(), name, notes)

    def weights(self) -> list[str]:
        """The solver's `weights` entries (each may list several, comma-separated)."""
        return [w.strip() for entry in self.param.weights for w in entry.split(",") if w.strip()]


def _merged(phase: int, net_state, solver_state) -> caffe_pb2.NetState:
    """Caffe's precedence: the phase default, then the net's own state, then the
    solver's train_state/test_state (protobuf MergeFrom: stages accumulate)."""
    state = caffe_pb2.NetState(phase=phase)
    state.MergeFrom(net_state)
    if solver_state is not None:
        state.MergeFrom(solver_state)
    return state


# -- reading ------------------------------------------------------------------------
def read_solver_file(path) -> SolverSpec:
    """Parse, upgrade and check a solver prototxt."""
    path = os.fspath(path)
    text = read_text(path)
    try:
        param = parse_text(text, caffe_pb2.SolverParameter(), path)
    except ParseError:
        if _looks_like_net(text):
            raise ParseError("this is a net prototxt, not a solver (a solver names the net in `net:`)",
                             where=Where(path)) from None
        raise
    spec = SolverSpec(param, path, SourceMap(path, text))
    upgrade_solver(spec)
    default_snapshot_prefix(spec)
    check_solver(spec)
    return spec


def solver_spec(solver) -> SolverSpec:
    """A SolverSpec from a path, prototxt text, a SolverParameter or a SolverSpec."""
    if isinstance(solver, SolverSpec):
        return solver
    if isinstance(solver, caffe_pb2.SolverParameter):
        param = caffe_pb2.SolverParameter()
        param.CopyFrom(solver)
        spec = SolverSpec(param)
    elif isinstance(solver, str) and ("\n" in solver or ":" in solver) and not os.path.exists(solver):
        spec = SolverSpec(parse_text(solver, caffe_pb2.SolverParameter(), "<solver>"), None,
                          SourceMap("<solver>", solver))
    else:
        return read_solver_file(solver)
    upgrade_solver(spec)
    check_solver(spec)
    return spec


def upgrade_solver(spec: SolverSpec) -> None:
    """UpgradeSolverAsNeeded: the old `solver_type` enum becomes the `type` string."""
    p = spec.param
    if not p.HasField("solver_type"):
        return
    if p.HasField("type"):
        raise spec.error("old solver_type (enum) and new type (string) cannot both be given; "
                         "keep type", "solver_type")
    enum_name = caffe_pb2.SolverParameter.SolverType.Name(p.solver_type)
    p.type = _TYPE_NAMES[enum_name]
    p.ClearField("solver_type")
    spec.notes.append(f'upgraded solver_type: {enum_name} to type: "{p.type}"')


def default_snapshot_prefix(spec: SolverSpec) -> None:
    """UpgradeSnapshotPrefixProperty: no prefix -> the solver file's path without
    its extension; a directory -> that directory / the solver file's stem."""
    p = spec.param
    if spec.path is None:
        return
    stem = os.path.splitext(spec.path)[0]
    if not p.HasField("snapshot_prefix"):
        p.snapshot_prefix = stem
        spec.notes.append(f"snapshot_prefix was not given: using {stem}")
    elif os.path.isdir(p.snapshot_prefix):
        p.snapshot_prefix = os.path.join(p.snapshot_prefix, os.path.basename(stem))
        spec.notes.append(f"snapshot_prefix is a directory: using {p.snapshot_prefix}")


def _looks_like_net(text: str) -> bool:
    try:
        parse_net(text)
        return True
    except ParseError:
        return False


from netdef.solver.checks import check_solver
