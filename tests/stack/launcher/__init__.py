"""sluice's local AWS: moto's server with Step Functions execution on, and the gaps between moto
and AWS that sluice depends on closed by small patches, one module each:

- lambda_invoke: Invoke runs the real binary, honours Qualifier, routes weighted aliases by
  weight and records AWS/Lambda metrics (Invocations, Errors, Duration, Throttles), and a test
  endpoint throttles a share of a function version's invocations;
- sfn_names: StartExecution without a name gets a UUID;
- function_names: a function named by partial ARN, full ARN or URL-encoded ARN in a Lambda path
  reaches moto and every patch by its name (moto knows no partial ARN);
- alias_revisions: UpdateAlias enforces RevisionId (atomically) and validates the routing config,
  and records every alias write that lands (CreateAlias too) in the alias journal (alias_journal,
  a test endpoint);
- cloudwatch_cbor: CloudWatch's RPC-v2 CBOR protocol is translated to the JSON one moto speaks;
- time_scale: Wait and Retry intervals can be scaled;
- alarm_evaluator: metric alarms on AWS/Lambda metrics move from the recorded data, judged by
  alarm_judgement;
- events_to_lambda: EventBridge rules deliver matching events to Lambda targets, asynchronously,
  with EventBridge's and Lambda's retries, and record each delivery (a test endpoint);
- events_account: events delivered to SQS queues and log groups carry `account`, as on AWS;
- events_schedule: rules with a rate(...) ScheduleExpression fire once a (scaled) period with
  AWS's Scheduled Event, through events_to_lambda's deliveries, and match no event on the bus;
- lambda_async: PutFunctionEventInvokeConfig and its kin per function and qualifier; the retries,
  event age and destinations events_to_lambda's asynchronous invocations follow;
- composite_alarms: PutCompositeAlarm, AlarmRule evaluation on every change of a child alarm
  (history and events through alarm_events), DescribeAlarms by AlarmTypes;
- sfn_status_events: Step Functions puts "Step Functions Execution Status Change" events on the
  default bus (RUNNING, then SUCCEEDED, FAILED, TIMED_OUT or ABORTED), and a test endpoint can drop,
  duplicate or delay the next ones;
- faults: a test endpoint arms faults (errors in each protocol's shape, or delays) for the next
  calls of an AWS operation, or for a seeded share of the calls of chosen services;
- alarm_events: every change of an alarm's state puts a "CloudWatch Alarm State Change" event on
  the default bus and a StateUpdate item in the alarm's history (DescribeAlarmHistory), and a test
  endpoint can drop, duplicate or delay the next events;
- sfn_task_tokens: SendTaskFailure keeps its cause, a token whose task ended answers TaskTimedOut,
  and a task waiting for its token stops waiting when its branch or execution stops;
- sfn_aborted_states: states cut short in a failed Parallel write <Type>StateAborted, and a stopped
  branch or execution writes nothing more;
- sfn_branch_errors: a Parallel whose branch failed with a States.* error (States.Timeout, ...)
  fails with that error, which its Catch can catch;
- sfn_lambda_errors: a function error without an errorType fails lambda:invoke with Lambda.Unknown;
- function_faults: a test endpoint makes a function crash or time out on its Nth invocation (as
  Lambda reports it), or a task run into its TimeoutSeconds;
- moments: a test endpoint does something at a chosen moment (after the Nth write of an alias,
  when an execution enters a state): another writer's UpdateAlias, StopExecution, SetAlarmState.
- sfn_redrive: RedriveExecution restarts a FAILED, ABORTED or TIMED_OUT execution from its
  unsuccessful state (in a Parallel, only the branches that did not succeed), with the redrive
  fields on DescribeExecution, ListExecutions, the history, the context object and status events;
- cloudwatch_metric_data: GetMetricData answers MetricStat queries as CloudWatch does: exact
  dimensions, percentiles (nearest rank), buckets from StartTime, periods without data left out.

Run: python -m launcher (see __main__.py), with tests/stack on the import path for local_aws.
The patches also share endpoints (the test endpoints' one route) and event_delivery (what
alarm_events and sfn_status_events do with the events they emit).
tests/launcher/test_launcher.py covers each patch (test_function_names.py: function_names, and every
form of a function's name through alias_revisions, alias_journal and lambda_invoke);
test_alarm_events.py and test_callbacks.py cover alarm_events, events_account and the sfn_*
patches after sfn_status_events; test_faults.py covers faults, function_faults, sfn_lambda_errors,
moments, the status-event controls and the delivery retries; test_alarm_judgement.py covers
alarm_judgement on plain values, test_template.py the local deployment of template.yaml.
test_redrive.py covers sfn_redrive. test_metrics.py covers lambda_invoke's metrics and throttles and
cloudwatch_metric_data (JSON and CBOR), and tests/stack/traffic.py.
"""

from moto.core.config import default_user_config

# Step Functions must execute the ASL (off by default in moto), and Lambda must not look for
# docker. Python runs this file before any module of the package, so the settings are in place
# before a patch imports moto's backends, whichever module is imported first.
default_user_config["stepfunctions"] = {"execute_state_machine": True}
default_user_config["lambda"] = {"use_docker": False}
