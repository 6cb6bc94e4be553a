"""A composite alarm's AlarmRule, kept apart from moto so it can be tested alone (composite_alarms
applies it): parsed into a tree, the alarms it names, and its value given each alarm's state.

The grammar, as PutCompositeAlarm documents it: ALARM(x), OK(x) and INSUFFICIENT_DATA(x), x an alarm
name or ARN in double quotes or not, each true when that alarm is in that state; TRUE and FALSE;
NOT, AND, OR and parentheses. NOT binds closest, then AND, then OR (AWS's examples group with
parentheses and state no precedence; this is the usual one). Keywords are upper case."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class StateOf:
    state: str  # ALARM, OK or INSUFFICIENT_DATA
    alarm: str  # a name or an ARN, as the rule has it


@dataclass(frozen=True)
class Const:
    value: bool


@dataclass(frozen=True)
class Not:
    operand: object


@dataclass(frozen=True)
class Op:
    kind: str  # AND or OR
    operands: tuple


_TOKEN = re.compile(
    r"\s*(?:(?P<paren>[()])|(?P<fn>ALARM|OK|INSUFFICIENT_DATA)\s*\(\s*(?:\"(?P<quoted>[^\"]*)\"|(?P<bare>[^()\"]*?))\s*\)"
    r"|(?P<word>[A-Za-z_]+))"
)


def _tokens(rule: str) -> list[tuple[str, str]]:
    out, at = [], 0
    while at < len(rule):
        if rule[at:].strip() == "":
            break
        m = _TOKEN.match(rule, at)
        if not m:
            raise ValueError(f"unexpected text at {at}: {rule[at : at + 20]!r}")
        if m.group("paren"):
            out.append(("paren", m.group("paren")))
        elif m.group("fn"):
            name = m.group("quoted") if m.group("quoted") is not None else m.group("bare")
            if not name.strip():
                raise ValueError(f"{m.group('fn')}() names no alarm")
            out.append(("fn", (m.group("fn"), name.strip())))
        elif m.group("word") in ("AND", "OR", "NOT", "TRUE", "FALSE"):
            out.append(("word", m.group("word")))
        else:
            raise ValueError(f"unknown word {m.group('word')!r}")
        at = m.end()
    return out


def parse_rule(rule: str):
    """The rule's tree; ValueError when it is not a rule."""
    tokens = _tokens(rule)
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else (None, None)

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def either(kind: str, below):
        operands = [below()]
        while peek() == ("word", kind):
            take()
            operands.append(below())
        return operands[0] if len(operands) == 1 else Op(kind, tuple(operands))

    def disjunction():
        return either("OR", conjunction)

    def conjunction():
        return either("AND", negation)

    def negation():
        if peek() == ("word", "NOT"):
            take()
            return Not(negation())
        return atom()

    def atom():
        kind, value = take() if pos < len(tokens) else (None, None)
        if kind == "paren" and value == "(":
            inner = disjunction()
            closing = take() if pos < len(tokens) else None
            if closing != ("paren", ")"):
                raise ValueError("a parenthesis is not closed")
            return inner
        if kind == "fn":
            return StateOf(*value)
        if (kind, value) in (("word", "TRUE"), ("word", "FALSE")):
            return Const(value == "TRUE")
        raise ValueError(f"expected a function, TRUE, FALSE, NOT or '(' but found {value or 'the end'}")

    tree = disjunction()
    if pos != len(tokens):
        raise ValueError(f"unexpected {tokens[pos][1]!r}")
    return tree


def references(tree) -> list[StateOf]:
    if isinstance(tree, StateOf):
        return [tree]
    if isinstance(tree, Not):
        return references(tree.operand)
    if isinstance(tree, Op):
        return [r for o in tree.operands for r in references(o)]
    return []


def evaluate(tree, state_of: Callable[[str], str | None]) -> bool:
    """The rule's value, `state_of(alarm)` being that alarm's state (None: no such alarm)."""
    if isinstance(tree, Const):
        return tree.value
    if isinstance(tree, StateOf):
        return state_of(tree.alarm) == tree.state
    if isinstance(tree, Not):
        return not evaluate(tree.operand, state_of)
    values = (evaluate(o, state_of) for o in tree.operands)
    return all(values) if tree.kind == "AND" else any(values)
