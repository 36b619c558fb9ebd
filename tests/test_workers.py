"""tinygraph's helper threads (``kernels/cpu/workers.py``).

Every share runs once, errors come back, idle helpers sleep.
"""

import threading
import time

import pytest

from tinygraph.kernels.cpu import workers


def run(crew, shares, seconds=20):
    """``crew.run(shares)`` from a side thread, failing (not hanging) if it has not returned in ``seconds``."""
    outcome = {}

    def call():
        try:
            crew.run(shares)
        except BaseException as error:
            outcome["error"] = error

    caller = threading.Thread(target=call)
    caller.start()
    caller.join(seconds)
    assert not caller.is_alive(), "a share was lost: the crew never returned"
    if "error" in outcome:
        raise outcome["error"]


@pytest.fixture(params=["spinning", "sleeping", "no sched_yield"])
def crew(request, monkeypatch):
    """Two helpers.

    "sleeping" makes them sleep after every share, so that every hand-off wakes one; "no
    sched_yield" is the protocol where there is none to spin with (Windows): the caller sleeps too.
    """
    if request.param == "sleeping":
        monkeypatch.setattr(workers, "SPIN_LOOKS", 0)
    if request.param == "no sched_yield":
        monkeypatch.setattr(workers, "CAN_SPIN", False)
        monkeypatch.setattr(workers, "_signal_then_wait", workers._signal_then_look)
    crew = workers.Crew(2)
    yield crew
    crew.stop()


def test_every_share_runs_once_on_its_own_thread(crew):
    for _ in range(200):  # many hand-offs: a lost wake-up would hang here
        ran = []
        run(crew, [lambda k=k, ran=ran: ran.append((k, threading.current_thread().name)) for k in range(3)])
        assert sorted(k for k, _ in ran) == [0, 1, 2]
        names = dict(ran)
        assert not names[0].startswith("tinygraph-worker")  # the calling thread's share
        assert {names[1], names[2]} == {"tinygraph-worker-0", "tinygraph-worker-1"}


def test_fewer_shares_than_helpers(crew):
    ran = []
    run(crew, [lambda: ran.append(0), lambda: ran.append(1)])
    run(crew, [lambda: ran.append(2)])
    assert sorted(ran) == [0, 1, 2]


def test_a_helpers_error_is_raised_after_every_share_is_done(crew):
    done = []

    def slow():
        time.sleep(0.05)
        done.append("slow")

    def fails():
        raise ZeroDivisionError("in a helper")

    with pytest.raises(ZeroDivisionError, match="in a helper"):
        run(crew, [lambda: done.append("caller"), fails, slow])
    assert sorted(done) == ["caller", "slow"]
    ran = []
    run(crew, [lambda: ran.append(0), lambda: ran.append(1), lambda: ran.append(2)])  # the crew still works
    assert sorted(ran) == [0, 1, 2]


def test_the_callers_error_is_raised_after_the_helpers_are_done(crew):
    done = []

    def fails():
        raise KeyError("caller")

    with pytest.raises(KeyError):
        run(crew, [fails, lambda: (time.sleep(0.05), done.append(1))])
    assert done == [1]


def test_idle_helpers_go_to_sleep(monkeypatch):
    """A helper spins only for a while after its share: an idle process does not keep a CPU busy."""
    monkeypatch.setattr(workers, "SPIN_LOOKS", 2_000)
    crew = workers.Crew(1)
    try:
        run(crew, [lambda: None, lambda: None])
        deadline = time.monotonic() + 10
        while not crew.helpers[0].sleeping and time.monotonic() < deadline:
            time.sleep(0.01)
        assert crew.helpers[0].sleeping
        ran = []
        run(crew, [lambda: ran.append(0), lambda: ran.append(1)])  # and wakes up for the next share
        assert sorted(ran) == [0, 1]
    finally:
        crew.stop()


def test_stopped_helpers_end():
    crew = workers.Crew(2)
    run(crew, [lambda: None] * 3)
    crew.stop()
    for helper in crew.helpers:
        helper.thread.join(timeout=10)
        assert not helper.thread.is_alive()
