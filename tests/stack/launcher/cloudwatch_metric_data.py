"""Patch 21. GetMetricData's MetricStat queries answered as CloudWatch answers them, over the JSON
protocol and (through cloudwatch_cbor) RPC-v2 CBOR alike. moto 5.2.5 has the operation, but:
- it computes no extended statistic: a `p90` Stat comes out as None, which fails the response (500);
- with Dimensions in the query it ignores the Namespace; without any it matches every datapoint of
  the metric whatever its dimensions; it compares dimensions by sorting them with a broken `<` (the
  same dimensions listed in another order may not match) and a dimension whose value is missing
  matches any value;
- it truncates StartTime and EndTime to the second.

Here each MetricStat query is answered from the raw datapoints moto holds:
- a datapoint belongs to a query when its Namespace and MetricName are the query's, its dimensions
  are exactly the query's (as a set of name/value pairs: one more or one fewer does not match, as on
  CloudWatch), and its Unit is the query's when the query names one;
- the window is [StartTime, EndTime), to the microsecond (CloudWatch rounds StartTime down to the
  minute; at the local time scale a minute is a whole canary bake, so here it is not rounded); it is
  cut into Period-long buckets from StartTime, and a bucket without data is left out (no value, no
  timestamp); each Timestamps[i] is the start of its bucket;
- Stat: Sum, SampleCount, Average, Minimum, Maximum (statistic sets put with StatisticValues count
  with their sum, count, min and max), or a percentile pNN / pNN.N (p0..p100) computed from the
  period's raw values by nearest rank: the value of rank ceil(p/100 x n) in the n values sorted
  ascending (rank 1 for p0). A statistic set has no raw values: a bucket with only those has no
  percentile and is left out. Any other Stat, or a Period other than 1, 5, 10, 20, 30 or a multiple
  of 60, is refused with ValidationError, as CloudWatch refuses a malformed query;
- ScanBy: TimestampDescending (the default, as on CloudWatch) or TimestampAscending; the results
  come in the order of the queries, those with ReturnData false left out.
Label (the query's, or moto's "<MetricName> <Stat>"), StatusCode "Complete", and the Expression
queries (moto's: an expression that names another query's Id, and Metrics Insights) are moto's."""

from __future__ import annotations

import datetime
import math
import re
from fractions import Fraction

from moto.cloudwatch.exceptions import ValidationError
from moto.cloudwatch.metric_data_expression_parser import parse_expression
from moto.cloudwatch.models import CloudWatchBackend, MetricAggregatedDatum, MetricDatum

PERCENTILE = re.compile(r"p(\d{1,3}(?:\.\d+)?)")
STATS = ("Sum", "SampleCount", "Average", "Minimum", "Maximum")
HIGH_RESOLUTION_PERIODS = (1, 5, 10, 20, 30)


def naive_utc(t: datetime.datetime) -> datetime.datetime:
    """moto keeps naive UTC datetimes; a timestamp a client sent may be aware."""
    return t.astimezone(datetime.timezone.utc).replace(tzinfo=None) if t.tzinfo else t


def percentile_of(stat: str) -> Fraction | None:
    """p90 -> 90, p99.9 -> 999/10; None for a Stat that is no percentile."""
    m = PERCENTILE.fullmatch(stat)
    if not m:
        return None
    p = Fraction(m.group(1))
    return p if p <= 100 else None


def nearest_rank(values: list[float], p: Fraction) -> float:
    """The value of rank ceil(p/100 x n) among the n values sorted ascending (at least rank 1)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p * len(ordered) / 100))
    return ordered[rank - 1]


def statistic(stat: str, data: list) -> float | None:
    """`stat` of the datapoints of one bucket; None when they have none (a percentile of statistic
    sets only)."""
    singles = [d.value for d in data if isinstance(d, MetricDatum)]
    sets = [d for d in data if isinstance(d, MetricAggregatedDatum)]
    p = percentile_of(stat)
    if p is not None:
        return nearest_rank(singles, p) if singles else None
    count = len(singles) + sum(s.sample_count for s in sets)
    total = sum(singles) + sum(s.sum for s in sets)
    if stat == "SampleCount":
        return float(count)
    if stat == "Sum":
        return float(total)
    if stat == "Average":
        return total / count if count else None
    if stat == "Minimum":
        return min(singles + [s.min for s in sets])
    return max(singles + [s.max for s in sets])


def check(query: dict, n: int) -> None:
    stat = query["MetricStat"].get("Stat")
    where = f"MetricDataQueries.member.{n}.MetricStat"
    if stat not in STATS and percentile_of(stat or "") is None:
        raise ValidationError(
            f"The value {stat} for parameter {where}.Stat is not a statistic the local stack computes "
            f"({', '.join(STATS)} or a percentile pNN, pNN.N)."
        )
    given = query["MetricStat"].get("Period")
    period = given if isinstance(given, int) and not isinstance(given, bool) else 0
    if not (period in HIGH_RESOLUTION_PERIODS or (period > 0 and period % 60 == 0)):
        raise ValidationError(
            f"The parameter {where}.Period must be 1, 5, 10, 20, 30 or a multiple of 60 (got {given})."
        )


def answer(query: dict, data: list, start: datetime.datetime, end: datetime.datetime, scan_by: str) -> dict:
    """One MetricStat query's result, in moto's shape (which its serializer turns into AWS's)."""
    metric_stat = query["MetricStat"]
    metric = metric_stat["Metric"]
    dimensions = frozenset((d["Name"], d["Value"]) for d in metric.get("Dimensions") or [])
    unit = metric_stat.get("Unit")
    period = datetime.timedelta(seconds=int(metric_stat["Period"]))
    buckets: dict[int, list] = {}
    for d in data:
        if d.namespace != metric["Namespace"] or d.name != metric["MetricName"]:
            continue
        if frozenset((x.name, x.value) for x in d.dimensions) != dimensions:
            continue
        if unit and d.unit != unit:
            continue
        t = naive_utc(d.timestamp)
        if start <= t < end:
            buckets.setdefault((t - start) // period, []).append(d)
    stat = metric_stat["Stat"]
    points = []
    for k in sorted(buckets):
        value = statistic(stat, buckets[k])
        if value is not None:
            points.append((start + k * period, value))
    if scan_by != "TimestampAscending":
        points.reverse()
    return {
        "id": query["Id"],
        "label": query.get("Label") or f"{metric['MetricName']} {stat}",
        "values": [v for _, v in points],
        "timestamps": [t for t, _ in points],
        "status_code": "Complete",
    }


def answer_metric_data_like_cloudwatch() -> None:
    original = CloudWatchBackend.get_metric_data

    def get_metric_data(self, queries, start_time, end_time, scan_by="TimestampDescending"):
        if not any("MetricStat" in q for q in queries):
            return original(self, queries, start_time, end_time, scan_by)
        start, end = naive_utc(start_time), naive_utc(end_time)
        # moto's checks of the window, without its truncation to the second.
        if start > end:
            raise ValidationError("The parameter EndTime must be greater than StartTime.")
        if start == end:
            raise ValidationError("The parameter StartTime must not equal parameter EndTime.")
        for n, query in enumerate(queries, 1):
            if "MetricStat" in query:
                check(query, n)
        data = list(self.get_all_metrics())
        results = {q["Id"]: answer(q, data, start, end, scan_by) for q in queries if "MetricStat" in q}
        insights = [q for q in queries if q.get("Expression", "").startswith("SELECT")]
        insight_results = {r["id"]: r for r in original(self, insights, start_time, end_time, scan_by)}
        out = []
        for query in queries:
            if query.get("ReturnData", True) is False:
                continue
            if query["Id"] in results:
                out.append(results[query["Id"]])
            elif query["Id"] in insight_results:
                out.append(insight_results[query["Id"]])
            elif "Expression" in query:
                values, timestamps = parse_expression(query["Expression"], list(results.values()))
                label = query.get("Label") or query["Id"]
                out.append(
                    {
                        "id": query["Id"],
                        "label": label,
                        "values": values,
                        "timestamps": timestamps,
                        "status_code": "Complete",
                    }
                )
        return out

    CloudWatchBackend.get_metric_data = get_metric_data
