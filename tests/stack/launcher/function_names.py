"""Patch 10. Lambda takes a function as a name (`orders`), a partial ARN
(`123456789012:function:orders`) or a full ARN (`arn:aws:lambda:us-east-1:123456789012:function:orders`),
each followed by `:QUALIFIER` where the operation takes one (Invoke, GetFunctionConfiguration), and the
SDKs put it in the path URL-encoded (`arn%3Aaws%3Alambda%3A...`). moto 5.2.5 knows names and full ARNs
only: a partial ARN fails every call (a 500 from the alias handlers, which split `NAME:QUALIFIER` on
every colon; ResourceNotFound from PublishVersion, GetFunctionConfiguration and Invoke); and a patch
reading the function from the raw path saw `arn%3Aaws...` where moto's handlers see the ARN.

FunctionNamesRoute rewrites the function of every Lambda path (`/<api version>/functions/<function>/...`)
to its bare form, NAME or NAME:QUALIFIER, before moto and the launcher's other patches see it, when
the ARN is of this stack's account (and region): every form of one function is then one function
to every handler, journal and revision check. An ARN of another account or region is left as it
came, for moto to answer. The fault route, in front of this one, still sees the call as the client
sent it."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from local_aws import ACCOUNT, REGION

# The function segment of a Lambda REST path, /2015-03-31/functions/<function>[/...], or of a full
# URL (RAW_URI may hold one).
FUNCTION_PATH = re.compile(r"^((?:[a-z]+://[^/]+)?/\d{4}-\d{2}-\d{2}/functions/)([^/]+)(.*)$", re.DOTALL)


def bare(function: str) -> str:
    """NAME or NAME:QUALIFIER of a function named in any form, URL-encoded or not; a function of
    another account or region as it came (decoded)."""
    text = unquote(function)
    parts = text.split(":")
    if parts[0] == "arn":
        # arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
        if len(parts) in (7, 8) and parts[2] == "lambda" and parts[5] == "function":
            if parts[3] == REGION and parts[4] == ACCOUNT:
                return ":".join(parts[6:])
        return text
    # ACCOUNT:function:NAME[:QUALIFIER]
    if len(parts) in (3, 4) and parts[1] == "function" and parts[0].isdigit():
        if parts[0] == ACCOUNT:
            return ":".join(parts[2:])
        return text
    return text


def rewrite_path(path: str, encoded: bool) -> str:
    """The path with its function in bare form; `encoded`: the raw path as sent (re-encoded then)."""
    m = FUNCTION_PATH.match(path)
    if not m:
        return path
    function = bare(m.group(2))
    return m.group(1) + (quote(function, safe="") if encoded else function) + m.group(3)


def _signing_service(environ) -> str | None:
    m = re.search(r"Credential=[^/,\s]+/[^/]+/[^/]+/([^/]+)/aws4_request", environ.get("HTTP_AUTHORIZATION", ""))
    return m.group(1) if m else None


class FunctionNamesRoute:
    """WSGI middleware: Lambda paths reach the app with their function in bare form."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if FUNCTION_PATH.match(path) and _signing_service(environ) in (None, "lambda"):
            environ["PATH_INFO"] = rewrite_path(path, encoded=False)
            # moto reads the raw path (RAW_URI, else REQUEST_URI): rewrite it too, query kept.
            for key in ("RAW_URI", "REQUEST_URI"):
                raw = environ.get(key)
                if raw:
                    raw_path, sep, query = raw.partition("?")
                    environ[key] = rewrite_path(raw_path, encoded=True) + sep + query
        return self.app(environ, start_response)
