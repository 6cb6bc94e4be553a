"""Patch 2. moto's executing Step Functions backend names an execution started without `name`
"None", so the second such start fails. AWS generates a UUID."""

from __future__ import annotations

import uuid

from moto.stepfunctions.parser.models import StepFunctionsParserBackend


def name_unnamed_executions() -> None:
    original = StepFunctionsParserBackend.start_execution

    def start_execution(self, state_machine_arn, name=None, execution_input=None, trace_header=None):
        return original(self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header)

    StepFunctionsParserBackend.start_execution = start_execution
