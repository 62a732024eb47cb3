"""POST /admin/profile: an on-demand CPU profile of this replica, for machines without
Pyroscope. py-spy (the PyPI binary) records the process for `seconds` (1-60) and the
answer is a flame-graph file: speedscope JSON (open it at https://www.speedscope.app)
or collapsed stacks (`frame;frame;frame count` lines, for flamegraph.pl / Brendan Gregg's
tools and speedscope alike).

The route exists only when AI_ASSIST_ADMIN_API_KEY is set (else 404), takes the key as
`Authorization: Bearer KEY` (401 without it or with another key; compared by digest in
constant time), and records one profile at a time per process (409 while one runs).
Failed attempts are counted (ai_assist_admin_auth_failures_total) and limited: after
MAX_AUTH_FAILURES in a minute from one address (a moving window of the `limits`
library, per replica), that address gets 429 with Retry-After, without its key being
checked, until the window has room again; one warning line per failure names the
address, never the key sent.

At shutdown (SIGTERM), a recording in progress ends early: py-spy gets SIGINT, which
makes it stop and write what it has, and the answer is that shorter profile (200, header
X-Profile-Cut-Short: shutdown). The request thus ends well inside the server's graceful
shutdown instead of being cancelled by it (a 500 and an error line from uvicorn).
It is an operator's tool, left out of the OpenAPI document of the public API, and counts
in no request metric: the SLIs are the mapping route's.

py-spy runs as a child process and reads this process's memory from outside
(--nonblocking: the service is never paused for a sample); a worker thread waits for it,
the event loop goes on serving.

Reading another process's memory needs ptrace permission. The same user suffices, except
under Yama (kernel.yama.ptrace_scope=1, the default of Ubuntu and so of most Docker
hosts), which lets a process read only its descendants, and py-spy is the service's
child: for the recording the service declares any process of its own user an allowed
tracer (prctl PR_SET_PTRACER) and withdraws that after. So the container needs no added
capability (cap_add SYS_PTRACE would not help: the image runs as uid 10001, whose
effective capability set is empty). ptrace_scope 2 or 3, or a seccomp profile that
forbids process_vm_readv, refuse it: py-spy's refusal comes back as 503 profiler_failed.
"""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import hmac
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from ai_assist.config import Settings
from ai_assist.identity import peer_address
from ai_assist.schemas import ErrorBody
from ai_assist.telemetry.logging import get_logger
from ai_assist.telemetry.metrics import Metrics

PATH = "/admin/profile"
MIN_SECONDS, MAX_SECONDS = 1, 60
DEFAULT_SECONDS = 10
SAMPLE_RATE = 100
# the answer's format -> (py-spy's name for it, media type, file suffix)
FORMATS = {"speedscope": ("speedscope", "application/json", "speedscope.json"),
           "collapsed": ("raw", "text/plain; charset=utf-8", "collapsed.txt")}
PR_SET_PTRACER, PR_SET_PTRACER_ANY = 0x59616D61, 2**64 - 1  # <linux/prctl.h>
PYSPY_GRACE_S = 30.0  # start-up and writing the file, beyond the recording itself
PYSPY_STOP_S = 10.0  # after SIGINT (shutdown), py-spy writes its file within this
POLL_S = 0.1  # how often the recording thread looks for a shutdown
MAX_AUTH_FAILURES = 10  # failed admin-key attempts per address per minute
CUT_SHORT_HEADER = "X-Profile-Cut-Short"

log = get_logger("ai_assist.admin")
_recording = threading.Lock()  # one recording per process


class ProfileFailed(RuntimeError):
    pass


def pyspy_binary() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"  # the venv's bin, when not on PATH
    return str(beside) if beside.exists() else shutil.which("py-spy")


async def record(seconds: int, fmt: str, pid: int | None = None,
                 stop: threading.Event | None = None) -> tuple[bytes, bool]:
    """Record process `pid` (this one) for `seconds` with py-spy; the file's bytes, and
    whether `stop` (shutdown) ended it early. The child starts from a worker thread
    through subprocess (vfork / posix_spawn): uvloop's own spawn forks through the
    interpreter's fork hooks, which the Pyroscope agent warns about, and it would gain
    nothing, since one recording at a time holds one thread."""
    return await asyncio.to_thread(_record, seconds, fmt, pid or os.getpid(),
                                   stop or threading.Event())


def _allow_tracers(allow: bool) -> None:
    """Yama's PR_SET_PTRACER on this process: any same-user process, or none again."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PTRACER, ctypes.c_ulong(PR_SET_PTRACER_ANY if allow else 0),
                   ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
    except (OSError, AttributeError):
        pass  # no prctl: nothing to allow; without Yama it fails with EINVAL, harmless


def _record(seconds: int, fmt: str, pid: int, stop: threading.Event) -> tuple[bytes, bool]:
    binary = pyspy_binary()
    if binary is None:
        raise ProfileFailed("py-spy is not installed (pip install py-spy)")
    _allow_tracers(pid == os.getpid())
    try:
        return _run_pyspy(binary, seconds, fmt, pid, stop)
    finally:
        _allow_tracers(False)


def _run_pyspy(binary: str, seconds: int, fmt: str, pid: int,
               stop: threading.Event) -> tuple[bytes, bool]:
    with tempfile.TemporaryDirectory(prefix="ai-assist-profile-") as tmp:
        output = Path(tmp) / "profile"
        logs = Path(tmp) / "py-spy.log"
        with open(logs, "wb") as said_file:
            child = subprocess.Popen(
                [binary, "record", "--pid", str(pid), "--duration", str(seconds),
                 "--rate", str(SAMPLE_RATE), "--format", FORMATS[fmt][0],
                 "--output", str(output), "--nonblocking"],
                stdin=subprocess.DEVNULL, stdout=said_file, stderr=subprocess.STDOUT)
            cut_short = _wait(child, seconds + PYSPY_GRACE_S, stop)
        said = logs.read_bytes().decode(errors="replace").strip().splitlines()
        if child.returncode != 0 and not (cut_short and output.exists()) \
                or not output.exists():
            raise ProfileFailed(f"py-spy exited with {child.returncode}: "
                                f"{said[-1][:300] if said else 'no output'} (a refusal to "
                                "read memory comes from kernel.yama.ptrace_scope >= 2 or a "
                                "seccomp profile without process_vm_readv)")
        return output.read_bytes(), cut_short


def _wait(child: subprocess.Popen, limit_s: float, stop: threading.Event) -> bool:
    """Wait for py-spy; on `stop` ask it to finish now (SIGINT: it writes what it has).
    Whether it was cut short."""
    deadline = time.monotonic() + limit_s
    while True:
        try:
            child.wait(POLL_S)
            return False
        except subprocess.TimeoutExpired:
            pass
        if stop.is_set():
            child.send_signal(signal.SIGINT)
            try:
                child.wait(PYSPY_STOP_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            return True
        if time.monotonic() > deadline:
            child.kill()
            child.wait()
            raise ProfileFailed(f"py-spy did not finish within {limit_s:g} s")


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


def add_routes(app: FastAPI, settings: Settings, metrics: Metrics,
               stop: threading.Event | None = None) -> None:
    """Register POST /admin/profile (only call it when an admin key is set). `stop` is
    set when the server starts shutting down: a recording then ends early."""
    expected = _digest(settings.admin_api_key)
    stop = stop or threading.Event()
    failures = MovingWindowRateLimiter(MemoryStorage())
    allowed_failures = RateLimitItemPerMinute(MAX_AUTH_FAILURES)

    def error(request: Request, status: int, reason: str, message: str,
              headers: dict[str, str] | None = None) -> JSONResponse:
        body = ErrorBody(error=reason, message=message, request_id=request.state.request_id)
        return JSONResponse(body.model_dump(), status_code=status, headers=headers)

    @app.post(PATH, include_in_schema=False)
    async def admin_profile(request: Request) -> Response:
        peer = peer_address(request.scope)
        if not await failures.test(allowed_failures, "admin", peer):
            stats = await failures.get_window_stats(allowed_failures, "admin", peer)
            wait = max(1, int(stats.reset_time - time.time()) + 1)
            metrics.admin_auth_failures.labels("locked_out").inc()
            log.warning("admin_auth_locked_out", peer=peer, retry_after_s=wait)
            return error(request, 429, "too_many_failed_attempts", f"{MAX_AUTH_FAILURES} "
                         "failed admin-key attempts from this address in the last minute; "
                         f"retry in {wait} s", {"Retry-After": str(wait)})
        scheme, _, given = request.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(_digest(given.strip()),
                                                                 expected):
            await failures.hit(allowed_failures, "admin", peer)
            metrics.admin_auth_failures.labels("refused").inc()
            log.warning("admin_auth_failed", peer=peer,
                        presented="bearer" if scheme.lower() == "bearer" else "none")
            return error(request, 401, "unauthorized", "send the admin key as "
                         "`Authorization: Bearer <AI_ASSIST_ADMIN_API_KEY>`",
                         {"WWW-Authenticate": 'Bearer realm="ai-assist-admin"'})
        raw_seconds = request.query_params.get("seconds", str(DEFAULT_SECONDS))
        try:
            seconds = int(raw_seconds)
        except ValueError:
            seconds = 0
        if not MIN_SECONDS <= seconds <= MAX_SECONDS:
            return error(request, 400, "invalid_request", f"seconds must be a whole number "
                         f"from {MIN_SECONDS} to {MAX_SECONDS}, not {raw_seconds[:20]!r}")
        fmt = request.query_params.get("format", "speedscope")
        if fmt not in FORMATS:
            return error(request, 400, "invalid_request", f"format must be one of "
                         f"{', '.join(FORMATS)}, not {fmt[:20]!r}")
        if not _recording.acquire(blocking=False):
            return error(request, 409, "profile_in_progress", "another profile is being "
                         "recorded; one at a time", {"Retry-After": str(MAX_SECONDS)})
        started = time.monotonic()
        try:
            log.info("admin_profile_started", seconds=seconds, format=fmt)
            data, cut_short = await record(seconds, fmt, stop=stop)
        except ProfileFailed as exc:
            log.error("admin_profile_failed", error_message=str(exc))
            return error(request, 503, "profiler_failed", str(exc))
        finally:
            _recording.release()
        log.info("admin_profile_completed", seconds=seconds, format=fmt, bytes=len(data),
                 elapsed_s=round(time.monotonic() - started, 2),
                 cut_short="shutdown" if cut_short else None)
        _, media_type, suffix = FORMATS[fmt]
        name = f"ai-assist-{os.getpid()}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
        headers = {"Content-Disposition": f'attachment; filename="{name}.{suffix}"'}
        if cut_short:  # the server is stopping: the recording so far
            headers[CUT_SHORT_HEADER] = "shutdown"
            headers["Connection"] = "close"
        return Response(data, media_type=media_type, headers=headers)
