"""Patch 14. A Lambda function error whose payload names no errorType (an older runtime's timeout,
{"errorMessage": "... Task timed out after 90.00 seconds"}, or a function that fails with a bare
string) fails Step Functions' lambda:invoke with Lambda.Unknown on AWS, with the cause "The cause
could not be determined because Lambda did not return an error type. Returned payload: <payload>"
(AWS's "Handle Lambda service exceptions": unhandled errors, out-of-memory errors and function
timeouts are reported as Lambda.Unknown). moto names that error "Exception", which no Retry on
Lambda.Unknown matches. Payloads that carry an errorType keep it as the error name, as before."""

from __future__ import annotations

import json

from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda import (
    StateTaskServiceLambda,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

UNKNOWN = "Lambda.Unknown"
UNKNOWN_CAUSE = "The cause could not be determined because Lambda did not return an error type. Returned payload: "


def error_type_of(payload: str) -> str | None:
    try:
        doc = json.loads(payload)
    except ValueError:
        return None
    error_type = doc.get("errorType") if isinstance(doc, dict) else None
    return error_type if isinstance(error_type, str) and error_type else None


def report_unknown_lambda_errors() -> None:
    original = StateTaskServiceLambda._from_error

    def from_error(self, env, ex):
        if isinstance(ex, lambda_eval_utils.LambdaFunctionErrorException) and error_type_of(ex.payload) is None:
            return FailureEvent(
                env=env,
                error_name=CustomErrorName(UNKNOWN),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(
                    taskFailedEventDetails=TaskFailedEventDetails(
                        error=UNKNOWN,
                        cause=UNKNOWN_CAUSE + ex.payload,
                        resource=self._get_sfn_resource(),
                        resourceType=self._get_sfn_resource_type(),
                    )
                ),
            )
        return original(self, env, ex)

    StateTaskServiceLambda._from_error = from_error
