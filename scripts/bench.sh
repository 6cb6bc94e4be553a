#!/usr/bin/env bash
# sluice's benchmark (issue 11): cold start, peak RSS and package size of every function template.yaml
# ships, against a hello-world lambda_runtime function built with the same release profile in the
# same run (benches/hello-world, never deployed). Prints one table and writes it, with the machine,
# date and commit, to docs/benchmarks.md. Not a test: numbers, no thresholds.
#
#   ./scripts/bench.sh                 # x86_64 cold start + arm64 zips (release builds: slow the first time)
#   ./scripts/bench.sh --runs 50       # more spawns per function (default 20)
#   ./scripts/bench.sh --no-zip        # cold start only (no arm64 cross build)
#   ./scripts/bench.sh --no-build      # reuse the binaries of the last run
#   ./scripts/bench.sh --no-stack      # without the local-stack figures (time to rollback, orchestration
#                                      # overhead, history events and cost per preset)
source "$(dirname "$0")/lib.sh"

runs=20 zip=1 build=1 stack=1
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift ;;
    --no-zip) zip=0 ;;
    --no-build) build=0 ;;
    --no-stack) stack=0 ;;
    *) echo "usage: $0 [--runs N] [--no-zip] [--no-build] [--no-stack]" >&2; exit 2 ;;
  esac
  shift
done

target=${CARGO_TARGET_DIR:-$ROOT/target}
out=$target/bench
mkdir -p "$out"
# The functions sluice ships (template.yaml's BuildProperties.Binary), and the baseline.
mapfile -t functions < <(sed -n 's/^ *Binary: *\([a-z-]*\).*/\1/p' template.yaml)
bins=(hello-world "${functions[@]}")
bin_args=()
for b in "${bins[@]}"; do bin_args+=(--bin "$b"); done

if [ "$build" = 1 ]; then
  step "Release build, x86_64 (cold start): ${bins[*]}"
  cargo build --release --locked "${bin_args[@]}"
fi
step "Cold start and peak RSS: $runs spawns each"
spawn_args=()
for b in "${bins[@]}"; do spawn_args+=("$b=$target/release/$b"); done
python3 tests/bench/cold_start.py --runs "$runs" --out "$out/cold_start.json" \
  --aws-call "$target/release/alarm-event" "${spawn_args[@]}"

if [ "$zip" = 1 ]; then
  ensure_venv .venv-build tests/requirements-build.txt
  rustup target add aarch64-unknown-linux-gnu >/dev/null
  export PATH="$ROOT/.venv-build/bin:$PATH"   # cargo-lambda finds zig through `python3 -m ziglang`
  if [ "$build" = 1 ]; then
    step "Release build, arm64 (packages), as sam build does it"
    cargo lambda build --release --arm64 --locked "${bin_args[@]}"
  fi
  step "Package sizes"
  {
    echo "{"
    sep=""
    for b in "${bins[@]}"; do
      bootstrap=$target/lambda/$b/bootstrap
      file "$bootstrap" | grep -q "ARM aarch64" || { echo "$bootstrap is not arm64" >&2; exit 1; }
      zipped=$(cd "$(dirname "$bootstrap")" && zip -q -9 - bootstrap | wc -c)
      printf '%s"%s": {"bootstrap": %d, "zip": %d}\n' "$sep" "$b" "$(stat -c %s "$bootstrap")" "$zipped"
      sep=","
    done
    echo "}"
  } > "$out/sizes.json"
else
  rm -f "$out/sizes.json"
fi

if [ "$stack" = 1 ]; then
  # The figures only the local stack gives (time to rollback, orchestration overhead per step,
  # history events / transitions / cost per preset): the e2e machinery's venv and debug builds.
  ensure_venv .venv tests/requirements.txt
  build_functions
  step "Local-stack figures"
  .venv/bin/python tests/bench/stack_figures.py --out "$out/stack.json"
else
  rm -f "$out/stack.json"
fi

step "Report (docs/benchmarks.md)"
python3 tests/bench/report.py --cold "$out/cold_start.json" --sizes "$out/sizes.json" \
  --stack "$out/stack.json" --out docs/benchmarks.md
