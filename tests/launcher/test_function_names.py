"""Every form of a function's name reaches the same function through every launcher patch
(launcher/function_names.py, alias_revisions.py, alias_journal.py, lambda_invoke.py): a name, a
partial ARN and a full ARN, URL-encoded in the path or not, with a qualifier where the operation
takes one. The first tests need no stack."""

import json
import threading
import urllib.error
import urllib.request
import uuid

import botocore.exceptions
import pytest

from launcher.function_names import bare, rewrite_path

ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders"


@pytest.mark.parametrize(
    "form, expected",
    [
        ("orders", "orders"),
        ("orders:live", "orders:live"),
        ("123456789012:function:orders", "orders"),
        ("123456789012:function:orders:7", "orders:7"),
        (ARN, "orders"),
        (f"{ARN}:live", "orders:live"),
        (f"{ARN}:$LATEST", "orders:$LATEST"),
        ("arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aorders", "orders"),
        ("arn%3aaws%3alambda%3aus-east-1%3a123456789012%3afunction%3aorders%3alive", "orders:live"),
        ("123456789012%3Afunction%3Aorders%3Alive", "orders:live"),
        ("orders%3Alive", "orders:live"),
    ],
)
def test_bare_reduces_every_form_to_name_and_qualifier(form, expected):
    assert bare(form) == expected


@pytest.mark.parametrize(
    "foreign",
    [
        "arn:aws:lambda:eu-west-1:123456789012:function:orders",
        "arn:aws:lambda:us-east-1:999999999999:function:orders",
        "999999999999:function:orders",
    ],
)
def test_another_accounts_or_regions_function_is_left_as_it_came(foreign):
    assert bare(foreign) == foreign
    assert bare(foreign.replace(":", "%3A")) == foreign


def test_rewrite_path_keeps_the_rest_of_the_path():
    encoded = "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aorders"
    assert rewrite_path(f"/2015-03-31/functions/{encoded}/aliases/live", encoded=True) == (
        "/2015-03-31/functions/orders/aliases/live"
    )
    assert rewrite_path(f"/2015-03-31/functions/{ARN}:live/invocations", encoded=False) == (
        "/2015-03-31/functions/orders:live/invocations"
    )
    assert rewrite_path("/2015-03-31/functions/123456789012%3Afunction%3Aorders%3A%24LATEST", encoded=True) == (
        "/2015-03-31/functions/orders%3A%24LATEST"
    )
    assert rewrite_path(f"http://127.0.0.1:5000/2015-03-31/functions/{encoded}/versions", encoded=True) == (
        "http://127.0.0.1:5000/2015-03-31/functions/orders/versions"
    )
    for untouched in ("/2015-03-31/functions", "/2015-03-31/functions/", "/2015-03-31/event-source-mappings/x", "/"):
        assert rewrite_path(untouched, encoded=True) == untouched


# ---- on the stack ----


def fn(stack) -> tuple[str, dict[str, str]]:
    """A function with versions 1 and 2; its name in each form."""
    name = f"names-{uuid.uuid4().hex[:8]}"
    arn = stack.create_function(name, "demo-ok")
    return name, {"name": name, "partial ARN": f"123456789012:function:{name}", "full ARN": arn}


def writes_of(stack, name: str) -> list[dict]:
    return [e for e in stack.journals.aliases() if e["function"] == name]


FORMS = ["name", "partial ARN", "full ARN"]


@pytest.mark.parametrize("form", FORMS)
def test_every_lambda_operation_takes_every_form(stack, form):
    name, forms = fn(stack)
    function = forms[form]
    lam = stack.client("lambda", retries={"total_max_attempts": 1})
    assert lam.get_function_configuration(FunctionName=function)["FunctionName"] == name
    assert lam.publish_version(FunctionName=function)["Version"] == "1"
    stack.set_code(name, "demo-broken")
    assert lam.publish_version(FunctionName=function)["Version"] == "2"
    assert lam.get_function_configuration(FunctionName=f"{function}:2")["Version"] == "2"
    created = lam.create_alias(FunctionName=function, Name="live", FunctionVersion="1")
    assert created["AliasArn"] == f"{forms['full ARN']}:live"
    got = lam.get_alias(FunctionName=function, Name="live")
    assert (got["FunctionVersion"], got["RevisionId"]) == ("1", created["RevisionId"])

    # UpdateAlias goes through the RevisionId check and the journal, whatever the form.
    updated = lam.update_alias(
        FunctionName=function,
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}},
        RevisionId=created["RevisionId"],
    )
    assert updated["RevisionId"] != created["RevisionId"], "an update gets a new RevisionId"
    with pytest.raises(botocore.exceptions.ClientError) as stale:
        lam.update_alias(FunctionName=function, Name="live", FunctionVersion="2", RevisionId=created["RevisionId"])
    assert stale.value.response["Error"]["Code"] == "PreconditionFailedException"
    with pytest.raises(botocore.exceptions.ClientError) as bad_weight:
        lam.update_alias(FunctionName=function, Name="live", RoutingConfig={"AdditionalVersionWeights": {"9": 0.1}})
    assert bad_weight.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert lam.get_alias(FunctionName=name, Name="live")["RevisionId"] == updated["RevisionId"]
    assert [
        (e["operation"], e["alias"], e["version"], e["weights"], e["expectedRevisionId"], e["revisionId"])
        for e in writes_of(stack, name)
    ] == [
        ("CreateAlias", "live", "1", {}, None, created["RevisionId"]),
        ("UpdateAlias", "live", "1", {"2": 0.25}, created["RevisionId"], updated["RevisionId"]),
    ]

    # Invoke: Qualifier, or the qualifier in the name (alias or version).
    for kwargs, version in (
        ({"FunctionName": function, "Qualifier": "1"}, "1"),
        ({"FunctionName": f"{function}:2"}, "2"),
        ({"FunctionName": f"{function}:live", "Qualifier": "live"}, None),
        ({"FunctionName": f"{function}:live"}, None),
    ):
        out = lam.invoke(Payload=b"{}", **kwargs)
        assert out["ExecutedVersion"] in ((version,) if version else ("1", "2")), (kwargs, out["ExecutedVersion"])
    lam.update_alias(
        FunctionName=function, Name="live", FunctionVersion="2", RoutingConfig={"AdditionalVersionWeights": {}}
    )
    out = lam.invoke(FunctionName=f"{function}:live", Payload=b"{}")
    assert out["ExecutedVersion"] == "2" and out["FunctionError"] == "Unhandled", "version 2 runs demo-broken"


def raw(stack, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """A Lambda call with the path exactly as given (encoded or not), as an SDK signs it."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{stack.endpoint}{path}", data=data, method=method)
    req.add_header(
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=testing/20261127/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=x",
    )
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_paths_with_the_function_encoded_or_not_reach_the_alias(stack):
    name, forms = fn(stack)
    stack.lam.publish_version(FunctionName=name)
    rev = stack.lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")["RevisionId"]
    arn = forms["full ARN"]
    spellings = [
        arn,  # colons as they are
        arn.replace(":", "%3A"),  # as boto3 and the Rust SDK send it
        arn.replace(":", "%3a"),
        forms["partial ARN"],
        forms["partial ARN"].replace(":", "%3A"),
    ]
    for spelling in spellings:
        status, alias = raw(stack, "GET", f"/2015-03-31/functions/{spelling}/aliases/live")
        assert (status // 100, alias.get("RevisionId")) == (2, rev), (spelling, status, alias)
        path = f"/2015-03-31/functions/{spelling}/aliases/live"
        status, out = raw(stack, "PUT", path, {"FunctionVersion": "1", "RevisionId": "stale"})
        assert status == 412 and "Revision Id" in out.get("Message", ""), (spelling, status, out)
    # One conditional write per spelling, each on the revision the one before left.
    for spelling in spellings:
        status, out = raw(
            stack, "PUT", f"/2015-03-31/functions/{spelling}/aliases/live", {"FunctionVersion": "1", "RevisionId": rev}
        )
        assert 200 <= status < 300, (spelling, status, out)
        rev = out["RevisionId"]
    journal = writes_of(stack, name)
    assert [e["operation"] for e in journal] == ["CreateAlias"] + ["UpdateAlias"] * len(spellings)
    assert all(e["expectedRevisionId"] == before["revisionId"] for before, e in zip(journal, journal[1:], strict=False))


def test_a_conditional_update_is_atomic(stack):
    """Writers racing with the same RevisionId: exactly one lands, as on Lambda."""
    name, _ = fn(stack)
    stack.lam.publish_version(FunctionName=name)
    stack.set_code(name, "demo-broken")
    stack.lam.publish_version(FunctionName=name)
    rev = stack.lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")["RevisionId"]
    clients = [stack.client("lambda", retries={"total_max_attempts": 1}) for _ in range(6)]

    def write(client, version: str, revision: str, barrier, landed: list, refused: list):
        barrier.wait()
        try:
            out = client.update_alias(
                FunctionName=name,
                Name="live",
                FunctionVersion=version,
                RoutingConfig={"AdditionalVersionWeights": {}},
                RevisionId=revision,
            )
            landed.append(out["RevisionId"])
        except botocore.exceptions.ClientError as e:
            refused.append(e.response["Error"]["Code"])

    for round_ in range(8):
        barrier = threading.Barrier(len(clients))
        landed: list[str] = []
        refused: list[str] = []
        threads = [
            threading.Thread(target=write, args=(c, str(1 + (i + round_) % 2), rev, barrier, landed, refused))
            for i, c in enumerate(clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(landed) == 1, f"round {round_}: {len(landed)} writes landed on one RevisionId"
        assert refused == ["PreconditionFailedException"] * (len(clients) - 1), refused
        rev = landed[0]
