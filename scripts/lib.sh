# Shared by scripts/demo.sh and scripts/test.sh: everything they need is installed here, from the
# package registries, into folders of this checkout (ignored by git), so a fresh clone works.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
export AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 PIP_DISABLE_PIP_VERSION_CHECK=1

step() { printf '\n==> %s\n' "$*"; }

# A venv from a pinned requirements file, rebuilt when the file changes.
ensure_venv() {
  local dir=$1 reqs=$2
  if [ -x "$dir/bin/python" ] && cmp -s "$reqs" "$dir/.requirements"; then
    return
  fi
  step "Python venv $dir from $reqs"
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet -r "$reqs"
  cp "$reqs" "$dir/.requirements"
}

# Debian's Chromium, for the tests that load sluice report's pages (tests/e2e/test_report.py).
ensure_chromium() {
  if command -v chromium > /dev/null; then
    return
  fi
  step "apt-get install chromium (headless, for the report tests)"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium > /dev/null
}

# The Rust functions and the demo app, built once (dev profile) for cargo-lambda to serve.
build_functions() {
  step "cargo build --workspace --bins"
  cargo build --workspace --bins
}
