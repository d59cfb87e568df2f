"""Contract tests: every executor gives the same results for the same calls."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from epim.search.executors import Executor, LocalExecutor, ProcessExecutor, make_executor


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


@pytest.fixture(scope="module", params=["local", "process", "ray"])
def executor(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Executor]:
    if request.param == "local":
        yield LocalExecutor(retries=1)
        return
    if request.param == "process":
        worker = ProcessExecutor(retries=1)
        yield worker
        worker.close()
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


def sleep_long(path_and_x: tuple[str, int]) -> int:
    """Item 1 marks that it started, then sleeps two minutes; the others return at once."""
    import time

    path, x = path_and_x
    if x == 1:
        Path(path, "started").write_text("1")
        time.sleep(120)
    return x


def allocate(megabytes: int) -> int:
    """Touch ``megabytes`` MiB (a bytearray is filled, so the pages are really used)."""
    block = bytearray(megabytes * 2**20)
    return len(block) // 2**20


def kill_myself(x: int) -> int:
    import os
    import signal

    if x == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def test_a_stop_kills_the_running_evaluation_of_a_process_executor(tmp_path: Path) -> None:
    import time

    marker = tmp_path / "started"
    stop_at: list[float] = []

    def should_stop() -> bool:  # 0.3 s after the long evaluation started
        if marker.exists() and not stop_at:
            stop_at.append(time.monotonic() + 0.3)
        return bool(stop_at) and time.monotonic() > stop_at[0]

    with ProcessExecutor(retries=0, poll_s=0.05) as worker:
        outcomes = worker.map(sleep_long, [(str(tmp_path), i) for i in range(3)],
                              should_stop=should_stop)
        stopped = time.monotonic() - stop_at[0]
        assert [o.ok for o in outcomes] == [True, False, False]
        assert outcomes[1].cancelled and outcomes[2].cancelled
        assert stopped < 3  # not the 120 s the evaluation would take
        assert worker.map(square, [3])[0].value == 9  # a new worker after the kill


def test_memory_over_the_worker_limit_fails_that_evaluation_only() -> None:
    with ProcessExecutor(retries=2, memory_limit_bytes=400 * 2**20) as worker:
        outcomes = worker.map(allocate, [8, 1024, 8])
        assert outcomes[0].value == 8 and outcomes[2].value == 8
        failed = outcomes[1]
        assert failed.error is not None and failed.error.startswith("OutOfMemory")
        assert "0.39 GiB" in failed.error and failed.attempts == 1  # not retried


def test_a_worker_that_dies_costs_one_evaluation() -> None:
    with ProcessExecutor(retries=0) as worker:
        outcomes = worker.map(kill_myself, [0, 1, 2])
        assert outcomes[0].value == 0 and outcomes[2].value == 2
        assert outcomes[1].error is not None and "SIGKILL" in outcomes[1].error


def test_make_executor_isolates_local_evaluations_on_request() -> None:
    isolated = make_executor("local", isolated=True, cpus_per_task=2,
                             memory_limit_bytes=2**30)
    assert isinstance(isolated, ProcessExecutor) and isolated.threads == 2
    assert isinstance(make_executor("local"), LocalExecutor)


def record_pid_and_sleep(path: str) -> int:
    """Write this process's id to ``path``, then sleep two minutes."""
    import os
    import time

    Path(path).write_text(str(os.getpid()))
    time.sleep(120)
    return 0


def test_a_worker_ends_when_its_parent_is_killed(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    marker = tmp_path / "worker.pid"
    parent = subprocess.Popen([sys.executable, "-c", (
        "from epim.search.executors import ProcessExecutor\n"
        "from tests.search.test_executors import record_pid_and_sleep\n"
        f"ProcessExecutor().map(record_pid_and_sleep, [{str(marker)!r}])\n")])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() or not marker.read_text():
            assert time.monotonic() < deadline and parent.poll() is None, "no worker"
            time.sleep(0.1)
        worker = int(marker.read_text())
        os.kill(parent.pid, signal.SIGKILL)  # the runner dies mid-training
        parent.wait()
        _wait_until_gone(worker, 5)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_a_worker_still_starting_ends_when_its_parent_is_killed(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    parent = subprocess.Popen([sys.executable, "-c", (  # a job sent, the worker importing
        "import threading, time\n"
        "from epim.search.executors import ProcessExecutor\n"
        "from tests.search.test_executors import record_pid_and_sleep\n"
        "executor = ProcessExecutor()\n"
        "threading.Thread(target=executor.map, daemon=True, args=(record_pid_and_sleep, "
        f"[{str(tmp_path / 'pid')!r}])).start()\n"
        "while executor._worker is None:\n"
        "    time.sleep(0.01)\n"
        "print(executor._worker.process.pid, flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        worker = int(parent.stdout.readline())
        os.kill(parent.pid, signal.SIGKILL)  # while the worker imports its modules
        parent.wait()
        _wait_until_gone(worker, 30)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def _wait_until_gone(pid: int, seconds: float) -> None:
    """Wait until process ``pid`` has exited (gone, or a zombie); fail after ``seconds``."""
    import time

    deadline = time.monotonic() + seconds
    while Path(f"/proc/{pid}").exists() and "Z" not in _state(pid):
        assert time.monotonic() < deadline, "the orphaned worker kept running"
        time.sleep(0.1)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
