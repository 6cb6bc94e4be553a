"""Deploys sluice's template.yaml into the local stack as SAM and CloudFormation would, for what the
template uses: one SluiceStack per stack name (the prefix every physical name starts with); the
template's values are resolved by sam_template.Template.

Resources, in this order (a reference to a later kind is an error, as a dependency cycle would be):
1. AWS::DynamoDB::Table: named `{prefix}-{logical}` (or TableName), with its keys, attribute
   definitions, global and local secondary indexes, stream and billing mode;
   TimeToLiveSpecification and PointInTimeRecoverySpecification applied (moto keeps both; it does
   not expire items). Ref = name, GetAtt Arn/StreamArn.
2. AWS::SQS::Queue: `{prefix}-{logical}` (or QueueName; `.fifo` added for a FifoQueue without
   one), its other properties as queue attributes. Ref = URL, GetAtt Arn/QueueName/QueueUrl.
   AWS::SNS::Topic: `{prefix}-{logical}` (or TopicName), with its DisplayName. Ref = ARN, GetAtt
   TopicArn/TopicName.
3. AWS::Serverless::Function: `{prefix}-{logical}`, its code the workspace binary named by
   Metadata.BuildProperties.Binary (served by cargo-lambda, see BINARY_VAR), its properties merged
   over Globals.Function (Environment.Variables merged key by key). With AutoPublishAlias, version 1
   is published and the alias created on it. ReservedConcurrentExecutions is applied with
   PutFunctionConcurrency: moto records it but never throttles on it. EventInvokeConfig
   (MaximumRetryAttempts, MaximumEventAgeInSeconds, DestinationConfig's OnSuccess/OnFailure
   Destination; SAM's Type is SAM's alone) is put on the alias with AutoPublishAlias, as SAM does,
   else on $LATEST. Ref = name; Ref Fn.Version = the published version's ARN; Ref Fn.Alias = the
   alias ARN; GetAtt Arn = the unqualified ARN.
4. AWS::Serverless::StateMachine (one at most): Name (or `{prefix}-{logical}`), DefinitionUri or Definition with
   DefinitionSubstitutions applied. Ref = ARN, GetAtt Name/Arn.
5. Each function's Events of Type EventBridgeRule (or CloudWatchEvent) and Schedule: a rule
   `{prefix}-{logical}{event}` (or RuleName, or a Schedule's Name) with the resolved Pattern (on its
   bus, default) or the Schedule expression (State from State, or Enabled: false = DISABLED), and as
   SAM makes it, one target `{logical}{event}LambdaTarget`: the alias ARN when AutoPublishAlias is
   set, else the function ARN, with Input/InputPath/RetryPolicy passed on. Ref = name, GetAtt Arn.
6. AWS::CloudWatch::Alarm: `{prefix}-{logical}` (or AlarmName), a metric alarm with its
   properties as PutMetricAlarm's parameters; then AWS::CloudWatch::CompositeAlarm likewise, with
   PutCompositeAlarm's. Ref = name, GetAtt Arn.

No imports of moto: this runs in the pytest and demo processes."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import botocore.exceptions

from local_aws import ACCOUNT, BINARY_VAR, REGION
from resources import placeholder_zip
from sam_template import NO_VALUE, Resource, Template

if TYPE_CHECKING:
    from stack import LocalStack


@dataclass
class Table:
    name: str
    arn: str
    stream_arn: str | None = None

    def refs(self) -> dict[str, object]:
        return {"": self.name}

    def attributes(self) -> dict[str, object]:
        return {"Arn": self.arn, **({"StreamArn": self.stream_arn} if self.stream_arn else {})}


@dataclass
class Function:
    logical: str
    name: str
    arn: str  # unqualified
    binary: str
    environment: dict[str, str]  # resolved, without BINARY_VAR
    alias: str | None = None  # AutoPublishAlias
    version: str | None = None  # the version the alias is on
    own_binary: str = ""  # the template's (BuildProperties.Binary); `binary` is what it runs now

    def __post_init__(self):
        self.own_binary = self.own_binary or self.binary

    @property
    def version_arn(self) -> str:
        if self.version is None:
            raise ValueError(f"{self.logical} has no AutoPublishAlias, so no published version")
        return f"{self.arn}:{self.version}"

    @property
    def alias_arn(self) -> str:
        if self.alias is None:
            raise ValueError(f"{self.logical} has no AutoPublishAlias")
        return f"{self.arn}:{self.alias}"

    def refs(self) -> dict[str, object]:
        # SAM's Fn.Version and Fn.Alias exist only with AutoPublishAlias.
        published = {"Version": self.version_arn, "Alias": self.alias_arn} if self.alias else {}
        return {"": self.name, **published}

    def attributes(self) -> dict[str, object]:
        return {"Arn": self.arn}


@dataclass
class Queue:
    name: str
    url: str
    arn: str

    def refs(self) -> dict[str, object]:
        return {"": self.url}

    def attributes(self) -> dict[str, object]:
        return {"Arn": self.arn, "QueueName": self.name, "QueueUrl": self.url}


@dataclass
class Topic:
    name: str
    arn: str

    def refs(self) -> dict[str, object]:
        return {"": self.arn}

    def attributes(self) -> dict[str, object]:
        return {"TopicArn": self.arn, "TopicName": self.name}


@dataclass
class Alarm:
    name: str
    arn: str
    composite: bool = False

    def refs(self) -> dict[str, object]:
        return {"": self.name}

    def attributes(self) -> dict[str, object]:
        return {"Arn": self.arn}


@dataclass
class StateMachine:
    name: str
    arn: str

    def refs(self) -> dict[str, object]:
        return {"": self.arn}

    def attributes(self) -> dict[str, object]:
        return {"Arn": self.arn, "Name": self.name}


@dataclass
class Rule:
    logical: str  # the function's logical id + the event's name, as SAM names the rule resource
    name: str
    arn: str
    bus: str
    pattern: dict | None  # None for a schedule
    targets: list[dict] = field(default_factory=list)
    schedule: str | None = None

    def refs(self) -> dict[str, object]:
        return {"": self.name}

    def attributes(self) -> dict[str, object]:
        return {"Arn": self.arn}


class SluiceStack:
    """sluice deployed from a SAM template under one stack name. `deploy()` creates everything,
    `redeploy()` upgrades it as `sam deploy` of new code does."""

    def __init__(self, local: LocalStack, template_path: Path, prefix: str):
        self.local = local
        self.prefix = prefix
        self.template = Template(template_path, prefix, self.deployed)
        self.tables: dict[str, Table] = {}
        self.queues: dict[str, Queue] = {}
        self.topics: dict[str, Topic] = {}
        self.functions: dict[str, Function] = {}
        self.dashboards: dict[str, str] = {}
        self.alarms: dict[str, Alarm] = {}
        self.rules: dict[str, Rule] = {}
        self.state_machine_logical: str | None = None
        self.state_machine: StateMachine | None = None

    # --- what other code reads ---
    def deployed(self, logical: str) -> Resource | None:
        """The resource deployed for a logical id, or None (not yet, or not a resource)."""
        if logical == self.state_machine_logical:
            return self.state_machine
        for kind in (self.tables, self.queues, self.topics, self.functions, self.rules, self.alarms):
            if logical in kind:
                return kind[logical]
        return None

    @property
    def state_machine_arn(self) -> str | None:
        return self.state_machine.arn if self.state_machine else None

    @property
    def ledger_table(self) -> str:
        """The one DynamoDB table's name (sluice's ledger)."""
        tables = list(self.tables.values())
        if len(tables) != 1:
            raise ValueError(f"expected exactly one table, found {len(tables)}")
        return tables[0].name

    def outputs(self) -> dict[str, str]:
        return self.template.outputs()

    def runtime_environment(self) -> dict[str, str]:
        """What cargo-lambda's processes need in their environment: cargo-lambda serves every binary
        from its own environment, not from the function's configuration, so the functions'
        resolved variables go there. They must agree where they overlap."""
        merged: dict[str, str] = {}
        for fn in self.functions.values():
            for key, value in fn.environment.items():
                if merged.get(key, value) != value:
                    raise ValueError(f"functions disagree on {key}; cargo-lambda has one environment for all")
                merged[key] = value
        return merged

    # --- deploying ---
    def deploy(self) -> SluiceStack:
        for logical, res in self.template.of_type("AWS::DynamoDB::Table"):
            self._create_table(logical, res.get("Properties") or {})
        for logical, res in self.template.of_type("AWS::SQS::Queue"):
            self._create_queue(logical, res.get("Properties") or {})
        for logical, res in self.template.of_type("AWS::SNS::Topic"):
            self._create_topic(logical, res.get("Properties") or {})
        for logical, res in self.template.of_type("AWS::Serverless::Function"):
            self._create_function(logical, res)
        machines = self.template.of_type("AWS::Serverless::StateMachine")
        if len(machines) > 1:
            raise ValueError("the template may have one state machine at most")
        for logical, res in machines:
            self._create_state_machine(logical, res)
        for logical, res in self.template.of_type("AWS::Serverless::Function"):
            for event, spec in ((res.get("Properties") or {}).get("Events") or {}).items():
                if spec.get("Type") in ("EventBridgeRule", "CloudWatchEvent", "Schedule"):
                    self._create_rule(logical, event, spec["Type"], spec.get("Properties") or {})
        for logical, res in self.template.of_type("AWS::CloudWatch::Alarm"):
            self._create_alarm(logical, res.get("Properties") or {}, composite=False)
        for logical, res in self.template.of_type("AWS::CloudWatch::CompositeAlarm"):
            self._create_alarm(logical, res.get("Properties") or {}, composite=True)
        for logical, res in self.template.of_type("AWS::CloudWatch::Dashboard"):
            self._create_dashboard(logical, res.get("Properties") or {})
        return self

    def redeploy(self, binaries: dict[str, str] | None = None) -> dict[str, str]:
        """An upgrade as `sam deploy` makes it: every function's code is set (its own binary, or
        the one `binaries` names for its logical id), a new version is published and the
        AutoPublishAlias alias moved onto it, then the state machine's definition is updated with
        the new version ARNs. Executions already running keep the definition they started with.
        Returns the new version per logical id."""
        binaries = dict(binaries or {})
        unknown = set(binaries) - set(self.functions)
        if unknown:
            raise ValueError(f"not functions of this stack: {sorted(unknown)}")
        lam = self.local.lam
        versions = {}
        for logical, fn in self.functions.items():
            # Its own binary unless told otherwise: an upgrade to other code is undone by the next.
            fn.binary = binaries.get(logical, fn.own_binary)
            lam.update_function_configuration(
                FunctionName=fn.name, Environment={"Variables": {**fn.environment, BINARY_VAR: fn.binary}}
            )
            if fn.alias:
                fn.version = lam.publish_version(FunctionName=fn.name)["Version"]
                lam.update_alias(FunctionName=fn.name, Name=fn.alias, FunctionVersion=fn.version)
                versions[logical] = fn.version
        if self.state_machine is not None:
            self.local.sfn.update_state_machine(stateMachineArn=self.state_machine_arn, definition=self.definition())
        return versions

    def _create_table(self, logical: str, raw: dict) -> None:
        props = self.template.resolve(raw)
        name = props.get("TableName") or f"{self.prefix}-{logical}"
        args = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        for key in ("ProvisionedThroughput", "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification"):
            if key in props:
                args[key] = props[key]
        ddb = self.local.dynamodb
        description = ddb.create_table(**args)["TableDescription"]
        self.tables[logical] = Table(name, description["TableArn"], description.get("LatestStreamArn"))
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            try:
                ddb.update_time_to_live(
                    TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
                )
            except botocore.exceptions.ClientError:
                pass  # a moto without TTL: nothing in the local stack expires items anyway
        pitr = props.get("PointInTimeRecoverySpecification")
        if pitr and pitr.get("PointInTimeRecoveryEnabled"):
            try:
                ddb.update_continuous_backups(
                    TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
                )
            except botocore.exceptions.ClientError:
                pass

    def _create_queue(self, logical: str, raw: dict) -> None:
        props = self.template.resolve(raw)
        fifo = str(props.get("FifoQueue", "")).lower() == "true"
        name = props.get("QueueName") or f"{self.prefix}-{logical}" + (".fifo" if fifo else "")
        attributes = {}
        for key, value in props.items():
            if key in ("QueueName", "Tags"):
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            attributes[key] = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
        sqs = self.local.client("sqs")
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.queues[logical] = Queue(name, url, arn)

    def _create_topic(self, logical: str, raw: dict) -> None:
        props = self.template.resolve(raw)
        name = props.get("TopicName") or f"{self.prefix}-{logical}"
        attributes = {"DisplayName": str(props["DisplayName"])} if "DisplayName" in props else {}
        arn = self.local.client("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
        self.topics[logical] = Topic(name, arn)

    def _function_properties(self, res: dict) -> dict:
        """Globals.Function under the function's own properties; Environment.Variables merged."""
        own = res.get("Properties") or {}
        props = {**self.template.globals, **own}
        variables = {
            **((self.template.globals.get("Environment") or {}).get("Variables") or {}),
            **((own.get("Environment") or {}).get("Variables") or {}),
        }
        props["Environment"] = {"Variables": variables}
        return props

    def _create_function(self, logical: str, res: dict) -> None:
        props = self._function_properties(res)
        binary = res["Metadata"]["BuildProperties"]["Binary"]
        name = props.get("FunctionName")
        name = self.template.resolve(name) if name else f"{self.prefix}-{logical}"
        environment = {k: str(v) for k, v in self.template.resolve(props["Environment"]["Variables"]).items()}
        args = {
            "FunctionName": name,
            "Runtime": self.template.resolve(props.get("Runtime", "provided.al2023")),
            "Handler": self.template.resolve(props.get("Handler", "bootstrap")),
            "Role": self.local.role(),
            "Code": {"ZipFile": placeholder_zip()},
            "Timeout": int(self.template.resolve(props.get("Timeout", 3))),
            "MemorySize": int(self.template.resolve(props.get("MemorySize", 128))),
            "Environment": {"Variables": {**environment, BINARY_VAR: binary}},
        }
        if props.get("Description"):
            args["Description"] = self.template.resolve(props["Description"])
        if props.get("Architectures"):
            args["Architectures"] = self.template.resolve(props["Architectures"])
        lam = self.local.lam
        arn = lam.create_function(**args)["FunctionArn"]
        fn = Function(logical, name, arn, binary, environment)
        alias = self.template.resolve(props.get("AutoPublishAlias", NO_VALUE))
        if alias is not NO_VALUE and alias:
            fn.alias = alias
            fn.version = lam.publish_version(FunctionName=name)["Version"]
            lam.create_alias(FunctionName=name, Name=alias, FunctionVersion=fn.version)
        reserved = self.template.resolve(props.get("ReservedConcurrentExecutions", NO_VALUE))
        if reserved is not NO_VALUE and reserved is not None:
            # moto records the reservation (GetFunctionConcurrency answers it) but never throttles.
            lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=int(reserved))
        invoke_config = self.template.resolve(props.get("EventInvokeConfig", NO_VALUE))
        if invoke_config is not NO_VALUE and invoke_config:
            self._put_event_invoke_config(fn, invoke_config)
        self.functions[logical] = fn

    def _put_event_invoke_config(self, fn: Function, config: dict) -> None:
        """SAM's EventInvokeConfig as the AWS::Lambda::EventInvokeConfig SAM makes of it: on the
        alias with AutoPublishAlias, else on $LATEST; each destination's Type is SAM's alone."""
        args = {"FunctionName": fn.name, "Qualifier": fn.alias or "$LATEST"}
        for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
            if config.get(key) is not None:
                args[key] = int(config[key])
        destinations = {}
        for kind, destination in (config.get("DestinationConfig") or {}).items():
            if not destination.get("Destination"):
                # SAM would create the queue or topic itself: name one in the template instead.
                raise ValueError(f"{fn.logical}: {kind} without a Destination is not deployed locally")
            destinations[kind] = {"Destination": destination["Destination"]}
        if destinations:
            args["DestinationConfig"] = destinations
        self.local.lam.put_function_event_invoke_config(**args)

    def definition(self) -> str:
        """The state machine's definition with its DefinitionSubstitutions applied, as of now."""
        props = self.template.resources[self.state_machine_logical].get("Properties") or {}
        if "DefinitionUri" in props:
            definition = (self.template.root / self.template.resolve(props["DefinitionUri"])).read_text()
        else:
            definition = json.dumps(self.template.resolve(props["Definition"]))
        for key, value in self.template.resolve(props.get("DefinitionSubstitutions") or {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        leftover = re.findall(r"\$\{([^}]+)\}", definition)
        if leftover:
            raise ValueError(f"placeholders without a substitution: {leftover}")
        return definition

    def _create_state_machine(self, logical: str, res: dict) -> None:
        props = res.get("Properties") or {}
        self.state_machine_logical = logical
        name = self.template.resolve(props["Name"]) if "Name" in props else f"{self.prefix}-{logical}"
        role = self.template.resolve(props["Role"]) if "Role" in props else self.local.role()
        arn = self.local.sfn.create_state_machine(
            name=name,
            definition=self.definition(),
            roleArn=role,
            type=self.template.resolve(props.get("Type", "STANDARD")),
        )["stateMachineArn"]
        self.state_machine = StateMachine(name, arn)

    def _create_rule(self, logical: str, event: str, kind: str, raw: dict) -> None:
        props = self.template.resolve(raw)
        fn = self.functions[logical]
        name = props.get("RuleName") or props.get("Name") or f"{self.prefix}-{logical}{event}"[:64]
        bus = props.get("EventBusName", "default")
        events = self.local.events
        if kind == "Schedule":
            state = props.get("State") or ("DISABLED" if props.get("Enabled") is False else "ENABLED")
            args = {"Name": name, "ScheduleExpression": props["Schedule"], "State": state}
        else:
            args = {"Name": name, "EventPattern": json.dumps(props["Pattern"]), "State": props.get("State", "ENABLED")}
        if props.get("Description"):
            args["Description"] = props["Description"]
        if bus != "default":
            args["EventBusName"] = bus
        arn = events.put_rule(**args)["RuleArn"]
        target = {
            "Id": (props.get("Target") or {}).get("Id") or f"{logical}{event}LambdaTarget",
            "Arn": fn.alias_arn if fn.alias else fn.arn,
        }
        for key in ("Input", "InputPath", "RetryPolicy"):
            if key in props:
                target[key] = props[key]
        events.put_targets(Rule=name, EventBusName=bus, Targets=[target])
        self.rules[f"{logical}{event}"] = Rule(
            f"{logical}{event}", name, arn, bus, props.get("Pattern"), [target], props.get("Schedule")
        )

    def _create_dashboard(self, logical: str, raw: dict) -> None:
        """PutDashboard, with the body as the template resolves it (its !Sub names the stack's own
        functions, queues and state machine): a body that is not JSON fails the deployment."""
        props = self.template.resolve(raw)
        name = props.get("DashboardName") or f"{self.prefix}-{logical}"
        json.loads(props["DashboardBody"])
        self.local.cloudwatch.put_dashboard(DashboardName=name, DashboardBody=props["DashboardBody"])
        self.dashboards[logical] = name

    def _create_alarm(self, logical: str, raw: dict, composite: bool) -> None:
        """A metric alarm (PutMetricAlarm) or a composite one (PutCompositeAlarm), its properties
        being the call's parameters."""
        props = self.template.resolve(raw)
        name = props.pop("AlarmName", None) or f"{self.prefix}-{logical}"
        for key in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
            if key in props:
                props[key] = int(props[key])
        if "Threshold" in props:
            props["Threshold"] = float(props["Threshold"])
        cw = self.local.cloudwatch
        if composite:
            cw.put_composite_alarm(AlarmName=name, **props)
        else:
            cw.put_metric_alarm(AlarmName=name, **props)
        arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"
        self.alarms[logical] = Alarm(name, arn, composite)
