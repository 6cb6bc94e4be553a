"""Patch 12. What a Parallel state writes to the history when a branch fails, and what a stopped
program writes afterwards. On AWS (histories recorded from AWS in LocalStack's validated snapshot
tests) a branch that fails or is stopped because another branch failed ends its running state with
<Type>StateAborted: a failing waitForTaskToken or Lambda Task in a Parallel writes TaskFailed then
TaskStateAborted, then the Parallel writes ParallelStateFailed (and ParallelStateExited when a Catch
takes it); the iterations of a Map cut short write TaskStateAborted for their running Task. A
stopped execution writes nothing after its ExecutionAborted (a Wait cut short by StopExecution:
WaitStateEntered, ExecutionAborted).

moto cancels the other branches at once (a Wait in a stopped branch wakes up), but:
- it writes no <Type>StateAborted at all;
- a stopped branch or execution can still write events later: a branch's callback task that gets
  its token writes TaskSucceeded after the Parallel has ended, a stopped task that fails writes
  TaskFailed/TaskTimedOut;
- an error in a stopped program turns it from stopped to failed (its execution then ends FAILED
  with no ExecutionAborted).

Here:
- when a Parallel stops its branches (one failed), the state each branch is in writes
  TaskStateAborted, WaitStateAborted, ParallelStateAborted or MapStateAborted (innermost first;
  Pass, Choice, Succeed and Fail have no aborted event), before ParallelStateFailed;
- a stopped environment, and every frame under it, writes no more events but the execution's own
  end (ExecutionAborted);
- a stopped environment stays stopped.
Map iterations cut short are left as moto writes them (sluice uses no Map).
"""

from __future__ import annotations

from moto.stepfunctions.parser.api import HistoryEventType
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branch_worker import BranchWorker
from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

_STOPPED = "_sluice_stopped"  # on an EventHistoryContext: its environment was stopped
_CURRENT = "_sluice_current_state"  # on an Environment: the state entered and not exited

ABORTED = {
    HistoryEventType.TaskStateEntered: HistoryEventType.TaskStateAborted,
    HistoryEventType.WaitStateEntered: HistoryEventType.WaitStateAborted,
    HistoryEventType.ParallelStateEntered: HistoryEventType.ParallelStateAborted,
    HistoryEventType.MapStateEntered: HistoryEventType.MapStateAborted,
}

# A stopped program still ends the execution.
EXECUTION_END = {
    HistoryEventType.ExecutionAborted,
    HistoryEventType.ExecutionFailed,
    HistoryEventType.ExecutionSucceeded,
    HistoryEventType.ExecutionTimedOut,
}


def write_no_more(context) -> None:
    """The history context (an EventHistoryContext) writes no more events but its execution's end:
    its environment was stopped, or (function_faults) its task was abandoned."""
    setattr(context, _STOPPED, True)


def _mark_stopped(env: Environment) -> None:
    if isinstance(env._program_state, ProgramStopped):
        write_no_more(env.event_history_context)


def write_aborted_events(env: Environment) -> None:
    """The <Type>StateAborted of the state env is in, after those of the frames under it."""
    for frame in list(env._frames):
        write_aborted_events(frame)
    state = env.__dict__.pop(_CURRENT, None)
    aborted = ABORTED.get(state.state_entered_event_type) if state is not None else None
    if aborted is not None:
        env.event_manager.add_event(context=env.event_history_context, event_type=aborted)


def abort_states_like_aws() -> None:
    original_eval_body = CommonStateField._eval_body

    def eval_body(self, env: Environment) -> None:
        env.__dict__[_CURRENT] = self
        original_eval_body(self, env)
        if env.is_running() and env.__dict__.get(_CURRENT) is self:
            del env.__dict__[_CURRENT]  # exited

    CommonStateField._eval_body = eval_body

    original_branch_stop = BranchWorker.stop

    def branch_stop(self, stop_date, cause, error):
        if self.env is not None:
            write_aborted_events(self.env)
        original_branch_stop(self, stop_date, cause, error)

    BranchWorker.stop = branch_stop

    original_set_stop = Environment.set_stop

    def set_stop(self, stop_date, cause, error):
        original_set_stop(self, stop_date, cause, error)
        _mark_stopped(self)

    Environment.set_stop = set_stop

    for name in ("set_error", "set_timed_out"):
        original = getattr(Environment, name)

        def stays_stopped(self, *args, _original=original, **kwargs):
            if isinstance(self._program_state, ProgramStopped):
                return
            _original(self, *args, **kwargs)

        setattr(Environment, name, stays_stopped)

    original_as_inner_frame_of = Environment.as_inner_frame_of

    def as_inner_frame_of(cls, env, variable_store, event_history_frame_cache=None):
        frame = original_as_inner_frame_of(
            env=env, variable_store=variable_store, event_history_frame_cache=event_history_frame_cache
        )
        _mark_stopped(frame)  # a frame of a stopped environment starts stopped
        return frame

    Environment.as_inner_frame_of = classmethod(as_inner_frame_of)

    original_add_event = EventManager.add_event

    def add_event(self, context, event_type, *args, **kwargs):
        if getattr(context, _STOPPED, False) and event_type not in EXECUTION_END:
            return context.last_published_event_id
        return original_add_event(self, context, event_type, *args, **kwargs)

    EventManager.add_event = add_event
