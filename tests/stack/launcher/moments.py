"""Patch 16. Something happens at a chosen moment of a deployment, deterministically: another writer
changes an alias, the execution is stopped, an alarm changes state. A test endpoint at MOMENTS_PATH
(not an AWS API):

    POST   {"when": WHEN, "do": DO} arms a moment; it fires once, in the thread that reached it,
           before that thread goes on (so nothing of the deployment runs in between). WHEN is one of
           {"aliasWrite": {"function": F, "alias": A, "nth": N}}
               right after the Nth UpdateAlias on F:A that lands (counted from when the moment was
               armed; writes done by moments do not count), before its caller gets the answer;
           {"stateEntered": {"execution": NAME (optional), "state": S, "nth": N}}
               right after the execution (any, without NAME) enters state S for the Nth time
               (its StateEntered event written), before the state does anything.
           DO is one of
           {"updateAlias": {"function": F, "alias": A, "version": V, "weights": {V2: w} (optional)}}
               another writer's UpdateAlias (no RevisionId): the alias gets a new RevisionId, and the
               alias journal lists the write with "writer": "moment";
           {"stopExecution": {"execution": NAME (default: the one whose state was entered),
                              "error": ..., "cause": ..., "delaySeconds": D (optional)}}
               StopExecution, as a client would call it (ABORTED at once, its status event emitted);
               with delaySeconds it is called D seconds later, from another thread;
           {"setAlarmState": {"alarm": NAME, "state": "ALARM" | "OK" | ..., "reason": ...}}
               SetAlarmState (its state-change event emitted as alarm_events does).
           Answers 201 with the moment (it carries an `id`).
    GET    {"armed": [...], "fired": [{id, when, do, at, result}]}
    DELETE disarms every moment and forgets what fired; answers 204.
"""

from __future__ import annotations

import copy
import datetime
import sys
import threading
import time
import urllib.parse
import uuid

from local_aws import ACCOUNT, MOMENTS_PATH, REGION

from . import alias_journal
from .endpoints import Controls

controls = Controls()


def _nth(spec: dict) -> int:
    nth = spec.get("nth", 1)
    if not isinstance(nth, int) or isinstance(nth, bool) or nth < 1:
        raise ValueError("nth must be an integer >= 1")
    return nth


def _text(spec: dict, key: str, required: bool = True) -> str | None:
    value = spec.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} must be a non-empty text")
    return value


def arm(spec: dict) -> dict:
    when, do = spec.get("when"), spec.get("do")
    if not isinstance(when, dict) or len(when) != 1:
        raise ValueError("when must be {aliasWrite: ...} or {stateEntered: ...}")
    if not isinstance(do, dict) or len(do) != 1:
        raise ValueError("do must be {updateAlias: ...}, {stopExecution: ...} or {setAlarmState: ...}")
    (when_kind, w), (do_kind, d) = next(iter(when.items())), next(iter(do.items()))
    if not isinstance(w, dict) or not isinstance(d, dict):
        raise ValueError("when and do take objects")
    if when_kind == "aliasWrite":
        w = {"function": _text(w, "function"), "alias": _text(w, "alias"), "nth": _nth(w)}
    elif when_kind == "stateEntered":
        w = {"execution": _text(w, "execution", required=False), "state": _text(w, "state"), "nth": _nth(w)}
    else:
        raise ValueError("when must be aliasWrite or stateEntered")
    if do_kind == "updateAlias":
        weights = d.get("weights") or {}
        if not isinstance(weights, dict) or not all(isinstance(v, (int, float)) for v in weights.values()):
            raise ValueError("weights must map a version to a weight")
        d = {
            "function": _text(d, "function"),
            "alias": _text(d, "alias"),
            "version": _text(d, "version"),
            "weights": weights,
        }
    elif do_kind == "stopExecution":
        delay = d.get("delaySeconds", 0) or 0
        if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
            raise ValueError("delaySeconds must be a number >= 0")
        execution = _text(d, "execution", required=False)
        if execution is None and when_kind != "stateEntered":
            raise ValueError("stopExecution needs an execution unless the moment is a state entered")
        d = {"execution": execution, "error": d.get("error"), "cause": d.get("cause"), "delaySeconds": float(delay)}
    elif do_kind == "setAlarmState":
        d = {"alarm": _text(d, "alarm"), "state": _text(d, "state"), "reason": d.get("reason") or "set at a moment"}
    else:
        raise ValueError("do must be updateAlias, stopExecution or setAlarmState")
    moment = {"id": uuid.uuid4().hex[:12], "when": {when_kind: w}, "do": {do_kind: d}, "seen": 0}
    return controls.add(moment)


def _due(kind: str, matches) -> list[dict]:
    """The moments of `kind` this event makes due (counted, and removed once due)."""
    with controls.lock:
        if not controls.armed:
            return []
        due = []
        for moment in list(controls.armed):
            spec = moment["when"].get(kind)
            if spec is None or not matches(spec):
                continue
            moment["seen"] += 1
            if moment["seen"] == spec["nth"]:
                controls.armed.remove(moment)
                due.append(moment)
        return due


def _fire(moment: dict, context: dict) -> None:
    ((kind, d),) = moment["do"].items()
    try:
        result = ACTIONS[kind](d, context)
    except Exception as e:  # a moment never breaks the call that reached it
        result = f"failed: {e!r}"
        print(f"moments: {moment['id']} {kind}: {e!r}", file=sys.stderr, flush=True)
    with controls.lock:
        controls.fired.append({**copy.deepcopy(moment), "at": time.time(), "result": result})


# --- what a moment does ----------------------------------------------------------------------------
def _lambda_backend():
    from moto.awslambda.utils import get_backend

    return get_backend(ACCOUNT, REGION)


def update_alias(d: dict, _context: dict) -> str:
    backend = _lambda_backend()
    alias = backend.update_alias(
        d["alias"],
        d["function"],
        d["version"],
        None,
        {"AdditionalVersionWeights": d["weights"]} if d["weights"] else {},
    )
    alias.revision_id = str(uuid.uuid4())
    alias_journal.record(
        {
            "operation": "UpdateAlias",
            "function": d["function"],
            "alias": d["alias"],
            "version": alias.function_version,
            "weights": dict(((alias.routing_config or {}).get("AdditionalVersionWeights")) or {}),
            "revisionId": alias.revision_id,
            "expectedRevisionId": None,
            "at": time.time(),
            "writer": "moment",
        }
    )
    return f"{d['function']}:{d['alias']} -> {alias.function_version} {d['weights'] or ''}".strip()


def _execution(name: str):
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    for execution in stepfunctions_parser_backends[ACCOUNT][REGION]._get_executions():
        if execution.name == name:
            return execution
    raise LookupError(f"no execution named {name}")


def stop_execution(d: dict, context: dict) -> str:
    name = d["execution"] or context.get("execution")
    execution = _execution(name)

    def stop():
        execution.stop(datetime.datetime.now(tz=datetime.timezone.utc), d["error"], d["cause"])

    if d["delaySeconds"] > 0:
        timer = threading.Timer(d["delaySeconds"], stop)
        timer.daemon = True
        timer.start()
        return f"stopping {name} in {d['delaySeconds']}s"
    stop()
    return f"stopped {name}"


def set_alarm_state(d: dict, _context: dict) -> str:
    from moto.cloudwatch.models import cloudwatch_backends

    cloudwatch_backends[ACCOUNT][REGION].set_alarm_state(d["alarm"], d["reason"], None, d["state"])
    return f"{d['alarm']} -> {d['state']}"


ACTIONS = {"updateAlias": update_alias, "stopExecution": stop_execution, "setAlarmState": set_alarm_state}


# --- where moments are reached --------------------------------------------------------------------
def function_name(raw: str) -> str:
    """A function as a path names it (a name, or a partial or full ARN, URL-encoded or not)."""
    name = urllib.parse.unquote(raw)
    if "function:" in name:
        name = name.split("function:", 1)[1]
    return name.split(":", 1)[0]


def alias_written(function: str, alias: str) -> None:
    """alias_revisions calls this after each UpdateAlias that landed."""
    name = function_name(function)
    for moment in _due("aliasWrite", lambda w: w["function"] == name and w["alias"] == alias):
        _fire(moment, {"function": name, "alias": alias})


def fire_on_state_entries() -> None:
    from moto.stepfunctions.parser.asl.component.state.state import CommonStateField

    original = CommonStateField._eval_state_input

    def eval_state_input(self, env) -> None:
        if controls.any_armed():
            execution = env.states.context_object.context_object_data["Execution"]["Name"]
            due = _due(
                "stateEntered",
                lambda w: w["state"] == self.name and w["execution"] in (None, execution),
            )
            for moment in due:
                _fire(moment, {"execution": execution, "state": self.name})
        return original(self, env)

    CommonStateField._eval_state_input = eval_state_input


ENDPOINT = controls.endpoint(MOMENTS_PATH, arm)
