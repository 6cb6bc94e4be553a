"""sluice's functions verify TLS against the platform's root certificates (issue 11: the HTTPS
client is sluice's own since the SDK's default one was dropped, and it sets TLS up on first use).

A real function binary (alarm-event, the debug build scripts/test.sh makes) is given an ALARM
event, which makes it read the alarm's watches from DynamoDB, with AWS_ENDPOINT_URL pointing at an
HTTPS server on 127.0.0.1 whose certificate a CA of the test's own signed:
- with the platform's store (the variables that would override it unset), the handshake fails:
  the function answers an error and no request reaches the server;
- with SSL_CERT_FILE naming that CA (rustls-native-certs reads only it then), the same
  call goes through: the store the client verifies against is the platform's, and it is read.
"""

import datetime
import ipaddress
import os
import ssl
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import cold_start  # noqa: E402 - the bench's Runtime API and Lambda environment

TARGET = Path(os.environ.get("CARGO_TARGET_DIR", HERE.parents[1] / "target"))
BINARY = TARGET / "debug" / "alarm-event"


def certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA of this test's own and a server certificate for 127.0.0.1 it signed: (CA certificate,
    server certificate, server key), as PEM files."""
    now = datetime.datetime.now(datetime.timezone.utc)

    def make(subject: str, key, issuer: x509.Name, signer, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
            builder = builder.add_extension(san, critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sluice-tls-test CA")])
    ca = make("sluice-tls-test CA", ca_key, ca_name, ca_key, ca=True)
    server = make("127.0.0.1", server_key, ca_name, ca_key, ca=False)
    paths = directory / "ca.pem", directory / "server.pem", directory / "server-key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


class DynamoOverTls(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, cert: Path, key: Path):
        super().__init__(("127.0.0.1", 0), GetItem)
        self.requests = 0
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.socket = context.wrap_socket(self.socket, server_side=True)

    def handle_error(self, request, client_address):  # a refused handshake is the expected case
        pass


class GetItem(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: DynamoOverTls

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests += 1  # no such item: the alarm has no watches
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def tls():
    if not BINARY.exists():
        pytest.fail(f"{BINARY} is missing: scripts/test.sh builds it (cargo build --workspace --bins)")
    with tempfile.TemporaryDirectory() as d:
        ca, cert, key = certificates(Path(d))
        dynamo = DynamoOverTls(cert, key)
        runtime = cold_start.RuntimeApi()
        for server in (dynamo, runtime):
            threading.Thread(target=server.serve_forever, daemon=True).start()
        yield dynamo, runtime, ca, d
        for server in (dynamo, runtime):
            server.shutdown()


def invoke(tls, extra_env: dict) -> cold_start.Run:
    """alarm-event, started as Lambda would, given one ALARM event; the run once it answered."""
    dynamo, runtime, _, home = tls
    run = cold_start.Run("tls-1", cold_start.ALARM_EVENT)
    runtime.run = run
    env = cold_start.lambda_env(f"127.0.0.1:{runtime.server_address[1]}", "alarm-event", home)
    env["AWS_ENDPOINT_URL"] = f"https://127.0.0.1:{dynamo.server_address[1]}"
    env.update(extra_env)
    devnull = os.open(os.devnull, os.O_WRONLY)
    pid = os.posix_spawn(str(BINARY), [str(BINARY)], env, file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
    os.close(devnull)
    try:
        # The SDK retries a failed connection (3 attempts with backoff) before the error is answered.
        run.idle.wait(30)
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        run.done.set()
        runtime.run = None
    assert run.answered is not None, f"alarm-event did not answer (init error: {run.init_error})"
    return run


def test_a_certificate_outside_the_platforms_store_is_refused(tls):
    dynamo = tls[0]
    before = dynamo.requests
    run = invoke(tls, {})
    assert run.answer_kind.startswith("error"), run.answer_kind
    assert dynamo.requests == before, "a request went through a handshake that should have failed"


def test_the_platforms_store_is_what_the_client_verifies_against(tls):
    dynamo, _, ca, _ = tls
    before = dynamo.requests
    run = invoke(tls, {"SSL_CERT_FILE": str(ca)})
    assert run.answer_kind == "response", run.answer_kind
    assert dynamo.requests == before + 1
