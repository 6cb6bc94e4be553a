"""Every alias write that landed (CreateAlias and UpdateAlias), in order: what the tests assert an
alias passed through. moto keeps only an alias's current state, so alias_revisions records each
write here ({operation, function (its name, however the caller named it), alias, version,
weights, revisionId (the alias's new one), expectedRevisionId (the one the write was conditional
on, or None), at}), and GET ALIAS_JOURNAL_PATH (a test endpoint, not an AWS API) answers the list
as JSON."""

from __future__ import annotations

import threading

from local_aws import ALIAS_JOURNAL_PATH

from .endpoints import Endpoint

_entries: list[dict] = []
_lock = threading.Lock()


def record(entry: dict) -> None:
    with _lock:
        _entries.append(entry)


def entries() -> list[dict]:
    with _lock:
        return list(_entries)


ENDPOINT = Endpoint(ALIAS_JOURNAL_PATH, read=lambda _query: entries())
