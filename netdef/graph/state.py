"""NetState filtering, exactly as Caffe's Net::FilterNet / StateMeetsRule."""
from __future__ import annotations

from netdef.errors import GraphError
from netdef.proto import caffe_pb2

PHASES = {"TRAIN": caffe_pb2.TRAIN, "TEST": caffe_pb2.TEST}
PHASE_NAMES = {v: k for k, v in PHASES.items()}


def is_train(phase: int) -> bool:
    """Caffe's TRAIN phase; the one place it is compared (torch's training mode follows it)."""
    return phase == caffe_pb2.TRAIN


def make_state(phase: str | int = "TEST", level: int = 0, stages=()) -> caffe_pb2.NetState:
    """A NetState from command-line style values (phase name or enum value)."""
    if isinstance(phase, str):
        key = phase.upper()
        if key not in PHASES:
            raise GraphError(f'unknown phase "{phase}"; valid: TRAIN, TEST')
        phase = PHASES[key]
    state = caffe_pb2.NetState(phase=phase, level=level)
    state.stage.extend(stages)
    return state


def merge_state(net_state: caffe_pb2.NetState, phase=None, level=None, stages=None) -> caffe_pb2.NetState:
    """The state Caffe's Net uses: the file's `state`, overridden by what the caller asks."""
    state = caffe_pb2.NetState()
    state.CopyFrom(net_state)
    if phase is not None:
        state.phase = make_state(phase).phase
    if level is not None:
        state.level = level
    if stages is not None:
        del state.stage[:]
        state.stage.extend(stages)
    return state


def meets_rule(state: caffe_pb2.NetState, rule: caffe_pb2.NetStateRule) -> bool:
    """Whether `state` satisfies every condition `rule` sets."""
    if rule.HasField("phase") and rule.phase != state.phase:
        return False
    if rule.HasField("min_level") and state.level < rule.min_level:
        return False
    if rule.HasField("max_level") and state.level > rule.max_level:
        return False
    stages = set(state.stage)
    if any(s not in stages for s in rule.stage):
        return False
    if any(s in stages for s in rule.not_stage):
        return False
    return True


def included(state: caffe_pb2.NetState, lp) -> bool:
    """Caffe: include rules are OR-ed (no rule = included); exclude rules veto.

    Raises GraphError if a layer has both kinds (Caffe refuses that)."""
    if lp.include and lp.exclude:
        raise GraphError("specify either include rules or exclude rules, not both "
                         f"(found {len(lp.include)} include and {len(lp.exclude)} exclude)",
                         field="exclude")
    if lp.include:
        return any(meets_rule(state, r) for r in lp.include)
    return not any(meets_rule(state, r) for r in lp.exclude)
