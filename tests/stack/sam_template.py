"""A SAM template as the local deployer reads it (sluice_stack.py deploys it): YAML with
CloudFormation's short-form intrinsics, and its values resolved for one stack name.

Intrinsics: Ref (parameters take their Default; pseudo parameters AWS::StackName = prefix,
AWS::Region, AWS::AccountId, AWS::Partition, AWS::URLSuffix, AWS::NoValue drops the key), GetAtt,
Sub (both forms), If, Equals, Not, And, Or, Condition, Join, Select. A resource answers Ref and
GetAtt once it is deployed (its `refs` and `attributes`); a reference to one not deployed yet is an
error, as a dependency cycle would be. Only the properties the local stack deploys are resolved:
IAM policies are not (moto does not enforce them), so a parameter without a default only matters
where one of those properties references it.

No imports of moto: this runs in the pytest and demo processes."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import yaml

from local_aws import ACCOUNT, REGION

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


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


class Resource(Protocol):
    """A deployed resource, as intrinsics see it."""

    def refs(self) -> dict[str, object]:
        """What Ref answers: "" for the resource itself, "Version" for Ref Fn.Version, ..."""

    def attributes(self) -> dict[str, object]:
        """What GetAtt answers, by attribute name."""


class Template:
    """The SAM template at `path`, deployed under the stack name `prefix`: its sections, and its
    values resolved. `deployed(logical)` is what has been deployed of a logical id, or None."""

    def __init__(self, path: Path, prefix: str, deployed: Callable[[str], Resource | None]):
        self.path = Path(path)
        self.root = self.path.parent
        self.prefix = prefix
        self.deployed = deployed
        self.document = load_template(self.path)
        if self.document.get("Transform") != "AWS::Serverless-2016-10-31":
            raise ValueError(f"{self.path} is not a SAM template")
        self.resources: dict[str, dict] = self.document.get("Resources") or {}
        self.parameters: dict[str, dict] = self.document.get("Parameters") or {}
        self.globals: dict = (self.document.get("Globals") or {}).get("Function") or {}
        self._conditions: dict[str, bool] = {}

    def of_type(self, kind: str) -> list[tuple[str, dict]]:
        return [(k, r) for k, r in self.resources.items() if r.get("Type") == kind]

    def outputs(self) -> dict[str, str]:
        return {k: self.resolve(o["Value"]) for k, o in (self.document.get("Outputs") or {}).items()}

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
            conditions = self.document.get("Conditions") or {}
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
        logical, _, suffix = name.partition(".")  # Fn.Version, Fn.Alias: SAM's resources of Fn
        refs = self._resource(logical).refs()
        if suffix not in refs:
            raise ValueError(f"cannot Ref {name}")
        return refs[suffix]

    def get_att(self, logical: str, attr: str):
        attributes = self._resource(logical).attributes()
        if attr not in attributes:
            raise ValueError(f"cannot GetAtt {logical}.{attr} locally")
        return attributes[attr]

    def _resource(self, logical: str) -> Resource:
        resource = self.deployed(logical)
        if resource is not None:
            return resource
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
