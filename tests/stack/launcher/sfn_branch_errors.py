"""Patch 13. A Parallel (or Map) state fails with the error its failed branch (iteration) failed
with, so a Catch on the Parallel catches it by that name: a waitForTaskToken task in a branch that
times out makes the Parallel fail with States.Timeout, a branch's runtime error with States.Runtime.
moto rebuilds the branch's error name as a custom error name, and custom names must not begin with
"States.": the Parallel then fails with a ValueError inside the interpreter, no Catch runs and the
execution ends FAILED (States.Runtime, "Custom Error Names MUST NOT begin with the prefix
'States.'"). Here a "States." name becomes the States error it names (so States.TaskFailed does not
match States.Timeout, as on AWS), any other name stays a custom error name."""

from __future__ import annotations

from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import iteration_worker
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branches_decl


class _OtherStatesErrorName(ErrorName):
    """A "States." name the interpreter does not know (AWS adds some): matched by name."""


def error_name_of(error_name: str | None = None) -> ErrorName:
    if error_name is not None and error_name.startswith("States."):
        try:
            return StatesErrorName.from_name(error_name)
        except ValueError:
            return _OtherStatesErrorName(error_name=error_name)
    return CustomErrorName(error_name=error_name)


def propagate_branch_errors() -> None:
    # Both modules call the name they imported: replace it there.
    branches_decl.CustomErrorName = error_name_of
    iteration_worker.CustomErrorName = error_name_of
