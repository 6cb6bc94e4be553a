#!/usr/bin/env bash
# sluice's `sam build`, as a user runs it before `sam deploy`: SAM CLI, cargo-lambda and zig from
# PyPI, the arm64 Rust target, then every function's release build for arm64 and `sam build` of
# template.yaml. Prints the time of each and each function's bootstrap and zipped size.
#
# Why two steps: `sam build` runs one `cargo lambda build --release --arm64 --bin NAME` per
# function, one after another, in the workspace's shared target/. The dependencies are compiled
# once, but each function's link is a whole-program (LTO) optimisation on one core, and SAM starts
# the next only when the last is done. One `cargo lambda build` of every function first lets cargo
# link two at a time (both cores); SAM's own builds then find each binary up to date and package
# it. The result is the same bootstrap SAM would build, from the same command and flags.
source "$(dirname "$0")/lib.sh"
ensure_venv .venv-lint tests/requirements-lint.txt
ensure_venv .venv-build tests/requirements-build.txt
step "The arm64 target"
rustup target add aarch64-unknown-linux-gnu
# sam build runs `cargo lambda build`, which finds zig through `python3 -m ziglang`.
export PATH="$ROOT/.venv-build/bin:$PATH"
mapfile -t functions < <(sed -n 's/^ *Binary: *\([a-z-]*\).*/\1/p' template.yaml)
bin_args=()
for b in "${functions[@]}"; do bin_args+=(--bin "$b"); done
started=$(date +%s)
step "cargo lambda build --release --arm64: ${functions[*]}"
cargo lambda build --release --arm64 --locked "${bin_args[@]}"
built=$(date +%s)
step "sam build"
.venv-lint/bin/sam build --template-file template.yaml
done_at=$(date +%s)
step "Built in $((done_at - started))s: cargo lambda build $((built - started))s, then sam build $((done_at - built))s"
for dir in .aws-sam/build/*Function; do
  bootstrap="$dir/bootstrap"
  [ -x "$bootstrap" ] || { echo "missing $bootstrap" >&2; exit 1; }
  file "$bootstrap" | grep -q "ARM aarch64" || { echo "$bootstrap is not arm64" >&2; exit 1; }
  zipped=$(cd "$dir" && zip -q -9 - bootstrap | wc -c)
  printf '  %-28s bootstrap %8d bytes, zipped %8d bytes\n' "$(basename "$dir")" "$(stat -c %s "$bootstrap")" "$zipped"
done
