"""Patch 5. Waits and Retry intervals are real time in moto's interpreter. Scaling them lets the
real presets (a 300 s canary bake) run in seconds; bake accounting in sluice counts the Wait
seconds the ASL asked for, so the deployment logic sees the unscaled durations."""

from __future__ import annotations

import time

from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function


class _ScaledTime:
    """Stands in for the `time` module in moto's retrier: sleeps are scaled, the rest is time's."""

    def __init__(self, scale: float):
        self.scale = scale

    def __getattr__(self, name):
        return getattr(time, name)

    def sleep(self, seconds):
        time.sleep(seconds * self.scale)


def scale_time(scale: float) -> None:
    if scale == 1.0:
        return

    def wait_interval(self, env, wait_seconds):
        if wait_seconds > 0:
            env.program_state_event.wait(wait_seconds * scale)

    wait_function.WaitFunction._wait_interval = wait_interval
    retrier_decl.time = _ScaledTime(scale)
