"""A sluice check hook (`hooks.check`) that judges each new version on a Prometheus-style query.

sluice invokes it at every check of every bake with the deployment's context (see
docs/design.md, "check hook"): the step, the weight, and each target's `functionName`, `alias`,
`stableVersion` and `newVersion`. It asks a Prometheus-compatible HTTP API (`GET
/api/v1/query?query=...`: Prometheus, Thanos, Mimir, VictoriaMetrics, Grafana Cloud) for one
number per target and answers `Failed` when it is over the limit; sluice then rolls back, the
reason in the cause.

Settings (the function's environment):
  PROMETHEUS_URL  the API's base URL, e.g. https://prometheus.internal:9090
  QUERY           the query, with {function}, {alias} and {version} filled in per target, e.g.
                  histogram_quantile(0.99, sum by (le) (rate(
                    http_request_duration_seconds_bucket{fn="{function}",version="{version}"}[5m])))
  MAX             the largest value that passes, e.g. 0.5
  NO_DATA         what a query with no result is: "pass" (default) or "fail"
  TIMEOUT         seconds to wait for the API (default 5; sluice waits 30 s for the whole hook)
  BEARER_TOKEN    sent as Authorization: Bearer ..., if set

A query that fails (the API down, a bad query) raises: sluice counts a raising check hook as
failed. Deploy it with examples/check-prometheus/template.yaml.
"""

import json
import os
import urllib.parse
import urllib.request


def query(base_url: str, promql: str, timeout: float, token: str | None = None) -> float | None:
    """The first sample's value of an instant query, or None when the result is empty."""
    url = f"{base_url.rstrip('/')}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as answer:
        body = json.load(answer)
    if body.get("status") != "success":
        raise RuntimeError(f"{promql}: {body.get('errorType', 'error')}: {body.get('error', body)}")
    result = body["data"]["result"]
    if not result:
        return None
    value = result[0]["value"] if body["data"].get("resultType") == "vector" else result[0]["values"][-1]
    return float(value[1])


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
            if no_data_fails:
                return {"status": "Failed", "reason": f"{promql}: no data (NO_DATA=fail)"}
            seen.append(f"{target['functionName']}:{target['alias']} v{target['newVersion']}: no data")
            continue
        name = f"{target['functionName']}:{target['alias']} v{target['newVersion']}"
        if value > limit:
            return {"status": "Failed", "reason": f"{name}: {value:g} > {limit:g} ({promql})"}
        seen.append(f"{name}: {value:g} <= {limit:g}")
    return {"status": "Succeeded", "reason": "; ".join(seen)}
