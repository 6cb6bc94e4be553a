"""Every alias write that landed (CreateAlias and UpdateAlias), in order: what the tests assert an
alias passed through. moto keeps only an alias's current state, so alias_revisions records each
write here ({operation, function (its name, however the caller named it), alias, version,
weights, revisionId (the alias's new one), expectedRevisionId (the one the write was conditional
on, or None), at}), and
AliasJournalRoute serves the list as JSON at ALIAS_JOURNAL_PATH (a test endpoint, not an AWS
API) in front of everything else the server answers."""

from __future__ import annotations

import json
import threading

from local_aws import ALIAS_JOURNAL_PATH

_entries: list[dict] = []
_lock = threading.Lock()


def record(entry: dict) -> None:
    with _lock:
        _entries.append(entry)


def entries() -> list[dict]:
    with _lock:
        return list(_entries)


class AliasJournalRoute:
    """WSGI middleware: answers ALIAS_JOURNAL_PATH itself and passes every other request on."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "") != ALIAS_JOURNAL_PATH:
            return self.app(environ, start_response)
        out = json.dumps(entries()).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
        return [out]
