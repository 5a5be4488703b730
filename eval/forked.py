"""Reading a large file in a forked process while this one does other work.

``tubescope eval`` reads two large files, the annotations and the predictions, and on 10,000
queries parsing them is most of its time. With a second core, :class:`ForkedCall` parses the
predictions in a child process (``fork``: no re-import, the child starts in milliseconds)
while the caller reads the annotations; the child sends back plain columns (a few lists, and
numpy arrays that it writes into memory shared with the caller, so they are not copied).

It only ever speeds things up: it is used when it can help and is safe (POSIX ``fork``, at
least two usable cores, no other thread running in this process, the file large enough), and
:meth:`ForkedCall.result` gives None when the child could not run or failed for any reason;
the caller then does the work itself, so errors are raised, with their precise messages, in
the calling process.

Example:
    >>> call = ForkedCall.start(sum, [1, 2, 3])
    >>> (call.result() if call is not None else sum([1, 2, 3]))
    6
"""

from __future__ import annotations

import dataclasses
import mmap
import multiprocessing
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from tubescope.cores import usable_cores

__all__ = ["ForkedCall"]


def _fork_is_safe() -> bool:
    return (
        sys.platform.startswith("linux")  # macOS frameworks are not fork-safe; Windows has none
        and "fork" in multiprocessing.get_all_start_methods()
        and threading.active_count() == 1  # a lock held by another thread would stay locked
        and not multiprocessing.current_process().daemon  # daemons may not have children
        and usable_cores() >= 2
    )


@dataclasses.dataclass(frozen=True)
class _InArena:
    """Where the child put an array: the parent sees it there without a copy."""

    offset: int
    shape: tuple[int, ...]
    dtype: str


class _Arena:
    """Memory shared by the parent and its forked child (an anonymous shared mapping).

    Mapped before the fork with a size bound the caller gives; pages cost memory only when
    the child writes them. The child copies its result's arrays in; the parent's arrays are
    read-only views of it, which keep it mapped while they live.
    """

    def __init__(self, nbytes: int) -> None:
        self.memory = mmap.mmap(-1, max(nbytes, mmap.PAGESIZE))  # MAP_SHARED by default
        self.used = 0

    def put(self, array: np.ndarray) -> _InArena:
        array = np.ascontiguousarray(array)
        offset = -(-self.used // 64) * 64  # aligned for any dtype
        if offset + array.nbytes > len(self.memory):
            raise MemoryError("the shared arena is full")  # the parent then reads it itself
        view = np.frombuffer(self.memory, dtype=array.dtype, count=array.size, offset=offset)
        view[...] = array.reshape(-1)
        self.used = offset + array.nbytes
        return _InArena(offset, array.shape, array.dtype.str)

    def get(self, where: _InArena) -> np.ndarray:
        count = int(np.prod(where.shape, dtype=np.int64))
        view = np.frombuffer(self.memory, dtype=where.dtype, count=count, offset=where.offset)
        view = view.reshape(where.shape)
        view.flags.writeable = False
        return view


def _replace_fields(value: Any, kind: type, convert: Callable[[Any], Any]) -> Any:
    """``value`` with each field of a dataclass that is a ``kind`` replaced by ``convert(it)``
    (the child moves arrays into the arena, the parent takes views of them back out)."""
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return value
    changed = {
        f.name: convert(getattr(value, f.name))
        for f in dataclasses.fields(value)
        if isinstance(getattr(value, f.name), kind)
    }
    return dataclasses.replace(value, **changed)


def _run(
    send: Connection, function: Callable[..., Any], args: tuple[Any, ...], arena: _Arena | None
) -> None:
    try:
        value = function(*args)
        if arena is not None:
            value = _replace_fields(value, np.ndarray, arena.put)
    except BaseException:  # noqa: BLE001 - the parent redoes the work and reports the error
        value = None
    try:
        send.send(value)
    finally:
        send.close()


class ForkedCall:
    """``function(*args)`` running in a forked child; see the module docstring.

    Use :meth:`start` (None when forking would not help or is not safe), then :meth:`result`,
    or :meth:`cancel` when the result is no longer wanted. ``function`` and its result must be
    picklable only for the way back (the child inherits everything else).
    """

    def __init__(self, process: Any, receive: Connection, arena: _Arena | None) -> None:
        self._process = process
        self._receive = receive
        self._arena = arena

    @classmethod
    def start(
        cls, function: Callable[..., Any], *args: Any, shared_bytes: int = 0
    ) -> ForkedCall | None:
        """Start ``function(*args)`` in a child, or return None (run it yourself).

        With ``shared_bytes``, the numpy arrays of a dataclass result (up to that many bytes
        in all) come back through shared memory, as read-only arrays, instead of a pickle.
        """
        if not _fork_is_safe():
            return None
        context = multiprocessing.get_context("fork")
        try:
            arena = _Arena(shared_bytes) if shared_bytes else None
        except (OSError, ValueError, OverflowError):  # no room to map it
            return None
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_run, args=(send, function, args, arena), daemon=True)
        try:
            process.start()
        except OSError:  # no memory or process slots left for a child
            receive.close()
            send.close()
            return None
        send.close()
        return cls(process, receive, arena)

    def result(self) -> Any:
        """The child's return value; None when it failed, was killed or sent nothing."""
        try:
            value = self._receive.recv()
        except (EOFError, OSError):
            value = None
        except BaseException:
            self.cancel()
            raise
        self._receive.close()
        self._process.join()
        if self._arena is None:
            return value
        return _replace_fields(value, _InArena, self._arena.get)

    def cancel(self) -> None:
        """Stop the child and release it (the result will not be read)."""
        self._receive.close()
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
