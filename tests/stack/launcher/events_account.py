"""Patch 14. moto's EventBridge hands SQS queues and log groups the event through its default input
template, which has no `account`: a queue receives {"version", "id", "detail-type", "source", "time",
"region", "resources", "detail"}. EventBridge delivers the whole event, account included (Lambda
targets get it from events_to_lambda already). Here the default template carries `account` too."""

from __future__ import annotations

from moto.events.utils import EventTemplateParser


def deliver_account_to_every_target() -> None:
    EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = (
        '{"version": "0", "id": "<id>", "detail-type": "<detail-type>", "source": "<source>", '
        '"account": "<account>", "time": <time>, "region": "<region>", "resources": <resources>, '
        '"detail": <detail>}'
    )
