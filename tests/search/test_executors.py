"""Contract tests: every executor gives the same results for the same calls."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from epim.search.executors import Executor, LocalExecutor, make_executor


def square(x: int) -> int:
    return x * x


def fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three is not allowed")
    return x


def flaky(path_and_x: tuple[str, int]) -> int:
    """Fails on the first call for an item, succeeds after (a marker file per item)."""
    path, x = path_and_x
    marker = Path(path) / f"seen-{x}"
    if not marker.exists():
        marker.write_text("1")
        raise RuntimeError("transient")
    return x


@pytest.fixture(scope="module", params=["local", "ray"])
def executor(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Executor]:
    if request.param == "local":
        yield LocalExecutor(retries=1)
        return
    from epim.search.executors._ray import RayExecutor

    ex = RayExecutor(num_cpus=2, retries=1,
                     temp_dir=str(tmp_path_factory.mktemp("ray")))
    yield ex
    ex.close()


def test_order_and_values(executor: Executor) -> None:
    outcomes = executor.map(square, list(range(7)))
    assert [o.value for o in outcomes] == [x * x for x in range(7)]
    assert all(o.ok and o.attempts == 1 and o.node for o in outcomes)


def test_errors_are_reported_after_bounded_retries(executor: Executor) -> None:
    outcomes = executor.map(fail_on_three, [1, 3, 5])
    assert [o.ok for o in outcomes] == [True, False, True]
    assert outcomes[1].attempts == executor.retries + 1
    assert outcomes[1].error is not None and "ValueError: three is not allowed" in \
        outcomes[1].error
    assert outcomes[2].value == 5


def test_transient_failures_are_retried(executor: Executor, tmp_path: Path) -> None:
    outcomes = executor.map(flaky, [(str(tmp_path), i) for i in range(3)])
    assert [o.value for o in outcomes] == [0, 1, 2]
    assert all(o.attempts == 2 for o in outcomes)


def test_make_executor_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="local or ray"):
        make_executor("slurm")


def slow_square(x: int) -> int:
    import time

    time.sleep(0.3)
    return x * x


def test_a_stop_cancels_what_has_not_finished(executor: Executor) -> None:
    import time

    start = time.monotonic()
    outcomes = executor.map(slow_square, list(range(40)),
                            should_stop=lambda: time.monotonic() - start > 0.5)
    assert len(outcomes) == 40
    done = [o for o in outcomes if o.ok]
    cancelled = [o for o in outcomes if o.cancelled]
    assert done and cancelled and len(done) + len(cancelled) == 40
    assert all(o.value == i * i for i, o in enumerate(outcomes) if o.ok)
    assert time.monotonic() - start < 5  # nowhere near 40 x 0.3 s
