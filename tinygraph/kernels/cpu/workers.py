"""tinygraph's helper threads, and how a share of work is handed to them and collected.

A helper thread waits for work by *spinning*: it watches a flag in a small shared array from a
Numba loop compiled ``nogil=True``, yielding the CPU between looks, for about
``SPIN_LOOKS`` looks (a few milliseconds) after each share, and only then goes to sleep on a
``threading.Condition``.  That is what OpenMP's workers do, and why: waking a sleeping thread is
a system call, and on a virtual machine an idle CPU that has to be woken takes tens of
microseconds to respond, while a training step hands out work every few hundred microseconds.

A helper writes DONE from inside its ``nogil`` call, so the calling thread, which sees it from
inside its own, finds the GIL free and does not have to sleep waiting for it::

    calling thread                          helper thread
    --------------                          -------------
    share = work                            (spinning: POSTED >= epoch ?)
    POSTED = epoch        ---------------->  runs share
    runs its own share
    (spinning: DONE >= epoch ?)  <---------  DONE = epoch, spins for the next epoch

The calling thread spins until every helper is done: a share is a bounded piece of work.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

import numpy as np
from numba import njit, types

__all__ = ["Crew", "SPIN_LOOKS"]

#: Looks at its flag a helper thread takes (yielding the CPU between two) before it goes to sleep:
#: a look and a yield take a fraction of a microsecond on an idle CPU.
SPIN_LOOKS = 20_000

# Slots of a helper's flag array, a cache line (8 int64) apart so that the two threads' writes do
# not share one.
POSTED = 0  # the last epoch of work handed to the helper
DONE = 8  # the last epoch the helper finished


def _has_sched_yield() -> bool:
    """Whether the C library has ``sched_yield`` (give the CPU to another runnable thread, if any)."""
    try:
        return hasattr(ctypes.CDLL(ctypes.util.find_library("c") or None), "sched_yield")
    except (OSError, TypeError):  # no C library by that name (Windows)
        return False


#: Spinning needs a call between two looks that the compiler cannot see through (else it would
#: read the flag once): without ``sched_yield`` helpers go to sleep straight away.
CAN_SPIN = _has_sched_yield()


def _signal_then_look(flags, signal_slot, signal_value, wait_slot, wait_value, looks):
    """Without ``sched_yield``: ``flags[signal_slot] = signal_value``, then one look at ``flags[wait_slot]``."""
    if signal_slot >= 0:
        flags[signal_slot] = signal_value
    return flags[wait_slot] >= wait_value


if CAN_SPIN:
    # libc's function, called by name from compiled code (so the compiled code can be cached)
    _sched_yield = types.ExternalFunction("sched_yield", types.int32())

    @njit(nogil=True, cache=True)
    def _signal_then_wait(flags, signal_slot, signal_value, wait_slot, wait_value, looks):
        """``flags[signal_slot] = signal_value``, then watch until ``flags[wait_slot] >= wait_value``.

        Gives up after ``looks`` looks (``looks < 0``: never); returns whether the value came.
        """
        if signal_slot >= 0:
            flags[signal_slot] = signal_value
        n = 0
        while flags[wait_slot] < wait_value:
            if n == looks:
                return False
            _sched_yield()
            n += 1
        return True

else:  # no spinning (Windows): the helpers sleep between shares, and the caller sleeps until they are done
    _signal_then_wait = _signal_then_look


def _looks() -> int:
    """How many looks a helper takes before it sleeps (read at each wait, so a test may change it)."""
    return SPIN_LOOKS if CAN_SPIN else 0


class _Helper:
    """One helper thread: its flags, the share it was handed, and a condition to sleep on."""

    def __init__(self, name: str):
        self.flags = np.zeros(16, dtype=np.int64)
        self.epoch = 0  # the last epoch handed out (read and written by the calling side only)
        self.share = None
        self.error = None
        self.sleeping = False
        self.wake = threading.Condition(threading.Lock())
        self.thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self.thread.start()

    def hand(self, share) -> None:
        """Give the helper ``share()`` to run (it must have finished the last one)."""
        self.share, self.error = share, None
        self.epoch += 1
        self.flags[POSTED] = self.epoch
        if self.sleeping:
            with self.wake:  # under the lock: a helper about to sleep looks at POSTED again first
                self.wake.notify()

    def collect(self) -> None:
        """Wait until the helper has finished its share; re-raise what the share raised."""
        if not _signal_then_wait(self.flags, -1, 0, DONE, self.epoch, -1 if CAN_SPIN else 0):
            with self.wake:
                while self.flags[DONE] < self.epoch:
                    self.wake.wait()
        self.share, error, self.error = None, self.error, None
        if error is not None:
            raise error

    def _serve(self) -> None:
        epoch = 1
        came = _signal_then_wait(self.flags, -1, 0, POSTED, epoch, _looks())
        while True:
            if not came:
                with self.wake:
                    self.sleeping = True
                    while self.flags[POSTED] < epoch:
                        self.wake.wait()
                    self.sleeping = False
            if self.share is None:  # the crew was stopped
                return
            try:
                self.share()
            except BaseException as error:  # handed to the calling thread by collect()
                self.error = error
            if CAN_SPIN:
                came = _signal_then_wait(self.flags, DONE, epoch, POSTED, epoch + 1, _looks())
            else:
                with self.wake:
                    self.flags[DONE] = epoch
                    self.wake.notify()
                came = False
            epoch += 1


class Crew:
    """``size`` helper threads named ``tinygraph-worker-*``, for one calling thread at a time."""

    def __init__(self, size: int):
        self.helpers = [_Helper(f"tinygraph-worker-{k}") for k in range(size)]
        self.busy = threading.Lock()

    def stop(self) -> None:
        """Let the helper threads end (they finish what they were handed first)."""
        for helper in self.helpers:
            helper.hand(None)

    def run(self, shares) -> None:
        """Run ``shares[0]()`` on the calling thread and each other share on a helper; return when all are done.

        The first exception raised is re-raised, after every share is done.
        """
        for helper, share in zip(self.helpers, shares[1:]):
            helper.hand(share)
        try:
            shares[0]()
        finally:
            errors = []
            for helper in self.helpers[: len(shares) - 1]:
                try:
                    helper.collect()
                except BaseException as error:
                    errors.append(error)
        if errors:
            raise errors[0]
