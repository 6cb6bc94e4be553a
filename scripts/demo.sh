#!/usr/bin/env bash
# The README's first command: set everything up, then run sluice's main job on the local AWS
# stack - a progressive deployment, then a broken release rolled back by its alarm.
source "$(dirname "$0")/lib.sh"
ensure_venv .venv tests/requirements.txt
build_functions
step "Demo"
exec .venv/bin/python tests/stack/demo.py
