#!/usr/bin/env bash
# The README's second command (and what .ci/run runs): every check and test sluice has.
source "$(dirname "$0")/lib.sh"
export CARGO_PROFILE_DEV_DEBUG=0

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
step "cargo test: sluice-core, handlers, contract tests"
cargo test --workspace

step "Linters: Python (ruff), template and state machine"
ensure_venv .venv-lint tests/requirements-lint.txt
.venv-lint/bin/ruff check tests examples
.venv-lint/bin/ruff format --check tests examples
.venv-lint/bin/cfn-lint template.yaml examples/pipeline/pipeline.yaml examples/notifications/template.yaml examples/check-prometheus/template.yaml
.venv-lint/bin/sam validate --lint --template-file template.yaml
if [ ! -x tests/.tools/node_modules/.bin/asl-validator ]; then
  npm install --silent --no-audit --no-fund --prefix tests/.tools asl-validator@4.0.0
fi
tests/.tools/node_modules/.bin/asl-validator --json-path statemachine/deployment.asl.json

ensure_venv .venv tests/requirements.txt
ensure_chromium
build_functions
step "End to end on the local AWS stack (launcher patches, then deployments)"
cd tests
../.venv/bin/python -m pytest -v -p no:cacheprovider
