"""Deploys sluice's template.yaml into the local stack as SAM and CloudFormation would, for what the
template uses: one SluiceStack per stack name (the prefix every physical name starts with).

Resources, in this order (a reference to a later kind is an error, as a dependency cycle would be):
1. AWS::DynamoDB::Table: named `{prefix}-{logical}` (or TableName), with its keys, indexes and
   billing mode; TimeToLiveSpecification and PointInTimeRecoverySpecification applied (moto keeps
   both; it does not expire items). Ref = name, GetAtt Arn/StreamArn.
2. AWS::Serverless::Function: `{prefix}-{logical}`, its code the workspace binary named by
   Metadata.BuildProperties.Binary (served by cargo-lambda, see BINARY_VAR), its properties merged
   over Globals.Function (Environment.Variables merged key by key). With AutoPublishAlias, version 1
   is published and the alias created on it. ReservedConcurrentExecutions is applied with
   PutFunctionConcurrency: moto records it but never throttles on it. Ref = name; Ref Fn.Version =
   the published version's ARN; Ref Fn.Alias = the alias ARN; GetAtt Arn = the unqualified ARN.
3. AWS::Serverless::StateMachine: Name (or `{prefix}-{logical}`), DefinitionUri or Definition with
   DefinitionSubstitutions applied. Ref = ARN, GetAtt Name/Arn.
4. Each function's Events of Type EventBridgeRule (or CloudWatchEvent): a rule
   `{prefix}-{logical}{event}` (or RuleName) on its bus (default) with the resolved Pattern, and as
   SAM makes it, one target `{logical}{event}LambdaTarget`: the alias ARN when AutoPublishAlias is
   set, else the function ARN, with Input/InputPath/RetryPolicy passed on.

Intrinsics: Ref (parameters take their Default; pseudo parameters AWS::StackName = prefix,
AWS::Region, AWS::AccountId, AWS::Partition, AWS::URLSuffix, AWS::NoValue drops the key), GetAtt,
Sub (both forms), If, Equals, Not, And, Or, Condition, Join, Select. Only the properties the local
stack deploys are resolved: IAM policies are not (moto does not enforce them), so a parameter
without a default only matters where one of those properties references it.

No imports of moto: this runs in the pytest and demo processes."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import botocore.exceptions
import yaml

from local_aws import ACCOUNT, BINARY_VAR, REGION
from resources import placeholder_zip

if TYPE_CHECKING:
    from stack import LocalStack

PARTITION = "aws"


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form intrinsics (!Ref, !GetAtt, !Sub, ...)."""


def _intrinsic(loader: yaml.Loader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path) -> dict:
    with open(path) as f:
        return yaml.load(f, Loader=_CfnLoader)


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


@dataclass
class Table:
    name: str
    arn: str
    stream_arn: str | None = None


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


@dataclass
class Rule:
    logical: str  # the function's logical id + the event's name, as SAM names the rule resource
    name: str
    arn: str
    bus: str
    pattern: dict
    targets: list[dict] = field(default_factory=list)


class SluiceStack:
    """sluice deployed from a SAM template under one stack name. `deploy()` creates everything,
    `redeploy()` upgrades it as `sam deploy` of new code does."""

    def __init__(self, local: LocalStack, template_path: Path, prefix: str):
        self.local = local
        self.template_path = Path(template_path)
        self.root = self.template_path.parent
        self.prefix = prefix
        self.template = load_template(self.template_path)
        if self.template.get("Transform") != "AWS::Serverless-2016-10-31":
            raise ValueError(f"{self.template_path} is not a SAM template")
        self.resources: dict[str, dict] = self.template.get("Resources") or {}
        self.parameters: dict[str, dict] = self.template.get("Parameters") or {}
        self.globals: dict = (self.template.get("Globals") or {}).get("Function") or {}
        self._conditions: dict[str, bool] = {}
        self.tables: dict[str, Table] = {}
        self.functions: dict[str, Function] = {}
        self.rules: dict[str, Rule] = {}
        self.state_machine_logical: str | None = None
        self.state_machine_arn: str | None = None
        self.state_machine_name: str | None = None

    # --- what other code reads ---
    def of_type(self, kind: str) -> list[tuple[str, dict]]:
        return [(k, r) for k, r in self.resources.items() if r.get("Type") == kind]

    @property
    def ledger_table(self) -> str:
        """The one DynamoDB table's name (sluice's ledger)."""
        tables = list(self.tables.values())
        if len(tables) != 1:
            raise ValueError(f"expected exactly one table, found {len(tables)}")
        return tables[0].name

    def outputs(self) -> dict[str, str]:
        return {k: self.resolve(o["Value"]) for k, o in (self.template.get("Outputs") or {}).items()}

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
        for logical, res in self.of_type("AWS::DynamoDB::Table"):
            self._create_table(logical, res.get("Properties") or {})
        for logical, res in self.of_type("AWS::Serverless::Function"):
            self._create_function(logical, res)
        machines = self.of_type("AWS::Serverless::StateMachine")
        if len(machines) != 1:
            raise ValueError("the template must have exactly one state machine")
        self._create_state_machine(*machines[0])
        for logical, res in self.of_type("AWS::Serverless::Function"):
            for event, spec in ((res.get("Properties") or {}).get("Events") or {}).items():
                if spec.get("Type") in ("EventBridgeRule", "CloudWatchEvent"):
                    self._create_rule(logical, event, spec.get("Properties") or {})
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
        self.local.sfn.update_state_machine(stateMachineArn=self.state_machine_arn, definition=self.definition())
        return versions

    def _create_table(self, logical: str, raw: dict) -> None:
        props = self.resolve(raw)
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

    def _function_properties(self, res: dict) -> dict:
        """Globals.Function under the function's own properties; Environment.Variables merged."""
        own = res.get("Properties") or {}
        props = {**self.globals, **own}
        variables = {
            **((self.globals.get("Environment") or {}).get("Variables") or {}),
            **((own.get("Environment") or {}).get("Variables") or {}),
        }
        props["Environment"] = {"Variables": variables}
        return props

    def _create_function(self, logical: str, res: dict) -> None:
        props = self._function_properties(res)
        binary = res["Metadata"]["BuildProperties"]["Binary"]
        name = props.get("FunctionName")
        name = self.resolve(name) if name else f"{self.prefix}-{logical}"
        environment = {k: str(v) for k, v in self.resolve(props["Environment"]["Variables"]).items()}
        args = {
            "FunctionName": name,
            "Runtime": self.resolve(props.get("Runtime", "provided.al2023")),
            "Handler": self.resolve(props.get("Handler", "bootstrap")),
            "Role": self.local.role(),
            "Code": {"ZipFile": placeholder_zip()},
            "Timeout": int(self.resolve(props.get("Timeout", 3))),
            "MemorySize": int(self.resolve(props.get("MemorySize", 128))),
            "Environment": {"Variables": {**environment, BINARY_VAR: binary}},
        }
        if props.get("Description"):
            args["Description"] = self.resolve(props["Description"])
        if props.get("Architectures"):
            args["Architectures"] = self.resolve(props["Architectures"])
        lam = self.local.lam
        arn = lam.create_function(**args)["FunctionArn"]
        fn = Function(logical, name, arn, binary, environment)
        alias = self.resolve(props.get("AutoPublishAlias", NO_VALUE))
        if alias is not NO_VALUE and alias:
            fn.alias = alias
            fn.version = lam.publish_version(FunctionName=name)["Version"]
            lam.create_alias(FunctionName=name, Name=alias, FunctionVersion=fn.version)
        reserved = self.resolve(props.get("ReservedConcurrentExecutions", NO_VALUE))
        if reserved is not NO_VALUE and reserved is not None:
            # moto records the reservation (GetFunctionConcurrency answers it) but never throttles.
            lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=int(reserved))
        self.functions[logical] = fn

    def definition(self) -> str:
        """The state machine's definition with its DefinitionSubstitutions applied, as of now."""
        props = self.resources[self.state_machine_logical].get("Properties") or {}
        if "DefinitionUri" in props:
            definition = (self.root / self.resolve(props["DefinitionUri"])).read_text()
        else:
            definition = json.dumps(self.resolve(props["Definition"]))
        for key, value in self.resolve(props.get("DefinitionSubstitutions") or {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        leftover = re.findall(r"\$\{([^}]+)\}", definition)
        if leftover:
            raise ValueError(f"placeholders without a substitution: {leftover}")
        return definition

    def _create_state_machine(self, logical: str, res: dict) -> None:
        props = res.get("Properties") or {}
        self.state_machine_logical = logical
        name = self.resolve(props["Name"]) if "Name" in props else f"{self.prefix}-{logical}"
        role = self.resolve(props["Role"]) if "Role" in props else self.local.role()
        self.state_machine_arn = self.local.sfn.create_state_machine(
            name=name,
            definition=self.definition(),
            roleArn=role,
            type=self.resolve(props.get("Type", "STANDARD")),
        )["stateMachineArn"]
        self.state_machine_name = name

    def _create_rule(self, logical: str, event: str, raw: dict) -> None:
        props = self.resolve(raw)
        fn = self.functions[logical]
        name = props.get("RuleName") or f"{self.prefix}-{logical}{event}"[:64]
        bus = props.get("EventBusName", "default")
        events = self.local.events
        args = {"Name": name, "EventPattern": json.dumps(props["Pattern"]), "State": props.get("State", "ENABLED")}
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
        self.rules[f"{logical}{event}"] = Rule(f"{logical}{event}", name, arn, bus, props["Pattern"], [target])

    # --- intrinsics ---
    def resolve(self, value):
        """A template value with its intrinsics resolved; AWS::NoValue drops a key or list item."""
        if isinstance(value, list):
            return [v for v in (self.resolve(x) for x in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._function(key[4:], arg)
        out = {}
        for k, v in value.items():
            resolved = self.resolve(v)
            if resolved is not NO_VALUE:
                out[k] = resolved
        return out

    def _function(self, name: str, arg):
        if name == "GetAtt":
            logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
            return self.get_att(self.resolve(logical), self.resolve(attr))
        if name == "Sub":
            return self.sub(arg)
        if name == "If":
            cond, yes, no = arg
            return self.resolve(yes if self.condition(cond) else no)
        if name == "Equals":
            a, b = (self.resolve(x) for x in arg)
            return str(a) == str(b)
        if name == "Not":
            return not self._truth(arg[0])
        if name == "And":
            return all(self._truth(x) for x in arg)
        if name == "Or":
            return any(self._truth(x) for x in arg)
        if name == "Join":
            delimiter, items = arg
            return self.resolve(delimiter).join(str(x) for x in self.resolve(items))
        if name == "Select":
            index, items = arg
            return self.resolve(items)[int(self.resolve(index))]
        raise ValueError(f"Fn::{name} is not supported by the local deployer")

    def _truth(self, value) -> bool:
        resolved = self.resolve(value)
        if not isinstance(resolved, bool):
            raise ValueError(f"not a condition: {value}")
        return resolved

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            conditions = self.template.get("Conditions") or {}
            if name not in conditions:
                raise ValueError(f"no condition {name}")
            self._conditions[name] = self._truth(conditions[name])
        return self._conditions[name]

    def ref(self, name: str):
        pseudo = {
            "AWS::StackName": self.prefix,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT}:stack/{self.prefix}/local",
        }
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            if "Default" not in self.parameters[name]:
                raise ValueError(f"parameter {name} has no default, and the local deployer passes none")
            return self.parameters[name]["Default"]
        base, _, suffix = name.partition(".")
        if suffix:
            fn = self._deployed_function(base)
            if suffix == "Version":
                return fn.version_arn
            if suffix == "Alias":
                return fn.alias_arn
            raise ValueError(f"cannot Ref {name}")
        if name in self.tables:
            return self.tables[name].name
        if name in self.functions:
            return self.functions[name].name
        if name == self.state_machine_logical and self.state_machine_arn:
            return self.state_machine_arn
        if name in self.rules:
            return self.rules[name].name
        return self._not_deployed(name)

    def get_att(self, logical: str, attr: str):
        if logical in self.tables:
            table = self.tables[logical]
            if attr == "Arn":
                return table.arn
            if attr == "StreamArn" and table.stream_arn:
                return table.stream_arn
        elif logical in self.functions:
            if attr == "Arn":
                return self.functions[logical].arn
        elif logical == self.state_machine_logical and self.state_machine_arn:
            if attr == "Arn":
                return self.state_machine_arn
            if attr == "Name":
                return self.state_machine_name
        elif logical in self.rules:
            if attr == "Arn":
                return self.rules[logical].arn
        else:
            return self._not_deployed(logical)
        raise ValueError(f"cannot GetAtt {logical}.{attr} locally")

    def _deployed_function(self, logical: str) -> Function:
        if logical not in self.functions:
            self._not_deployed(logical)
        return self.functions[logical]

    def _not_deployed(self, logical: str):
        if logical in self.resources:
            raise ValueError(f"{logical} is referenced before the local deployer creates it")
        raise ValueError(f"no resource or parameter {logical}")

    def sub(self, arg) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        variables = {k: self.resolve(v) for k, v in variables.items()}

        def replace(m: re.Match) -> str:
            var = m.group(1)
            if var.startswith("!"):
                return "${" + var[1:] + "}"  # ${!Literal} stays literal
            if var in variables:
                return str(variables[var])
            if (
                "." in var
                and var.split(".", 1)[0] in self.resources
                and var.split(".", 1)[1] not in ("Version", "Alias")
            ):
                return str(self.get_att(*var.split(".", 1)))
            return str(self.ref(var))

        return re.sub(r"\$\{([^}]+)\}", replace, text)
