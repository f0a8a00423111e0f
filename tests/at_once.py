"""Run the same action in several threads released at the same instant, for the tests that
prove a race is safe (parallel sign-ins, two runs of a periodic job)."""

import threading
from collections.abc import Callable
from typing import TypeVar

from django.db import connection

Result = TypeVar("Result")


def at_once(count: int, action: Callable[[int], Result]) -> list[Result]:
    """`action(index)` in `count` threads released together; their results in index order.

    Each thread closes the database connection it opened (Django opens one per thread). The
    first error any thread raised is raised here, after every thread has ended.
    """
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[index] = action(index)
        except BaseException as error:  # noqa: BLE001 - raised in the test thread below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    if errors:
        raise errors[0]
    return results
