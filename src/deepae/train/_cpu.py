"""CPU settings while training: how many threads, given what else runs, and flush-denormal mode.

Why the thread count adapts: torch's OpenMP threads meet at a barrier after every parallel
operation, and a small model (the seed demo's 784-32-784) runs thousands of them per epoch. When
another process holds one of two cores, the thread that shares a core with it reaches every
barrier a time slice late, and the other spins meanwhile: an epoch took 6.5x as long. One thread
per free core has no such wait. So unless told a count (``TrainConfig.num_threads`` or
``OMP_NUM_THREADS``) the trainer uses the cores that other processes left idle: measured from
``/proc/stat`` for a moment before training and then over every epoch, it sets the thread count
for the next one. Dense layers give bit-identical results for any thread count, so this changes
timing only.
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from typing import Iterator

import torch


def cpu_cores() -> list[int]:
    """The cores this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return list(range(os.cpu_count() or 1))


def env_threads() -> int | None:
    """``OMP_NUM_THREADS`` when it holds a positive integer: a count the user chose."""
    try:
        value = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return None
    return value if value > 0 else None


def flush_denormal_enabled() -> bool:
    """Whether this thread flushes subnormal floats to zero (torch has a setter but no getter)."""
    # 1e-40 is a float32 subnormal: it survives a multiplication by 1.0 unless flushing is on.
    return (torch.tensor(1e-40, dtype=torch.float32) * 1.0).item() == 0.0


class CoreMeter:
    """Cores busy with other processes' work on this process's cores, between two readings.

    Busy time of those cores (``/proc/stat``, all processes) minus this process's own CPU time. A
    machine without ``/proc/stat`` reads as idle: the thread count then stays at one per core.
    """

    def __init__(self) -> None:
        self.cores = cpu_cores()
        self._last = self._read()

    def _read(self) -> tuple[float, float, float] | None:
        """(wall seconds, busy core-seconds of our cores, our CPU seconds)."""
        try:
            with open("/proc/stat") as fh:
                lines = fh.read().splitlines()
        except OSError:
            return None
        wanted = {f"cpu{i}" for i in self.cores}
        busy = 0
        for line in lines:
            fields = line.split()
            if fields and fields[0] in wanted:
                ticks = [int(v) for v in fields[1:]]
                busy += sum(ticks[:8]) - ticks[3] - ticks[4]  # all but idle and iowait (guest time is in user)
        own = resource.getrusage(resource.RUSAGE_SELF)
        return time.perf_counter(), busy / os.sysconf("SC_CLK_TCK"), own.ru_utime + own.ru_stime

    def others(self) -> float:
        """Cores other processes kept busy, on average, since the last call (0 when unknown)."""
        now, last = self._read(), self._last
        self._last = now
        if now is None or last is None or now[0] - last[0] <= 0:
            return 0.0
        busy = (now[1] - last[1]) - (now[2] - last[2])
        return max(busy / (now[0] - last[0]), 0.0)

    def free_threads(self) -> int:
        """One thread per core the others left free since the last call, at least one.

        A core counts as free when other processes kept it busy less than 30% of the time: a thread
        of ours that shares a core with a process busy half the time already makes every barrier wait.
        """
        return max(1, min(len(self.cores), int(len(self.cores) - self.others() + 0.3)))


_METER: CoreMeter | None = None  # one per process: its last reading spans the time since the last fit


class ThreadPolicy:
    """The thread count for each epoch: fixed when given, else adapted to the other processes' load."""

    MIN_WINDOW = 0.05  # seconds: a reading over less spans too few clock ticks (10 ms each)

    def __init__(self, fixed: int | None):
        self.fixed = fixed or env_threads()
        self.meter: CoreMeter | None = None
        self.used: list[int] = []  # the count of each epoch trained, for reports and benchmarks

    def start(self) -> None:
        """Set the first epoch's count: the load since the process's last fit (or import), at least ``MIN_WINDOW``."""
        global _METER
        if self.fixed is not None:
            torch.set_num_threads(self.fixed)
            return
        if _METER is None:
            _METER = CoreMeter()
        self.meter = _METER
        last = self.meter._last
        if last is not None:
            time.sleep(max(0.0, self.MIN_WINDOW - (time.perf_counter() - last[0])))
        torch.set_num_threads(self.meter.free_threads())

    def epoch_end(self) -> None:
        self.used.append(torch.get_num_threads())
        if self.meter is not None:
            wanted = self.meter.free_threads()
            if wanted != torch.get_num_threads():
                torch.set_num_threads(wanted)


@contextlib.contextmanager
def cpu_settings(device: torch.device, policy: ThreadPolicy, flush_denormal: bool, adapt: bool = True) -> Iterator[None]:
    """Threads and flush-denormal mode for one fit or evaluation; the caller's values come back after, even on errors.

    ``adapt=False`` (evaluation) uses the count the policy last chose, or one per core, without measuring.
    """
    if device.type != "cpu":
        yield
        return
    threads, flush = torch.get_num_threads(), flush_denormal_enabled()
    if adapt:
        policy.start()
    else:
        torch.set_num_threads(policy.fixed or (policy.used[-1] if policy.used else len(cpu_cores())))
    if flush_denormal and not flush:
        torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        if flush_denormal_enabled() != flush:
            torch.set_flush_denormal(flush)


_METER = CoreMeter()  # from import on: the first fit measures the load while its data was read
