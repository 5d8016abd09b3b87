"""``mltrail._gc.collector_paused``: pauses that overlap, in one thread or in several, turn
the collector back on after the last one, and only if it was on before the first."""

from __future__ import annotations

import contextlib
import gc
import threading
import time

from mltrail._gc import collector_paused


def test_overlapping_pauses_turn_the_collector_back_on_after_the_last() -> None:
    first, second = contextlib.ExitStack(), contextlib.ExitStack()
    first.enter_context(collector_paused())
    second.enter_context(collector_paused())
    assert not gc.isenabled()
    first.close()  # another thread's body is still being read
    assert not gc.isenabled()
    second.close()
    assert gc.isenabled()
    in_threads: list[bool] = []

    def read() -> None:
        with collector_paused():
            time.sleep(0.01)
            in_threads.append(gc.isenabled())

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert in_threads == [False] * 8
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_error_in_the_block_turns_the_collector_back_on() -> None:
    with contextlib.suppress(ValueError), collector_paused():
        raise ValueError("the block failed")
    assert gc.isenabled()
