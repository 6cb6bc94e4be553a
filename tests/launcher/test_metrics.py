"""The AWS/Lambda metrics sluice's canary analysis reads: what lambda_invoke records per executed
version (Invocations, Errors, Duration, Throttles; throttles by the test endpoint or by a fault),
GetMetricData answering them as CloudWatch does over JSON (boto3) and RPC-v2 CBOR (the Rust SDK:
launcher/cloudwatch_metric_data.py through cloudwatch_cbor.py), and tests/stack/traffic.py."""

import datetime
import time
import uuid

import botocore.exceptions
import cbor2
import pytest

from conftest import cbor_call, cbor_raw
from processes import Clients, free_port
from traffic import Traffic

UTC = datetime.timezone.utc
METRICS = ("Invocations", "Errors", "Throttles", "Duration")


def no_retries(stack):
    return stack.client("lambda", retries={"total_max_attempts": 1})


def weighted(app, v2_binary="demo-broken", weight=0.5):
    """A function with v1 (demo-ok) and v2 (`v2_binary`), alias live sending `weight` to v2."""
    a = app(v2_binary, prefix="metrics")
    a.stack.lam.update_alias(
        FunctionName=a.name, Name="live", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": weight}}
    )
    return a


def lambda_dims(name: str, version: str, alias: str = "live") -> list[dict]:
    return [
        {"Name": "FunctionName", "Value": name},
        {"Name": "Resource", "Value": f"{name}:{alias}"},
        {"Name": "ExecutedVersion", "Value": version},
    ]


def query(qid: str, metric: str, dims: list[dict], stat: str, period: int = 300, namespace="AWS/Lambda", **extra):
    stat_spec = {"Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dims}, "Period": period}
    return {"Id": qid, "MetricStat": {**stat_spec, "Stat": stat, **extra}, "ReturnData": True}


def lambda_metrics(stack, name: str, since: float, versions=("1", "2"), stats=("Sum", "SampleCount")) -> dict:
    """{(metric, version, stat): value} of one GetMetricData over [since - 5 s, now + 60 s) in one
    period (boto3, JSON); a metric without data is missing."""
    queries, keys = [], {}
    for metric in METRICS:
        for version in versions:
            for stat in stats:
                qid = f"q{len(queries)}"
                keys[qid] = (metric, version, stat)
                queries.append(query(qid, metric, lambda_dims(name, version), stat, period=600))
    out = stack.cloudwatch.get_metric_data(
        StartTime=since - 5, EndTime=time.time() + 60, MetricDataQueries=queries, ScanBy="TimestampAscending"
    )
    found = {}
    for r in out["MetricDataResults"]:
        assert r["StatusCode"] == "Complete" and len(r["Values"]) == len(r["Timestamps"]) <= 1, r
        if r["Values"]:
            found[keys[r["Id"]]] = r["Values"][0]
    return found


def test_invokes_through_a_weighted_alias_record_every_metric_per_version(stack, app):
    a = weighted(app)
    since = time.time()
    # The 4th invocation of the function times out, held 0.5 s first: its Duration says so.
    stack.function_faults.fail_invocation(a.name, kind="timeout", nth=4, seconds=0.5)
    seen = {"1": [0, 0], "2": [0, 0]}
    for _ in range(24):
        out = stack.lam.invoke(FunctionName=a.name, Qualifier="live", Payload=b'{"order": 1}')
        seen[out["ExecutedVersion"]][0] += 1
        seen[out["ExecutedVersion"]][1] += "FunctionError" in out
    assert seen["1"][0] and seen["2"][0], seen
    got = lambda_metrics(stack, a.name, since, stats=("Sum", "SampleCount", "Minimum", "Maximum", "p50"))
    for version, (calls, errors) in seen.items():
        assert got[("Invocations", version, "Sum")] == got[("Invocations", version, "SampleCount")] == calls
        assert got[("Errors", version, "Sum")] == errors and got[("Errors", version, "SampleCount")] == calls
        assert got[("Throttles", version, "Sum")] == 0 and got[("Throttles", version, "SampleCount")] == calls
        assert got[("Duration", version, "SampleCount")] == calls, "one Duration datapoint per invoke"
        assert got[("Duration", version, "Minimum")] > 0
    assert seen["2"][1] == seen["2"][0], "version 2 is demo-broken: every call errors"
    slowest = max(got[("Duration", v, "Maximum")] for v in seen)
    assert 500 <= slowest < 60_000, "milliseconds: the timed-out invocation was held 0.5 s"
    assert min(got[("Duration", v, "p50")] for v in seen) < 500, "the others were quick"
    # Duration is in milliseconds: a query for another unit finds nothing.
    q = query("d", "Duration", lambda_dims(a.name, "1"), "Sum", period=600, Unit="Seconds")
    out = stack.cloudwatch.get_metric_data(StartTime=since - 5, EndTime=time.time() + 60, MetricDataQueries=[q])
    assert out["MetricDataResults"][0]["Values"] == []


def test_a_throttled_version_is_answered_429_and_counted_as_throttles(stack, app):
    a = weighted(app, v2_binary="demo-ok")
    since = time.time()
    armed = stack.throttles.throttle(a.name, "2", rate=0.5)
    assert (armed["function"], armed["version"], armed["rate"]) == (a.name, "2", 0.5)
    lam = no_retries(stack)
    answered = {"1": 0, "2": 0}
    throttled = 0
    try:
        for _ in range(30):
            try:
                answered[lam.invoke(FunctionName=a.name, Qualifier="live", Payload=b"{}")["ExecutedVersion"]] += 1
            except botocore.exceptions.ClientError as e:
                error = e.response["Error"]
                assert (error["Code"], error["Message"]) == ("TooManyRequestsException", "Rate Exceeded.")
                assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 429
                throttled += 1
        [control] = stack.throttles.state()["armed"]
        assert control["seen"] == answered["2"] + throttled, "every invocation routed to v2 counts"
        assert throttled == control["throttled"] == control["seen"] // 2 > 0, "every other one is throttled"
        fired = [f["invocation"] for f in stack.throttles.state()["fired"]]
        assert fired == list(range(2, control["seen"] + 1, 2)), "the 2nd, the 4th, ..."
        # Invoked directly, the version is throttled too (no alias: no metrics, as for any direct invoke).
        outcomes = []
        for _ in range(2):
            try:
                lam.invoke(FunctionName=a.name, Qualifier="2", Payload=b"{}")
                outcomes.append("ok")
            except botocore.exceptions.ClientError:
                outcomes.append("throttled")
        assert sorted(outcomes) == ["ok", "throttled"]
    finally:
        stack.throttles.clear()
    got = lambda_metrics(stack, a.name, since)
    assert got[("Throttles", "2", "Sum")] == throttled, "each throttle recorded, with the version routing picked"
    assert got[("Throttles", "2", "SampleCount")] == answered["2"] + throttled
    assert got[("Invocations", "2", "Sum")] == answered["2"], "a throttled invoke is no invocation"
    assert got[("Duration", "2", "SampleCount")] == answered["2"]
    assert got[("Throttles", "1", "Sum")] == 0 and got[("Invocations", "1", "Sum")] == answered["1"]
    assert stack.throttles.state() == {"armed": [], "fired": []}
    lam.invoke(FunctionName=a.name, Qualifier="2", Payload=b"{}")  # disarmed: answered again


def test_an_invoke_a_fault_throttles_is_recorded_as_a_throttle(stack, app):
    a = weighted(app, v2_binary="demo-ok")
    since = time.time()
    lam = no_retries(stack)
    stack.faults.inject("Invoke", count=3, error="TooManyRequestsException", match=a.name)
    try:
        for _ in range(3):
            with pytest.raises(botocore.exceptions.ClientError) as e:
                lam.invoke(FunctionName=a.name, Qualifier="live", Payload=b"{}")
            assert e.value.response["Error"]["Code"] == "TooManyRequestsException"
    finally:
        stack.faults.clear()
    lam.invoke(FunctionName=a.name, Qualifier="live", Payload=b"{}")
    got = lambda_metrics(stack, a.name, since)
    assert sum(got.get(("Throttles", v, "Sum"), 0) for v in "12") == 3
    assert sum(got.get(("Invocations", v, "Sum"), 0) for v in "12") == 1


# --- GetMetricData on known values ------------------------------------------------------------

# A window starting 17 s past a minute, so that buckets from StartTime and buckets from the minute
# differ: offsets 39..48 are one bucket from StartTime, two from the minute.
FIRST = [(39 + i, float(i + 1)) for i in range(10)]  # values 1..10 at offsets 39..48
SECOND = [(61, 100.0), (62, 200.0)]


@pytest.fixture
def known(stack):
    """Datapoints of known values in a namespace of their own, put over the JSON protocol; returns
    (namespace, dimensions, StartTime epoch seconds)."""
    namespace = f"Sluice/Test-{uuid.uuid4().hex[:8]}"
    dims = lambda_dims("orders", "2")
    start = (int(time.time()) // 60 - 30) * 60 + 17
    cw = stack.cloudwatch

    def put(points, dimensions=dims, ns=namespace, metric="Duration"):
        data = [
            {
                "MetricName": metric,
                "Dimensions": dimensions,
                "Timestamp": start + at,
                "Value": v,
                "Unit": "Milliseconds",
            }
            for at, v in points
        ]
        cw.put_metric_data(Namespace=ns, MetricData=data)

    put(FIRST + SECOND)
    put([(-1, 1000.0), (180, 1000.0)])  # just before StartTime; at EndTime (exclusive)
    put([(40, 5000.0)], dimensions=[*dims, {"Name": "Extra", "Value": "x"}])  # one dimension more
    put([(41, 7000.0)], dimensions=dims[:2])  # one fewer
    put([(42, 9000.0)], ns=f"{namespace}-other")  # another namespace
    return namespace, dims, start


def known_queries(namespace, dims):
    return [
        query("sum", "Duration", dims, "Sum", 60, namespace),
        query("count", "Duration", dims, "SampleCount", 60, namespace),
        query("p90", "Duration", dims, "p90", 60, namespace),
        query("p50", "Duration", list(reversed(dims)), "p50", 60, namespace),  # any order of the dimensions
        query("whole", "Duration", dims, "p99.9", 180, namespace),
        query("whole90", "Duration", dims, "p90", 180, namespace),
        query("avg", "Duration", dims, "Average", 180, namespace),
        query("min", "Duration", dims, "Minimum", 180, namespace),
        query("max", "Duration", dims, "Maximum", 180, namespace),
        query("fewer", "Duration", dims[:2], "Sum", 180, namespace),
        query("none", "Duration", [], "Sum", 180, namespace),
        {**query("hidden", "Duration", dims, "Sum", 60, namespace), "ReturnData": False},
    ]


EXPECTED = {
    # Buckets of 60 s from StartTime: [0, 60) holds 1..10, [60, 120) holds 100 and 200, [120, 180)
    # nothing (left out). Percentiles by nearest rank: p90 of 1..10 is the 9th value.
    "sum": ([0, 60], [55.0, 300.0]),
    "count": ([0, 60], [10.0, 2.0]),
    "p90": ([0, 60], [9.0, 200.0]),
    "p50": ([0, 60], [5.0, 100.0]),
    # One period for the whole window: 12 values 1..10, 100, 200.
    "whole": ([0], [200.0]),  # rank ceil(11.988) = 12
    "whole90": ([0], [100.0]),  # rank ceil(10.8) = 11
    "avg": ([0], [355.0 / 12]),
    "min": ([0], [1.0]),
    "max": ([0], [200.0]),
    "fewer": ([0], [7000.0]),  # only the datapoint with exactly these dimensions
    "none": ([], []),  # no datapoint without dimensions
}


def check_known(results, start, stamp):
    """`stamp` turns a result's timestamp into epoch seconds."""
    by_id = {r["Id"]: r for r in results}
    assert list(by_id) == list(EXPECTED), "in the order asked, without ReturnData false"
    for qid, (offsets, values) in EXPECTED.items():
        r = by_id[qid]
        assert r["StatusCode"] == "Complete" and r["Label"], r
        assert [stamp(t) for t in r["Timestamps"]] == [start + o for o in offsets], qid
        assert r["Values"] == pytest.approx(values), qid
        assert all(isinstance(v, float) for v in r["Values"]), qid


def test_get_metric_data_over_json(stack, known):
    namespace, dims, start = known
    cw = stack.cloudwatch
    assert cw.meta.service_model.resolved_protocol == "json", "boto3 speaks JSON 1.0 to CloudWatch"
    out = cw.get_metric_data(
        StartTime=start,
        EndTime=start + 180,
        MetricDataQueries=known_queries(namespace, dims),
        ScanBy="TimestampAscending",
    )
    check_known(out["MetricDataResults"], start, lambda t: t.timestamp())
    # Without ScanBy: TimestampDescending, newest first.
    [r] = cw.get_metric_data(
        StartTime=start, EndTime=start + 180, MetricDataQueries=[query("s", "Duration", dims, "Sum", 60, namespace)]
    )["MetricDataResults"]
    assert [t.timestamp() for t in r["Timestamps"]] == [start + 60, start] and r["Values"] == [300.0, 55.0]


def test_get_metric_data_over_rpc_v2_cbor(stack, known):
    """As aws-sdk-cloudwatch sends it: timestamps as CBOR tag 1 epoch seconds, both ways."""
    namespace, dims, start = known
    request = {
        "StartTime": cbor2.CBORTag(1, float(start)),
        "EndTime": cbor2.CBORTag(1, float(start + 180)),
        "MetricDataQueries": known_queries(namespace, dims),
        "ScanBy": "TimestampAscending",
    }
    headers, doc = cbor_call(stack, "GetMetricData", request)
    assert headers["smithy-protocol"] == "rpc-v2-cbor"
    check_known(doc["MetricDataResults"], start, lambda t: t.timestamp())
    # cbor2 reads a text timestamp (tag 0) as a datetime too: the bytes say it is tag 1, epoch seconds.
    _, raw = cbor_raw(stack, "GetMetricData", {**request, "MetricDataQueries": known_queries(namespace, dims)[:1]})
    for t in (start, start + 60):
        assert cbor2.dumps(cbor2.CBORTag(1, float(t))) in raw


def test_get_metric_data_refuses_what_cloudwatch_refuses(stack, known):
    namespace, dims, start = known
    for bad in (
        query("q", "Duration", dims, "tm90", 60, namespace),
        query("q", "Duration", dims, "Sum", 45, namespace),
    ):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            stack.cloudwatch.get_metric_data(StartTime=start, EndTime=start + 180, MetricDataQueries=[bad])
        assert e.value.response["Error"]["Code"] == "ValidationError"


# --- traffic ---------------------------------------------------------------------------------


def test_traffic_keeps_its_rate_and_counts_per_version(stack, app):
    a = weighted(app, v2_binary="demo-broken", weight=0.3)
    since = time.time()
    # 5 a second: an invoke takes 10 to 100 ms here, even on a busy machine.
    traffic = Traffic(stack, a.name, "live", per_second=5, payload={"order": 3})
    started = time.monotonic()
    with traffic:
        time.sleep(4)
    assert time.monotonic() - started < 5, "stop() came back once the call in flight ended"
    sent = traffic.sent
    assert 18 <= sent <= 22, f"5/s for 4 s: {sent}"
    assert traffic.rate() == pytest.approx(5, rel=0.1)
    assert (traffic.exceptions, traffic.throttled, traffic.skipped) == (0, 0, 0), traffic.last_exception
    counts = traffic.by_version()
    assert traffic.calls == sent and set(counts) <= {"1", "2"}
    assert counts["2"]["errors"] == counts["2"]["calls"] > 0 and counts["1"]["errors"] == 0
    time.sleep(0.5)
    assert traffic.sent == sent, "nothing is sent after stop()"
    got = lambda_metrics(stack, a.name, since)
    for version, c in counts.items():
        assert got[("Invocations", version, "Sum")] == c["calls"]
        assert got[("Errors", version, "Sum")] == c["errors"]


def test_traffic_counts_throttles_and_never_raises(stack, app):
    a = weighted(app, v2_binary="demo-ok", weight=0.5)
    stack.throttles.throttle(a.name, "1", rate=1)
    try:
        with Traffic(stack, a.name, "live", per_second=20) as traffic:
            time.sleep(1.5)
        with Traffic(stack, f"{a.name}-missing", "live", per_second=20) as missing:
            time.sleep(0.5)
    finally:
        stack.throttles.clear()
    assert traffic.throttled > 0 and traffic.by_version().keys() == {"2"}, "version 1 answers nothing"
    assert traffic.throttled + traffic.calls == traffic.sent and traffic.exceptions == 0
    assert missing.exceptions == missing.sent > 1 and "ResourceNotFoundException" in missing.last_exception
    # Nobody listening: the client's own exception (not an AWS error) is counted too, and the thread goes on.
    with Traffic(Clients(f"http://127.0.0.1:{free_port()}"), a.name, "live", per_second=20) as nowhere:
        time.sleep(0.5)
    assert nowhere.exceptions == nowhere.sent > 1 and "Could not connect" in nowhere.last_exception
