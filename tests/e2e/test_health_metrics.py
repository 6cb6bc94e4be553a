"""sluice's own health (issue 21, part 3): the functions write their metrics as Embedded Metric
Format lines in their logs (no API calls), and the stack's dashboard draws them beside AWS's
metrics of the stack's functions, queues and state machine."""

import json

from scenario import ON_V1, run

NAMESPACE = "sluice"


def emitted(lines):
    """The (metric, value, dimensions) of every Embedded Metric Format line among `lines`."""
    out = []
    for line in lines:
        line = line.strip()
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == NAMESPACE, directive
            keys = directive["Dimensions"][0]
            for metric in directive["Metrics"]:
                name = metric["Name"]
                out.append((name, record[name], {k: record[k] for k in keys}))
    return out


def test_a_rolled_back_deployment_is_counted_in_sluices_own_metrics(stack, app):
    a = app()
    hook = f"{a.name}-post"
    stack.create_function(hook, "hook-reject")
    log = stack.log_dir / "runtime.log"
    before = log.stat().st_size
    strategy = {"canary": {"percent": 10, "interval": "5s"}}
    _, d = run(stack, {"targets": [a.target()], "strategy": strategy, "hooks": {"postTraffic": hook}})
    assert (d["status"], d["error"]) == ("FAILED", "HookFailed"), d
    assert a.alias() == ON_V1
    with log.open(errors="replace") as f:
        f.seek(before)
        metrics = emitted(f.readlines())
    names = [name for name, _, _ in metrics]
    # Other deployments may run beside this one: each of its events is there at least once.
    for name in ("DeploymentStarted", "TrafficShifted", "DeploymentRolledBack", "RollbackSeconds"):
        assert name in names, (name, names)
    stacks = {dims["Stack"] for _, _, dims in metrics}
    assert stacks == {"sluice-local"}, stacks
    took = [value for name, value, _ in metrics if name == "RollbackSeconds"]
    assert all(0 <= t < 60 for t in took), took


def test_the_dashboard_is_deployed_and_names_the_stacks_own_resources(stack):
    body = json.loads(stack.cloudwatch.get_dashboard(DashboardName="sluice-local-us-east-1-sluice")["DashboardBody"])
    metrics = [m for w in body["widgets"] for m in w["properties"]["metrics"]]
    functions = {m[3] for m in metrics if m[0] == "AWS/Lambda"}
    assert any("RollbackFunction" in f for f in functions), functions
    for f in functions:
        stack.lam.get_function_configuration(FunctionName=f)  # each is one of the stack's functions
    assert {m[3] for m in metrics if m[0] == NAMESPACE} == {"sluice-local"}
