"""The turnstile's queue within one process is first come, first served: under load
the oldest waiting editor writes next, so no editor's write starves behind newer ones."""

from __future__ import annotations

import threading
import time

import pytest

from app.store.db import FifoLock


def test_waiters_get_the_lock_in_the_order_they_came() -> None:
    lock = FifoLock()
    assert lock.acquire(1)
    order: list[int] = []
    threads = []
    for n in range(6):
        thread = threading.Thread(target=lambda n=n: (lock.acquire(5), order.append(n)))
        thread.start()
        threads.append(thread)
        time.sleep(0.05)  # each queues before the next starts
    for _ in range(6):
        lock.release()
        time.sleep(0.05)
    for thread in threads:
        thread.join(5)
    assert order == [0, 1, 2, 3, 4, 5]
    lock.release()  # the last waiter's turn
    assert lock.acquire(0.1)  # free again


def test_a_wait_that_runs_out_leaves_the_queue() -> None:
    lock = FifoLock()
    assert lock.acquire(1)
    assert lock.acquire(0.05) is False
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(lock.acquire(5)))
    waiter.start()
    time.sleep(0.05)
    lock.release()  # goes to the live waiter, not the one that gave up
    waiter.join(5)
    assert got == [True]


def test_another_thread_may_release_it() -> None:
    lock = FifoLock()
    assert lock.acquire(1)
    releaser = threading.Thread(target=lock.release)
    releaser.start()
    releaser.join(5)
    assert lock.acquire(0.1)


def test_releasing_an_unheld_lock_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        FifoLock().release()
