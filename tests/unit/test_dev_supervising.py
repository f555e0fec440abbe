"""`make dev`'s watch loop: a crashed operator restarts with a backoff; a dead control plane
component ends the loop. Fake processes and an injected clock: no process is started."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from claude_pool.devenv import dev
from claude_pool.devenv.controlplane import Component


@dataclass
class FakeProc:
    returncode: int | None = None
    pid: int = 4242

    def poll(self) -> int | None:
        return self.returncode


@dataclass
class FakeOperator:
    """Dies at the given clock times; start() brings it back (or fails `failing` times)."""

    clock: list[float]
    deaths: list[float]
    failing: int = 0
    log: Path = Path("/tmp/operator.log")
    proc: FakeProc | None = field(default_factory=FakeProc)
    starts: list[float] = field(default_factory=list)

    def alive(self) -> bool:
        if self.deaths and self.clock[0] >= self.deaths[0]:
            self.deaths.pop(0)
            self.proc = FakeProc(returncode=-9)
        return self.proc is not None and self.proc.returncode is None

    def start(self) -> Any:
        self.starts.append(self.clock[0])
        if self.failing:
            self.failing -= 1
            raise RuntimeError("the operator exited at start-up:\nTraceback ...")
        self.proc = FakeProc()
        return self


def within_a_poll(starts: list[float], expected: list[float]) -> bool:
    """Each start came its delay after the death, give or take the loop's 0.5 s poll."""
    return len(starts) == len(expected) and all(
        e <= s < e + 1 for s, e in zip(starts, expected, strict=True)
    )


def run(operator: FakeOperator, apiserver_dies_at: float) -> tuple[Component, list[float]]:
    now = operator.clock
    apiserver = Component("kube-apiserver", cast(Any, FakeProc()), Path("/tmp/api.log"))

    def sleep(seconds: float) -> None:
        now[0] += seconds
        if now[0] >= apiserver_dies_at:
            cast(FakeProc, apiserver.proc).returncode = 1

    dead = dev.supervise([apiserver], cast(Any, operator), clock=lambda: now[0], sleep=sleep)
    return dead, operator.starts


@pytest.mark.parametrize(
    ("failures", "delay"), [(1, 1.0), (2, 2.0), (3, 4.0), (6, 30.0), (9, 30.0)]
)
def test_the_restart_delay_doubles_up_to_a_cap(failures: int, delay: float) -> None:
    assert dev.restart_delay(failures) == delay


def test_a_crashed_operator_is_restarted_after_a_growing_delay(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = [0.0]
    operator = FakeOperator(clock, deaths=[10.0, 12.0, 16.0])
    dead, starts = run(operator, apiserver_dies_at=100.0)
    assert dead.name == "kube-apiserver"
    # died at 10, restarted 1 s later; died at 12, 2 s later; died at 16, 4 s later
    assert within_a_poll(starts, [11, 14, 20])
    out = capsys.readouterr().out
    assert "the operator exited (code -9); restarting it in 1s (crash 1 in a row" in out
    assert "restarting it in 4s (crash 3 in a row" in out
    assert out.count("the operator runs again (pid 4242)") == 3


def test_an_operator_that_ran_long_before_crashing_restarts_after_the_first_delay() -> None:
    clock = [0.0]
    operator = FakeOperator(clock, deaths=[10.0, 12.0, 200.0])
    _, starts = run(operator, apiserver_dies_at=300.0)
    assert within_a_poll(starts, [11, 14, 201])


def test_an_operator_that_fails_to_start_is_tried_again_later(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = [0.0]
    operator = FakeOperator(clock, deaths=[5.0], failing=1)
    _, starts = run(operator, apiserver_dies_at=60.0)
    assert within_a_poll(starts, [6, 8])
    assert "the operator did not start: the operator exited at start-up:" in capsys.readouterr().out


def test_a_dead_component_ends_the_watch_with_a_message_naming_it_and_its_log() -> None:
    clock = [0.0]
    dead, starts = run(FakeOperator(clock, deaths=[]), apiserver_dies_at=3.0)
    assert starts == []
    message = dev.stopped_message(dead)
    assert message.startswith("kube-apiserver exited (code 1): nothing works without it")
    assert "Its log: /tmp/api.log" in message
    assert "`--fresh` for an empty cluster" in message


def test_slot_directories_are_outside_the_checkout_and_one_per_state_directory(
    tmp_path: Path,
) -> None:
    root = dev.node_root(tmp_path / "a")
    assert not root.is_relative_to(dev.ROOT)
    assert root == dev.node_root(tmp_path / "a")
    assert root != dev.node_root(tmp_path / "b")
