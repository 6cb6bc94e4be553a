"""`sluice from-sam` on public SAM templates nobody here wrote: the ones cfn-lint tests itself
with (its source distribution, from PyPI, at the version the lint venv pins). Each template with a
function's DeploymentPreference converts without a crash, names every such function (nothing
dropped without a word), and every request it prints is one `sluice plan --request` accepts (the
same sluice-core parser validate runs). The templates use Globals, `!Sub`, `!If` on conditions,
`!Ref` to alarms and `Enabled: false`."""

import json
import pathlib
import re
import subprocess
import sys
import tarfile

import pytest

from processes import ROOT, SLUICE_CLI

# The templates cfn-lint ships for its own tests that hold SAM functions with a preference.
WANTED = re.compile(r"DeploymentPreference")


def cfn_lint_pin() -> str:
    for line in (ROOT / "tests" / "requirements-lint.txt").read_text().splitlines():
        if line.startswith("cfn-lint=="):
            return line.strip()
    raise AssertionError("tests/requirements-lint.txt pins no cfn-lint")


@pytest.fixture(scope="module")
def public_templates(tmp_path_factory) -> list[pathlib.Path]:
    where = tmp_path_factory.mktemp("cfn-lint-sdist")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:", "-d", where]
        + [cfn_lint_pin()],
        check=True,
        timeout=600,
    )
    (sdist,) = where.glob("cfn_lint-*.tar.gz")
    found = []
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            if "/test/fixtures/templates/" not in member.name or not member.name.endswith((".yaml", ".yml")):
                continue
            text = tar.extractfile(member).read().decode("utf-8", "replace")
            if "AWS::Serverless::Function" in text and WANTED.search(text):
                path = where / "templates" / pathlib.Path(member.name).name
                path.parent.mkdir(exist_ok=True)
                path.write_text(text)
                found.append(path)
    assert len(found) >= 4, f"cfn-lint's fixtures changed: {found}"
    return found


def functions_with_a_preference(text: str) -> int:
    """How many AWS::Serverless::Function resources the template's text gives a preference, by a
    plain reading of its lines (each resource's block, up to the next resource)."""
    blocks = re.split(r"\n  (?=\S)", text.split("\nResources:", 1)[1])
    globally = "DeploymentPreference" in text.split("\nResources:", 1)[0]
    return sum(
        1
        for b in blocks
        if "Type: AWS::Serverless::Function" in b or "Type: 'AWS::Serverless::Function'" in b
        if globally or "DeploymentPreference" in b
    )


def test_every_public_template_converts_naming_every_function_and_every_request_parses(public_templates, tmp_path):
    converted = 0
    for template in public_templates:
        out = subprocess.run([str(SLUICE_CLI), "from-sam", str(template)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, f"{template.name}: {out.stdout}{out.stderr}"
        entries = json.loads(out.stdout)
        assert len(entries) == functions_with_a_preference(template.read_text()), (template.name, entries)
        for e in entries:
            assert e["notes"] or e["request"], f"{template.name}: {e}"
            if e["request"] is None:
                assert e["notes"], f"{template.name}: {e['resource']} has no request and says nothing"
        requests = tmp_path / f"{template.stem}.json"
        requests.write_text(out.stdout)
        plan = subprocess.run(
            [str(SLUICE_CLI), "plan", "--request", str(requests)], capture_output=True, text=True, timeout=60
        )
        assert plan.returncode == 0, f"{template.name}: {plan.stdout}{plan.stderr}"
        converted += sum(1 for e in entries if e["request"])
    assert converted >= 4


def test_a_template_with_conditions_and_no_defaults_is_read_with_the_values_given(public_templates):
    (template,) = [t for t in public_templates if t.name == "sam_w_conditions.yaml"]

    def convert(*parameters):
        args = [str(SLUICE_CLI), "from-sam", str(template)]
        for p in parameters:
            args += ["--parameter", p]
        out = subprocess.run(args, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        return {e["resource"]: e for e in json.loads(out.stdout)}

    # Its parameters have no defaults: its Type cannot be read, so no request (one without the
    # canary would be less safe than what CodeDeploy ran); the note names the flag that decides it.
    for e in convert().values():
        assert e["request"] is None, e
        assert any(n.startswith("cannot map: Type") and "--parameter Environment=" in n for n in e["notes"]), e["notes"]
    # Given as the stack is deployed: `Type: !If [IsNotProd, AllAtOnce, Canary10Percent10Minutes]`
    # decided, `FunctionName: !Sub ${RegionalPrefix}-...` read, `Alarms: [!Ref ...]` mapped.
    given = convert(
        "Environment=prod",
        "VmdEnabled=true",
        "DmdEnabled=true",
        "RegionalPrefix=eu1",
        "ComponentShortName=vmd",
        "TenantAwsResource=acme",
    )
    assert set(given) == {"VmdEventsLambda", "DmdEventsLambda"}, given
    vmd = given["VmdEventsLambda"]["request"]
    assert vmd["strategy"] == "Canary10Percent10Minutes", vmd
    assert vmd["targets"][0]["functionName"] == "eu1-vmd-VmdEventsLambda-acme", vmd
    assert vmd["targets"][0]["alias"] == "Active", "AutoPublishAlias from Globals"
    assert vmd["alarms"] == ["VmdEventsLambdaErrorsGreaterThanZeroAlarm"], vmd
    out = subprocess.run(
        [str(SLUICE_CLI), "from-sam", str(template), "--parameter", "Nope=1"], capture_output=True, text=True
    )
    assert out.returncode != 0 and "the template has no parameter Nope" in out.stderr, out.stdout + out.stderr
