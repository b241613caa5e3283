"""Read and prepare an import's batches, in a reader process beside the writer or in this one.

Parsing a file and building its rows costs the importing process more CPU than the database
spends storing them (bench/import_pairs.py), so a large import reads in a second process: it
prepares the next batches while the writer sends this one. A thread of the writer's process
receives them (READ_AHEAD batches at most, then the pipe blocks), so memory stays bounded.
The reader is a fresh interpreter running this module, fed its job and answering with pickles
over its standard streams: not a fork (no copy of a Django process, its threads or its
database connection), and not multiprocessing's spawn, which runs the caller's main script
again in the child. It never writes to the database: whatever goes wrong on either side, the
writer's transaction decides what is kept.
"""

from __future__ import annotations

import itertools
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

from . import read
from .errors import FormatError

Prepare = Callable[[list], object]


class ReaderFailed(Exception):
    """The reader process stopped without finishing the file: a bug, or it was killed."""

    def __init__(self, file: str, message: str, detail: str = ""):
        super().__init__(f"{file}: {message}")
        self.file = file
        self.message = message
        self.detail = detail  # the reader's traceback, for the log


def prepared_batches(
    path: str | Path, fmt: str, max_chars: int, batch_size: int, prepare: Prepare, *, in_process: bool
) -> Iterator:
    """`prepare(items)` for each batch of `batch_size` items (rows or issues) of the file, in order.

    `prepare` must be picklable (a module-level function, or a partial of one) unless
    `in_process`. Raises FormatError as `importers.read` does, also part way through a file,
    and ReaderFailed when the reader process dies or fails. Close the iterator (or exhaust it)
    to stop the reader early.
    """
    rows = read(path, fmt, max_chars)  # a missing file or unknown format fails here, before any process
    if in_process:
        return (prepare(items) for items in batched(rows, batch_size))
    return _from_reader_process((str(path), fmt, max_chars, batch_size, prepare))


def batched(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


# Batches the writer's process holds ahead of the one it writes: queued, and one the receiving
# thread has unpickled and waits to queue. The writer spends most of its time waiting on the
# database; the receiving thread reads and unpickles the next batches then, instead of the
# writer doing it between two writes while the database waits in turn (the reader could
# otherwise run only a pipe's buffer, 64 KB, ahead). Memory stays bounded: these batches, the
# one being written, the reader's one and the pipe's buffer.
READ_AHEAD = 3


def _from_reader_process(job: tuple) -> Iterator:
    path = job[0]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    command = [sys.executable, "-m", __name__]
    reader = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=environment)
    received: queue.Queue = queue.Queue(maxsize=READ_AHEAD - 1)
    stop = threading.Event()
    receiver = threading.Thread(
        target=_receive, args=(reader.stdout, received, stop), name="import-receiver", daemon=True
    )
    try:
        try:
            with reader.stdin:
                pickle.dump(job, reader.stdin)
        except BrokenPipeError:  # it died at once: reading says so
            pass
        receiver.start()
        while True:
            kind, payload = _next_message(received, receiver, path)
            if kind == "batch":
                yield payload
            elif kind == "done":
                return
            elif kind == "format":
                raise FormatError(*payload)
            elif kind == "stopped":  # the stream ended or broke: it died, maybe mid-batch
                raise _stopped(reader, path, payload)
            else:
                message, detail = payload
                raise ReaderFailed(path, f"the reader process failed ({message})", detail)
    finally:
        stop.set()
        if reader.poll() is None:  # stopped early (cancel, an error here): it has nothing to keep
            reader.kill()
        # it sees the end of the stream, or gives up waiting to hand over (not joined from
        # itself: the collector may close an abandoned import on any thread)
        if receiver.is_alive() and receiver is not threading.current_thread():
            receiver.join()
        reader.wait()
        reader.stdout.close()


def _next_message(received: queue.Queue, receiver: threading.Thread, path: str) -> tuple:
    while True:
        try:
            return received.get(timeout=1)
        except queue.Empty:
            if not receiver.is_alive() and received.empty():  # a bug: it ended without a last word
                raise ReaderFailed(
                    path, "the import stopped receiving the reader's batches; run it again"
                ) from None


def _stopped(reader: subprocess.Popen, path: str, error: BaseException | None) -> ReaderFailed:
    """What to raise when the stream from the reader ended early (`error`: why, if not its end)."""
    if error is None or isinstance(error, EOFError | pickle.UnpicklingError | OSError):
        try:  # it died (a truncated pickle: mid-batch), or is dying
            code = reader.wait(timeout=10)
        except subprocess.TimeoutExpired:  # alive after all: the stream broke on this side
            reader.kill()
            code = reader.wait()
        failed = ReaderFailed(
            path, f"the reader process stopped unexpectedly (exit code {code}); run it again"
        )
    else:  # receiving failed here (out of memory unpickling a batch, say): name it
        failed = ReaderFailed(
            path, f"receiving the reader's batches failed ({type(error).__name__}: {error})"
        )
    failed.__cause__ = error
    return failed


def _receive(stream: IO[bytes], received: queue.Queue, stop: threading.Event) -> None:
    """The writer's receiving thread: each message the reader sends, unpickled, onto `received`,
    until the last one; ("stopped", error or None) when the stream ends or breaks first. Returns
    without handing over when the writer has stopped (`stop`)."""
    while True:
        try:
            message = pickle.load(stream)  # noqa: S301 (our own child, a private pipe)
        except EOFError:
            message = ("stopped", None)
        except Exception as err:  # a truncated pickle, a closed stream, no memory: the writer says which
            message = ("stopped", err)
        while True:
            try:
                received.put(message, timeout=0.1)
                break
            except queue.Full:
                if stop.is_set():
                    return
        if message[0] != "batch":
            return


def _read_and_send(job: tuple, out: IO[bytes]) -> None:
    """The reader process: ("batch", prepared) per batch, then ("done", None), or what stopped it."""
    path, fmt, max_chars, batch_size, prepare = job
    try:
        for batch in map(prepare, batched(read(path, fmt, max_chars), batch_size)):
            pickle.dump(("batch", batch), out, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.dump(("done", None), out)
    except FormatError as err:
        pickle.dump(("format", (err.file, err.message)), out)
    except Exception as err:  # a bug in a parser: the writer reports it and keeps nothing
        pickle.dump(("failed", (f"{type(err).__name__}: {err}", traceback.format_exc())), out)
    out.flush()


def main() -> None:
    """Run as `python -m labeling.importers.pipeline`: the job comes on stdin, batches go to
    stdout. Anything a library prints goes to stderr, so it cannot corrupt the stream. The
    writer decides on Ctrl-C (it stops this process), so SIGINT is ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout = sys.stderr
    try:
        _read_and_send(pickle.load(sys.stdin.buffer), out)  # noqa: S301 (from the writer that started us)
        out.close()
    except BrokenPipeError:  # the writer stopped reading: it has given up
        os._exit(0)


if __name__ == "__main__":
    main()
