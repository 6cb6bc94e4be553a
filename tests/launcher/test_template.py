"""The local stack deploys template.yaml as SAM and CloudFormation would (tests/stack/sluice_stack.py),
and upgrades it as `sam deploy` would; the ledger table behaves as sluice's ledger relies on."""

import json
import time
import uuid

import botocore.exceptions
import pytest

from conftest import write_template
from processes import ROOT
from sam_template import load_template

TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = [k for k, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"]
ALIAS = TEMPLATE["Globals"]["Function"]["AutoPublishAlias"]


def test_the_ledger_table_is_deployed_with_its_keys(stack):
    assert stack.ledger_table == "sluice-local-LedgerTable"
    table = stack.dynamodb.describe_table(TableName=stack.ledger_table)["Table"]
    props = RESOURCES["LedgerTable"]["Properties"]
    assert table["KeySchema"] == props["KeySchema"]
    assert table["AttributeDefinitions"] == props["AttributeDefinitions"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = stack.dynamodb.describe_time_to_live(TableName=stack.ledger_table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiresAt"}
    assert stack.sluice.outputs()["LedgerTableName"] == stack.ledger_table


def test_functions_are_published_with_their_alias_environment_and_concurrency(stack):
    assert set(stack.sluice.functions) == set(FUNCTIONS)
    for logical in FUNCTIONS:
        name = stack.sluice.functions[logical].name
        assert name == f"sluice-local-{logical}"
        versions = [v["Version"] for v in stack.lam.list_versions_by_function(FunctionName=name)["Versions"]]
        assert versions == ["$LATEST", "1"], (logical, versions)
        assert stack.lam.get_alias(FunctionName=name, Name=ALIAS)["FunctionVersion"] == "1"
        config = stack.lam.get_function_configuration(FunctionName=name, Qualifier="1")
        variables = config["Environment"]["Variables"]
        assert variables["SLUICE_LEDGER_TABLE"] == stack.ledger_table
        assert variables["SLUICE_LOCAL_BINARY"] == RESOURCES[logical]["Metadata"]["BuildProperties"]["Binary"]
        assert config["Timeout"] == TEMPLATE["Globals"]["Function"]["Timeout"]
        reserved = stack.lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
        # !If [ReserveConcurrency, <!Ref ReservedConcurrency or a number>, !Ref AWS::NoValue], on the
        # template's defaults.
        written = RESOURCES[logical]["Properties"].get("ReservedConcurrentExecutions")
        expected = None
        if written is not None:
            chosen = written["Fn::If"][1]
            default = TEMPLATE["Parameters"]["ReservedConcurrency"]["Default"]
            expected = default if chosen == {"Ref": "ReservedConcurrency"} else chosen
        assert reserved == expected, logical


def test_the_state_machine_calls_published_versions(stack):
    described = stack.sfn.describe_state_machine(stateMachineArn=stack.state_machine_arn)
    assert described["name"] == "sluice-local-deployments"
    assert stack.sluice.outputs()["StateMachineArn"] == stack.state_machine_arn
    definition = described["definition"]
    called = set()
    for logical, fn in stack.sluice.functions.items():
        assert f'"{fn.arn}"' not in definition, f"{logical} is called unqualified"
        if f'"{fn.arn}:1"' in definition:
            called.add(logical)
    assert {"ValidateFunction", "ShiftFunction", "CheckAlarmsFunction", "RollbackFunction"} <= called


def test_the_reconcile_rule_targets_the_reconcile_alias(stack):
    rule = stack.sluice.rules["ReconcileFunctionExecutionEnded"]
    described = stack.events.describe_rule(Name=rule.name)
    assert described["State"] == "ENABLED"
    assert json.loads(described["EventPattern"]) == {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {
            "status": ["ABORTED", "TIMED_OUT", "FAILED", "SUCCEEDED"],
            "stateMachineArn": [stack.state_machine_arn],
        },
    }
    [target] = stack.events.list_targets_by_rule(Rule=rule.name)["Targets"]
    assert target["Arn"] == f"{stack.sluice.functions['ReconcileFunction'].arn}:{ALIAS}"
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}


def test_the_safety_nets_schedule_queues_and_alarms_are_deployed(stack):
    """What tells a user the safety net could not do its work: the sweeper's schedule, the
    on-failure destinations, the three alarms and the topic they notify (a stack output)."""
    rule = stack.sluice.rules["SweeperFunctionSweep"]
    described = stack.events.describe_rule(Name=rule.name)
    minutes = TEMPLATE["Parameters"]["SweepMinutes"]["Default"]
    assert (described["State"], described["ScheduleExpression"]) == ("ENABLED", f"rate({minutes} minutes)")
    [target] = stack.events.list_targets_by_rule(Rule=rule.name)["Targets"]
    assert target["Arn"] == f"{stack.sluice.functions['SweeperFunction'].arn}:{ALIAS}"
    outputs = stack.sluice.outputs()
    topic = outputs["SafetyNetTopicArn"]
    assert topic in [t["TopicArn"] for t in stack.client("sns").list_topics()["Topics"]]
    for output in ("SafetyNetFailuresAlarm", "AlarmEventFailuresAlarm", "SafetyNetErrorsAlarm"):
        [alarm] = stack.cloudwatch.describe_alarms(AlarmNames=[outputs[output]])["MetricAlarms"]
        assert alarm["AlarmActions"] == [topic] and alarm["OKActions"] == [topic], alarm
    queues = {q.name: q for q in stack.sluice.queues.values()}
    for logical, queue in (
        ("ReconcileFunction", "SafetyNetFailures"),
        ("SweeperFunction", "SafetyNetFailures"),
        ("AlarmEventFunction", "AlarmEventFailures"),
    ):
        config = stack.lam.get_function_event_invoke_config(
            FunctionName=stack.sluice.functions[logical].name, Qualifier=ALIAS
        )
        assert config["DestinationConfig"]["OnFailure"]["Destination"] == queues[f"sluice-local-{queue}"].arn, logical


def test_a_failed_deployment_reaches_the_reconcile_function(stack):
    arn = stack.start_deployment({"targets": [], "strategy": "nope"})
    assert stack.wait(arn)["status"] == "FAILED"
    deadline = time.time() + 20
    while time.time() < deadline:
        found = [
            d
            for d in stack.journals.deliveries(rule="ReconcileFunction")
            if isinstance(d["payload"], dict) and d["payload"].get("detail", {}).get("executionArn") == arn
        ]
        if found:
            break
        time.sleep(0.1)
    [delivery] = found
    assert delivery["target"] == f"{stack.sluice.functions['ReconcileFunction'].arn}:{ALIAS}"
    assert delivery["payload"]["detail"]["status"] == "FAILED"
    assert delivery["executedVersion"] == "1"


def test_redeploy_upgrades_every_function_and_running_executions_keep_their_versions(stack, app):
    """A copy of sluice under its own stack name, so the session's stays as deployed. A deployment
    runs on it; mid-bake, sluice is upgraded to a broken Shift. The running execution keeps the
    definition it started with (version 1 everywhere) and succeeds; a new one gets version 2."""
    sluice = stack.deploy_sluice(f"tpl-{uuid.uuid4().hex[:6]}")
    try:
        check_redeploy(stack, app, sluice)
    finally:
        # The copy's functions run with the session's environment (its ledger, too): its rules
        # would hear every later test's alarm and execution events as a second sluice.
        for rule in sluice.rules.values():
            stack.events.disable_rule(Name=rule.name, EventBusName=rule.bus)


def check_redeploy(stack, app, sluice):
    a = app()
    request = {"targets": [a.target()], "strategy": {"canary": {"percent": 10, "interval": "10m"}}}
    running = stack.sfn.start_execution(stateMachineArn=sluice.state_machine_arn, input=json.dumps(request))[
        "executionArn"
    ]
    deadline = time.time() + 60
    while a.journal() != [("1", {"2": 0.1})]:
        assert time.time() < deadline, "the 10% shift never happened"
        time.sleep(0.05)

    versions = sluice.redeploy({"ShiftFunction": "demo-broken"})
    assert versions == {logical: "2" for logical in FUNCTIONS}
    for fn in sluice.functions.values():
        assert stack.lam.get_alias(FunctionName=fn.name, Name=ALIAS)["FunctionVersion"] == "2"
    shift = sluice.functions["ShiftFunction"]
    config = stack.lam.get_function_configuration(FunctionName=shift.name, Qualifier="2")
    assert config["Environment"]["Variables"]["SLUICE_LOCAL_BINARY"] == "demo-broken"
    definition = stack.sfn.describe_state_machine(stateMachineArn=sluice.state_machine_arn)["definition"]
    assert f'"{shift.arn}:2"' in definition and f'"{shift.arn}:1"' not in definition

    # moto runs an execution on the definition it started with (it parses a copy of the state
    # machine taken at StartExecution; its DescribeStateMachineForExecution, though, answers the
    # current definition). Every Lambda task of the running execution called version 1.
    assert stack.wait(running)["status"] == "SUCCEEDED"
    assert a.journal() == [("1", {"2": 0.1}), ("2", {})]
    history = stack.sfn.get_execution_history(executionArn=running, maxResults=1000)["events"]
    called = [
        json.loads(e["taskScheduledEventDetails"]["parameters"])["FunctionName"]
        for e in history
        if e["type"] == "TaskScheduled"
    ]
    assert sum(1 for c in called if c == f"{shift.arn}:1") == 2, called
    assert all(c.endswith(":1") for c in called), called

    b = app()
    fresh = stack.sfn.start_execution(
        stateMachineArn=sluice.state_machine_arn, input=json.dumps({"targets": [b.target()], "strategy": "AllAtOnce"})
    )["executionArn"]
    assert stack.wait(fresh)["status"] == "FAILED", "the upgraded (broken) Shift ran"
    assert b.alias() == ("1", {})


def test_redeploy_refuses_unknown_functions(stack):
    with pytest.raises(ValueError):
        stack.sluice.redeploy({"NoSuchFunction": "demo-ok"})


def test_ledger_conditional_writes(stack):
    """What sluice's ledger relies on: a lock is a PutItem only if absent, released by a DeleteItem
    only if it is still the holder's."""
    ddb = stack.dynamodb
    pk = f"LOCK#test-{uuid.uuid4().hex}"
    item = {"pk": {"S": pk}, "owner": {"S": "deployment-a"}, "expiresAt": {"N": str(int(time.time()) + 3600)}}
    ddb.put_item(TableName=stack.ledger_table, Item=item, ConditionExpression="attribute_not_exists(pk)")
    with pytest.raises(botocore.exceptions.ClientError) as taken:
        ddb.put_item(
            TableName=stack.ledger_table,
            Item={**item, "owner": {"S": "deployment-b"}},
            ConditionExpression="attribute_not_exists(pk)",
        )
    assert taken.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    got = ddb.get_item(TableName=stack.ledger_table, Key={"pk": {"S": pk}}, ConsistentRead=True)["Item"]
    assert got["owner"] == {"S": "deployment-a"}

    def release(owner):
        ddb.delete_item(
            TableName=stack.ledger_table,
            Key={"pk": {"S": pk}},
            ConditionExpression="#o = :o",
            ExpressionAttributeNames={"#o": "owner"},
            ExpressionAttributeValues={":o": {"S": owner}},
        )

    with pytest.raises(botocore.exceptions.ClientError) as not_yours:
        release("deployment-b")
    assert not_yours.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    release("deployment-a")
    assert "Item" not in ddb.get_item(TableName=stack.ledger_table, Key={"pk": {"S": pk}}, ConsistentRead=True)
    with pytest.raises(botocore.exceptions.ClientError):
        release("deployment-a")


def test_a_tables_sparse_global_index_queues_and_alarms_are_deployed(stack, tmp_path):
    """The shapes template.yaml is gaining, in a template of the test's own: a ledger-like table
    with a sparse global secondary index (only items with the index's key are in it, with the
    projected attributes only), a queue, a metric alarm on the queue's AWS/SQS metric and a
    composite alarm on it, each answering Ref and GetAtt in Outputs."""
    template = write_template(
        tmp_path,
        {
            "Ledger": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "BillingMode": "PAY_PER_REQUEST",
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "AttributeDefinitions": [
                        {"AttributeName": "pk", "AttributeType": "S"},
                        {"AttributeName": "open", "AttributeType": "S"},
                    ],
                    "GlobalSecondaryIndexes": [
                        {
                            "IndexName": "open",
                            "KeySchema": [{"AttributeName": "open", "KeyType": "HASH"}],
                            "Projection": {
                                "ProjectionType": "INCLUDE",
                                "NonKeyAttributes": ["deploymentId", "executionArn", "updatedAt"],
                            },
                        }
                    ],
                },
            },
            "Failures": {"Type": "AWS::SQS::Queue"},
            "FailuresAlarm": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "AlarmDescription": "a failed asynchronous invocation",
                    "Namespace": "AWS/SQS",
                    "MetricName": "ApproximateNumberOfMessagesVisible",
                    "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["Failures", "QueueName"]}}],
                    "Statistic": "Maximum",
                    "Period": 60,
                    "EvaluationPeriods": 1,
                    "Threshold": 1,
                    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                    "TreatMissingData": "notBreaching",
                },
            },
            "AnyFailure": {
                "Type": "AWS::CloudWatch::CompositeAlarm",
                "Properties": {"AlarmRule": {"Fn::Sub": 'ALARM("${FailuresAlarm}")'}},
            },
        },
        outputs={
            "Table": {"Ref": "Ledger"},
            "Alarm": {"Ref": "FailuresAlarm"},
            "AlarmArn": {"Fn::GetAtt": ["FailuresAlarm", "Arn"]},
            "Composite": {"Ref": "AnyFailure"},
        },
    )
    prefix = f"gsi-{uuid.uuid4().hex[:6]}"
    deployed = stack.deploy_template(template, prefix)
    table, alarm = f"{prefix}-Ledger", f"{prefix}-FailuresAlarm"
    assert deployed.outputs() == {
        "Table": table,
        "Alarm": alarm,
        "AlarmArn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{alarm}",
        "Composite": f"{prefix}-AnyFailure",
    }

    ddb = stack.dynamodb
    [index] = ddb.describe_table(TableName=table)["Table"]["GlobalSecondaryIndexes"]
    assert (index["IndexName"], index["KeySchema"]) == ("open", [{"AttributeName": "open", "KeyType": "HASH"}])
    assert index["Projection"]["ProjectionType"] == "INCLUDE"
    for pk, is_open in (("DEPLOYMENT#a", True), ("DEPLOYMENT#b", False), ("DEPLOYMENT#c", True)):
        item = {"pk": {"S": pk}, "deploymentId": {"S": pk[11:]}, "updatedAt": {"N": "1"}, "other": {"S": "x"}}
        ddb.put_item(TableName=table, Item={**item, **({"open": {"S": "open"}} if is_open else {})})
    found = ddb.query(
        TableName=table,
        IndexName="open",
        KeyConditionExpression="#o = :o",
        ExpressionAttributeNames={"#o": "open"},
        ExpressionAttributeValues={":o": {"S": "open"}},
    )["Items"]
    assert sorted(i["pk"]["S"] for i in found) == ["DEPLOYMENT#a", "DEPLOYMENT#c"], "a settled record is not in it"
    # INCLUDE: the table's and the index's keys and the named attributes, nothing else.
    assert all(set(i) == {"pk", "open", "deploymentId", "updatedAt"} for i in found), found
    scanned = ddb.scan(TableName=table, IndexName="open")["Items"]
    assert len(scanned) == 2

    [metric] = stack.cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    assert (metric["Namespace"], metric["MetricName"], metric["Threshold"], metric["Period"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        1.0,
        60,
    )
    assert metric["Dimensions"] == [{"Name": "QueueName", "Value": f"{prefix}-Failures"}]
    [composite] = stack.cloudwatch.describe_alarms(AlarmNames=[f"{prefix}-AnyFailure"], AlarmTypes=["CompositeAlarm"])[
        "CompositeAlarms"
    ]
    assert composite["AlarmRule"] == f'ALARM("{alarm}")' and composite["StateValue"] == "OK"
