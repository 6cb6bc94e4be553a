"""What the local AWS stack and its clients agree on: the launcher (moto's side) and stack.py
(the side that starts it and deploys into it) both import these, so they cannot drift apart.

No imports beyond the standard library: stack.py runs in the pytest and demo processes, which
must not load moto."""

# The environment variable that names the workspace binary serving a function version's code.
BINARY_VAR = "SLUICE_LOCAL_BINARY"

# moto's default account; every ARN the local stack hands out carries it.
ACCOUNT = "123456789012"
REGION = "us-east-1"

# moto accepts any credentials; these are the ones the stack and its clients use.
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"

# Every alias write that landed (CreateAlias, UpdateAlias), in order, as JSON (a test endpoint, not an AWS API).
ALIAS_JOURNAL_PATH = "/_sluice/alias-journal"

# Every event EventBridge delivered to a Lambda target, with what the function answered (test endpoint).
LAMBDA_DELIVERIES_PATH = "/_sluice/lambda-deliveries"

# Fault injection (test endpoint): POST arms a fault, GET lists what is armed and what was injected,
# DELETE clears everything. See launcher/faults.py for the contract.
FAULTS_PATH = "/_sluice/faults"

# CloudWatch alarm state-change events (test endpoint): GET lists every event the local CloudWatch
# emitted (delivered, dropped, duplicated or delayed) and what is armed, POST arms a control for the
# next events, DELETE disarms every control. See launcher/alarm_events.py for the contract.
ALARM_EVENTS_PATH = "/_sluice/alarm-events"

# A phase function that crashes or times out on a chosen invocation, or a task that runs into its
# TimeoutSeconds (test endpoint): see launcher/function_faults.py.
FUNCTION_FAULTS_PATH = "/_sluice/function-faults"

# Something done at a chosen moment (after the Nth write of an alias, when an execution enters a
# state): another writer's UpdateAlias, StopExecution, SetAlarmState (test endpoint): see
# launcher/moments.py.
MOMENTS_PATH = "/_sluice/moments"

# Step Functions' execution status-change events (test endpoint): GET lists them, POST drops,
# duplicates or delays the next ones, DELETE disarms. See launcher/sfn_status_events.py.
STATUS_EVENTS_PATH = "/_sluice/status-events"

# Invocations of a chosen function version answered 429 TooManyRequestsException and recorded as
# Lambda's Throttles (test endpoint): see launcher/lambda_invoke.py.
THROTTLES_PATH = "/_sluice/throttles"
