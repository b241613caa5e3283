"""The injection scan on two cores: half of a large batch of pairs is scanned by a helper process
while this one scans the other half.

Routing scans every response it has not scanned before (labeling.injection.scan_pairs), and on a
first route of a large project that scan is nearly all of the stage's time (bench/scale.py: 88%
at 100k pairs), on one core. The helper is a fresh interpreter running this module, fed pickled
pairs over its standard input and answering on its standard output: not multiprocessing, whose
pools cannot start inside a Celery prefork worker (a daemonic process has no children) and whose
spawn re-runs the caller's main script. It is started on first use and kept for the process's
life; it exits when its input closes. Whatever goes wrong with it, the batch is scanned here
instead, so the results never depend on the helper: they are `scan_pairs`'s, in order.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import subprocess
import sys
import threading
import traceback

from labeling.injection import scan_pairs

MIN_PAIRS = 400  # below this, starting or feeding the helper costs more than it saves

_lock = threading.Lock()
_helper: subprocess.Popen | None = None


def scan_pairs_shared(pairs: list[tuple[str, str]]) -> list[str]:
    """`scan_pairs(pairs)`, with the second half scanned by the helper process where there are
    two cores or more and enough pairs to be worth it."""
    if len(pairs) < MIN_PAIRS or (os.cpu_count() or 1) < 2:
        return scan_pairs(pairs)
    half = len(pairs) // 2
    with _lock:
        helper = _started()
        if helper is None or not _send(helper, pairs[half:]):
            return scan_pairs(pairs)
        mine = scan_pairs(pairs[:half])
        theirs = _receive(helper, len(pairs) - half)
    return mine + (theirs if theirs is not None else scan_pairs(pairs[half:]))


def _started() -> subprocess.Popen | None:
    global _helper
    if _helper is not None and _helper.poll() is None:
        return _helper
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    try:
        _helper = subprocess.Popen(
            [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=environment
        )
    except OSError:
        _helper = None
    return _helper


def _send(helper: subprocess.Popen, pairs: list[tuple[str, str]]) -> bool:
    try:
        pickle.dump(pairs, helper.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        helper.stdin.flush()
        return True
    except OSError:  # it died: scan here
        stop()
        return False


def _receive(helper: subprocess.Popen, expected: int) -> list[str] | None:
    """The helper's reasons, or None when it failed (its traceback goes to the log's stderr)."""
    try:
        kind, payload = pickle.load(helper.stdout)  # noqa: S301 (our own child, a private pipe)
    except (EOFError, OSError, pickle.UnpicklingError):
        stop()
        return None
    if kind != "reasons" or len(payload) != expected:
        sys.stderr.write(f"injection scan helper failed: {payload}\n")
        return None
    return payload


def stop() -> None:
    """End the helper (it is started again on next use)."""
    global _helper
    helper, _helper = _helper, None
    if helper is not None:
        if helper.poll() is None:
            helper.kill()
        helper.wait()
        for stream in (helper.stdin, helper.stdout):
            with contextlib.suppress(OSError):
                stream.close()


atexit.register(stop)


def main() -> None:
    """The helper: scan each batch of pairs it is sent until its input closes."""
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the answers
    while True:
        try:
            pairs = pickle.load(source)  # noqa: S301 (our parent, a private pipe)
        except EOFError:
            return
        try:
            answer = ("reasons", scan_pairs(pairs))
        except Exception:
            answer = ("error", traceback.format_exc())
        pickle.dump(answer, sink, protocol=pickle.HIGHEST_PROTOCOL)
        sink.flush()


if __name__ == "__main__":
    main()
