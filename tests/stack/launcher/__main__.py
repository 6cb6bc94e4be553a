"""python -m launcher --port 5000 --runtime-url http://127.0.0.1:9100 [--time-scale 0.01]

Applies every patch, then serves moto on 127.0.0.1 only; prints "ready <port>" once it answers
and stops on SIGTERM/SIGINT. local_aws must be importable (processes.start_launcher puts
tests/stack on PYTHONPATH)."""

from __future__ import annotations

import argparse
import os
import signal
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from local_aws import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY

from . import alarm_events, alias_journal, events_to_lambda, function_faults, lambda_invoke, moments, sfn_status_events
from .alarm_evaluator import evaluate_alarms
from .alarm_events import emit_alarm_events
from .alias_revisions import enforce_alias_revisions
from .cloudwatch_cbor import CloudWatchCborBridge
from .cloudwatch_metric_data import answer_metric_data_like_cloudwatch
from .composite_alarms import run_composite_alarms
from .endpoints import Endpoints
from .events_account import deliver_account_to_every_target
from .events_schedule import run_schedules
from .events_to_lambda import deliver_events_to_lambda
from .faults import FaultRoute, Faults
from .function_faults import time_out_tasks
from .function_names import FunctionNamesRoute
from .lambda_async import serve_event_invoke_configs
from .lambda_invoke import route_invoke_to_local_runtime
from .moments import fire_on_state_entries
from .sfn_aborted_states import abort_states_like_aws
from .sfn_branch_errors import propagate_branch_errors
from .sfn_lambda_errors import report_unknown_lambda_errors
from .sfn_names import name_unnamed_executions
from .sfn_redrive import redrive_executions
from .sfn_status_events import emit_status_events
from .sfn_task_tokens import close_tokens_of_ended_tasks
from .time_scale import scale_time


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m launcher", description="sluice's local AWS: moto, patched")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--runtime-url", required=True, help="cargo-lambda's runtime emulator")
    parser.add_argument("--time-scale", type=float, default=1.0)
    args = parser.parse_args()
    if not 0 < args.time_scale <= 1:
        parser.error("--time-scale must be in (0, 1]")
    # The interpreter's Lambda tasks call back into this server through boto3.
    os.environ["MOTO_PORT"] = str(args.port)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)

    route_invoke_to_local_runtime(args.runtime_url.rstrip("/"))
    name_unnamed_executions()
    enforce_alias_revisions()
    scale_time(args.time_scale)
    deliver_events_to_lambda(args.time_scale)
    serve_event_invoke_configs()
    deliver_account_to_every_target()
    emit_status_events()
    emit_alarm_events()
    run_composite_alarms()
    close_tokens_of_ended_tasks()
    abort_states_like_aws()
    propagate_branch_errors()
    report_unknown_lambda_errors()
    time_out_tasks()
    fire_on_state_entries()
    redrive_executions()
    answer_metric_data_like_cloudwatch()
    stop = threading.Event()
    evaluate_alarms(args.time_scale, stop)
    run_schedules(args.time_scale, stop)

    # The test endpoints come first, then faults: they see every AWS call as the client sent it (CBOR
    # before translation, a function as the client named it). moto and every other patch see a
    # function by its bare name.
    faults = Faults()
    faults.on_error(lambda_invoke.record_faulted_throttle)
    app = FaultRoute(CloudWatchCborBridge(FunctionNamesRoute(DomainDispatcherApplication(create_backend_app))), faults)
    endpoints = [
        faults.endpoint(),
        alias_journal.ENDPOINT,
        events_to_lambda.ENDPOINT,
        alarm_events.ENDPOINT,
        sfn_status_events.ENDPOINT,
        function_faults.ENDPOINT,
        moments.ENDPOINT,
        lambda_invoke.ENDPOINT,
    ]
    app = Endpoints(app, endpoints)
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=MotoRequestHandler)

    def shutdown(*_):
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    print(f"ready {args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
