"""The example check hook (examples/check-prometheus/app.py) against a tiny Prometheus-style HTTP
API of the test's own on 127.0.0.1: a new version under the limit passes, one over it fails
naming the figure, an empty result passes or fails as NO_DATA says, and an API error raises
(sluice counts a raising check hook as failed)."""

import http.server
import importlib.util
import json
import threading
import urllib.parse

import pytest

from processes import ROOT

# The p99 the fake API answers per version of the query: one series each, two for version 4
# (the worse one must count), NaN for version 5 (no traffic), a scalar for version 6.
P99 = {"2": [0.21], "3": [0.93], "4": [0.2, 0.71], "5": ["NaN"]}


class Prometheus(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        promql = urllib.parse.parse_qs(url.query).get("query", [""])[0]
        if url.path != "/api/v1/query" or "bad(" in promql:
            body = {"status": "error", "errorType": "bad_data", "error": "parse error at char 4"}
            code = 400 if url.path == "/api/v1/query" else 404
        else:
            version = promql.split('version="', 1)[1].split('"', 1)[0]
            if version == "6":
                data = {"resultType": "scalar", "result": [1764870000, "0.8"]}
            else:
                series = [
                    {"metric": {"i": str(i)}, "value": [1764870000, str(v)]} for i, v in enumerate(P99.get(version, []))
                ]
                data = {"resultType": "vector", "result": series}
            body, code = {"status": "success", "data": data}, 200
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def api():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Prometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def example():
    spec = importlib.util.spec_from_file_location("check_prometheus", ROOT / "examples" / "check-prometheus" / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def payload(version: str) -> dict:
    return {
        "deploymentId": "orders-live-1",
        "phase": "Check",
        "step": 1,
        "targets": [{"functionName": "orders", "alias": "live", "stableVersion": "1", "newVersion": version}],
    }


def test_the_example_check_hook_judges_each_new_version_on_the_query(api, example, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_URL", api)
    monkeypatch.setenv("QUERY", 'p99{fn="{function}",version="{version}"}')
    monkeypatch.setenv("MAX", "0.5")
    assert example.handler(payload("2")) == {"status": "Succeeded", "reason": "orders:live v2: 0.21 <= 0.5"}
    failed = example.handler(payload("3"))
    assert failed["status"] == "Failed" and "orders:live v3: 0.93 > 0.5" in failed["reason"], failed
    assert "0.71 > 0.5" in example.handler(payload("4"))["reason"], "the worst series counts"
    assert "0.8 > 0.5" in example.handler(payload("6"))["reason"], "a scalar result"
    assert example.handler(payload("9"))["status"] == "Succeeded", "no data passes by default"
    assert example.handler(payload("5"))["status"] == "Succeeded", "NaN is no data"
    monkeypatch.setenv("NO_DATA", "fail")
    assert example.handler(payload("9"))["status"] == "Failed"
    assert example.handler(payload("5"))["status"] == "Failed"
    assert example.handler({**payload("9"), "dryRun": True})["status"] == "Succeeded", "a dry run has no traffic"
    monkeypatch.setenv("QUERY", 'bad({version="{version}"}')
    with pytest.raises(RuntimeError, match="bad_data: parse error at char 4"):
        example.handler(payload("2"))
