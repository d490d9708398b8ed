"""One run at a time on an output: a lock file next to the output.

The lock for ``/data/out.zarr`` is the file ``/data/out.zarr.cthulhu-lock``, beside
the output and not inside it, so that replacing the output (``overwrite``)
never removes the lock of the run doing it. The file is created with
``O_CREAT | O_EXCL`` (atomic on local filesystems and on NFS v3+) and holds one
JSON record: the process id, the host name, the host's boot id, the process's
start time and when the run began. It is removed when the run ends, also on an
error or ``KeyboardInterrupt``; a process killed with ``SIGKILL`` (or a power
loss) leaves it behind.

A lock left behind is *stale* when its host is this host and its process is gone
(no such pid, a zombie, a pid now used by a process that started later, or the
host has rebooted since). A stale lock is taken over, with a
:class:`StaleLockWarning`. A lock held by a process on another host cannot be
checked from here: the run is refused with a message that says which file to
delete once that run is known to be gone.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import socket
import time
import warnings
from pathlib import Path

__all__ = ["OutputLock", "OutputInUseError", "StaleLockWarning", "lock_path", "LOCK_SUFFIX"]

LOCK_SUFFIX = ".cthulhu-lock"
_STEAL_SUFFIX = ".steal-"


class OutputInUseError(OSError):
    """The output is locked by another run (or by a lock file cthulhu cannot read)."""


class StaleLockWarning(UserWarning):
    """A lock left by a run that no longer exists was taken over."""


def lock_path(target) -> Path:
    """Where the lock of output ``target`` lives: ``<target>.cthulhu-lock`` beside it."""
    target = Path(os.path.abspath(os.fspath(target)))
    resolved = target.resolve()  # every spelling of one output shares one lock
    return resolved.parent / (resolved.name + LOCK_SUFFIX)


def _boot_id():
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _proc_stat(pid):
    """``(state, start ticks)`` of process ``pid`` from ``/proc``, or ``None`` where unknown."""
    try:
        text = Path(f"/proc/{int(pid)}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text[text.rfind(")") + 2:].split()  # the command name may hold spaces
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def _record():
    stat = _proc_stat(os.getpid())
    return {"pid": os.getpid(), "host": socket.gethostname(), "boot_id": _boot_id(),
            "process_start": None if stat is None else stat[1],
            "started": datetime.datetime.now().isoformat(timespec="seconds")}


def _gone(held) -> str | None:
    """Why the process holding ``held`` (a lock record of this host) is gone, else ``None``."""
    boot = _boot_id()
    if held.get("boot_id") and boot and held["boot_id"] != boot:
        return "this host has restarted since"
    pid = held.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return f"process {pid} no longer exists"
    except PermissionError:
        pass  # alive, under another user
    stat = _proc_stat(pid)
    if stat is not None:
        if stat[0] in ("Z", "X"):
            return f"process {pid} has exited"
        start = held.get("process_start")
        if isinstance(start, int) and start != stat[1]:
            return f"pid {pid} now belongs to another process"
    return None


class OutputLock:
    """The lock of one output, held for a whole run (a context manager).

    Parameters
    ----------
    target : str or os.PathLike
        The output the lock protects; the lock file is :func:`lock_path` of it.
    """

    def __init__(self, target):
        self.target = os.fspath(target)
        self.path = lock_path(target)
        self._mine = None

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()

    def acquire(self, attempts=20):
        """Take the lock, taking over a stale one; raises :class:`OutputInUseError`."""
        record = json.dumps(_record(), sort_keys=True).encode()
        for _ in range(attempts):
            if self._create(record):
                self._mine = record
                return
            raw = self._read()
            if raw is None:
                time.sleep(0.001)  # released meanwhile: try again
                continue
            held, why = self._stale(raw)
            if self._steal(raw):
                warnings.warn(f"output {self.target!r}: {self.path} is a stale lock of pid "
                              f"{held.get('pid')} ({why}); taking it over", StaleLockWarning,
                              stacklevel=3)
            else:
                time.sleep(0.02)  # another process is taking it over: see who won
        raise OutputInUseError(f"output {self.target!r}: could not take the lock {self.path} "
                               "(other runs keep taking it); try again")

    def check(self):
        """Raise :class:`OutputInUseError` if a live run holds the lock; take nothing."""
        raw = self._read()
        if raw is not None:
            self._stale(raw)

    def _stale(self, raw):
        """``(record, why it is stale)`` for the lock bytes ``raw``; raises if it is held."""
        held = _parse(raw)
        if held is None:
            raise OutputInUseError(
                f"output {self.target!r} is locked by {self.path}, which cthulhu cannot "
                f"read; if no cthulhu run is using this output, delete {self.path}")
        if held.get("host") != socket.gethostname():
            raise OutputInUseError(
                f"output {self.target!r} is in use by a cthulhu run on host "
                f"{held.get('host')!r} (pid {held.get('pid')}, started "
                f"{held.get('started')}); cthulhu cannot tell from this host whether that "
                f"run still goes on: once you know it has stopped, delete {self.path}")
        why = _gone(held)
        if why is None:
            raise OutputInUseError(
                f"output {self.target!r} is in use by another cthulhu run (pid "
                f"{held.get('pid')} on this host, started {held.get('started')}; lock file "
                f"{self.path}): wait for it to finish")
        return held, why

    def release(self):
        """Remove the lock file, if it is still this run's."""
        mine, self._mine = self._mine, None
        if mine is not None and self._read() == mine:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def _create(self, record) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        except OSError as exc:
            raise OSError(f"output {self.target!r}: cannot create its lock file {self.path}: "
                          f"{exc.strerror or exc}") from None
        try:
            os.write(fd, record)
        finally:
            os.close(fd)
        return True

    def _read(self, wait=1.0):
        """The lock file's bytes; ``None`` if there is none. An empty file (a run between
        creating and writing it) is read again for up to ``wait`` seconds."""
        deadline = time.monotonic() + wait
        while True:
            try:
                raw = self.path.read_bytes()
            except FileNotFoundError:
                return None
            if raw or time.monotonic() > deadline:
                return raw
            time.sleep(0.01)

    def _steal(self, raw) -> bool:
        """Remove the stale lock whose bytes are ``raw``; only one process can do so.

        The takeover of one particular stale lock is itself guarded by a file
        whose name is made from that lock's bytes, created with ``O_EXCL``: of
        several processes finding the same stale lock, one removes it; the others
        then find either no lock or the winner's live one.
        """
        guard = self.path.with_name(self.path.name + _STEAL_SUFFIX
                                    + hashlib.sha256(raw).hexdigest()[:16])
        try:
            fd = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:  # a guard only lives for microseconds; an old one is from a killed taker
                if time.time() - guard.stat().st_mtime > 60:
                    guard.unlink()
            except FileNotFoundError:
                pass
            return False
        os.close(fd)
        try:
            if self._read(wait=0) == raw:
                os.unlink(self.path)
                return True
            return False
        finally:
            guard.unlink()


def _parse(raw):
    try:
        held = json.loads(raw.decode())
    except (UnicodeDecodeError, ValueError):
        return None
    return held if isinstance(held, dict) else None
