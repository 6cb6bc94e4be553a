"""A sluice check hook (`hooks.check`) that judges each new version on a Prometheus-style query.

sluice invokes it at every check of every bake with the deployment's context (see
docs/design.md, "check hook"): the step, the weight, and each target's `functionName`, `alias`,
`stableVersion` and `newVersion`. It asks a Prometheus-compatible HTTP API (`GET
/api/v1/query?query=...`: Prometheus, Thanos, Mimir, VictoriaMetrics, Grafana Cloud) for one
number per target (the largest over the series the query returns) and answers `Failed` when it
is over the limit; sluice then rolls back, the reason in the cause.

Settings (the function's environment):
  PROMETHEUS_URL  the API's base URL, e.g. https://prometheus.internal:9090
  QUERY           the query, with {function}, {alias} and {version} filled in per target, e.g.
                  histogram_quantile(0.99, sum by (le) (rate(
                    http_request_duration_seconds_bucket{fn="{function}",version="{version}"}[5m])))
  MAX             the largest value that passes, e.g. 0.5
  NO_DATA         what a query with no result (or only NaN) is: "pass" (default) or "fail";
                  a dry run passes it (the new version gets no traffic there)
  TIMEOUT         seconds to wait for the API (default 5; sluice waits 30 s for the whole hook)
  BEARER_TOKEN    sent as Authorization: Bearer ..., if set

A query that fails (the API down, a bad query) raises: sluice counts a raising check hook as
failed. Deploy it with examples/check-prometheus/template.yaml.
"""

import json
import math
import os
import urllib.error
import urllib.parse
import urllib.request


def query(base_url: str, promql: str, timeout: float, token: str | None = None) -> float | None:
    """The largest value an instant query answers (over every series, the latest sample of a
    matrix), or None when it has no data (no series, or only NaN)."""
    url = f"{base_url.rstrip('/')}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as answer:
            body = json.load(answer)
    except urllib.error.HTTPError as e:
        # Prometheus answers a bad query with 400 or 422 and says why in the body.
        try:
            body = json.load(e)
        except ValueError:
            raise RuntimeError(f"{promql}: HTTP {e.code}") from e
    if body.get("status") != "success":
        raise RuntimeError(f"{promql}: {body.get('errorType', 'error')}: {body.get('error', body)}")
    kind, result = body["data"]["resultType"], body["data"]["result"]
    if kind == "scalar":
        samples = [result]
    elif kind == "vector":
        samples = [series["value"] for series in result]
    elif kind == "matrix":
        samples = [series["values"][-1] for series in result if series["values"]]
    else:
        raise RuntimeError(f"{promql}: a {kind} result is not a number")
    values = [v for v in (float(s[1]) for s in samples) if not math.isnan(v)]
    return max(values) if values else None


def handler(event: dict, context=None) -> dict:
    env = os.environ
    limit = float(env["MAX"])
    no_data_fails = env.get("NO_DATA", "pass") == "fail"
    timeout = float(env.get("TIMEOUT", "5"))
    seen = []
    for target in event["targets"]:
        promql = (
            env["QUERY"]
            .replace("{function}", target["functionName"])
            .replace("{alias}", target["alias"])
            .replace("{version}", target["newVersion"])
        )
        value = query(env["PROMETHEUS_URL"], promql, timeout, env.get("BEARER_TOKEN"))
        if value is None:
            # A dry run routes the new version no traffic: no data is expected there.
            if no_data_fails and not event.get("dryRun"):
                return {"status": "Failed", "reason": f"{promql}: no data (NO_DATA=fail)"}
            seen.append(f"{target['functionName']}:{target['alias']} v{target['newVersion']}: no data")
            continue
        name = f"{target['functionName']}:{target['alias']} v{target['newVersion']}"
        if value > limit:
            return {"status": "Failed", "reason": f"{name}: {value:g} > {limit:g} ({promql})"}
        seen.append(f"{name}: {value:g} <= {limit:g}")
    return {"status": "Succeeded", "reason": "; ".join(seen)}
