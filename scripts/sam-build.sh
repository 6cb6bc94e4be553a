#!/usr/bin/env bash
# sluice's `sam build`, as a user runs it before `sam deploy`: SAM CLI, cargo-lambda and zig from
# PyPI, the arm64 Rust target, then `sam build` of template.yaml. Slow (release builds of every
# function for arm64; 10-20 minutes on 2 cores from a cold cache), so it is a separate check,
# not part of scripts/test.sh. Prints each function's bootstrap and zipped size.
source "$(dirname "$0")/lib.sh"
ensure_venv .venv-lint tests/requirements-lint.txt
ensure_venv .venv-build tests/requirements-build.txt
step "The arm64 target"
rustup target add aarch64-unknown-linux-gnu
# sam build runs `cargo lambda build`, which finds zig through `python3 -m ziglang`.
export PATH="$ROOT/.venv-build/bin:$PATH"
step "sam build"
started=$(date +%s)
.venv-lint/bin/sam build --template-file template.yaml
step "Built in $(( $(date +%s) - started ))s"
for dir in .aws-sam/build/*Function; do
  bootstrap="$dir/bootstrap"
  [ -x "$bootstrap" ] || { echo "missing $bootstrap" >&2; exit 1; }
  file "$bootstrap" | grep -q "ARM aarch64" || { echo "$bootstrap is not arm64" >&2; exit 1; }
  zipped=$(cd "$dir" && zip -q -9 - bootstrap | wc -c)
  printf '  %-28s bootstrap %8d bytes, zipped %8d bytes\n' "$(basename "$dir")" "$(stat -c %s "$bootstrap")" "$zipped"
done
