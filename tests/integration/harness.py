"""Shared pieces of the integration tests that run the tgsearch binary against the fake Bot API:
check counting, deadlines, the binary as a child process and its environment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

TOKEN = "987654:TEST-SECRET-token_xyz"
WRONG_TOKEN = "111111:WRONG-secret-token_abc"
BOT_USERNAME = "tgsearch_test_bot"


# ------------------------------------------------------------------------------------------
# Checks, deadlines and processes

class Checks:
    """Counts checks; prints each failure with its evidence as it happens."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0
        self.lock = threading.Lock()

    def check(self, condition: bool, name: str, detail: Any = "") -> bool:
        with self.lock:
            if condition:
                self.passed += 1
            else:
                self.failed += 1
                text = detail if isinstance(detail, str) else repr(detail)
                print(f"FAIL {name}: {redact(text)}", flush=True)
        return condition

    def summary(self) -> int:
        with self.lock:
            print(f"{self.passed} passed, {self.failed} failed", flush=True)
            return 1 if self.failed else 0


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def bound(self, seconds: float) -> float:
        """Return `seconds` cut down to what is left of the overall deadline."""
        return max(0.0, min(seconds, self.end - time.monotonic()))


def redact(text: str) -> str:
    for secret in (TOKEN, TOKEN.split(":")[1], WRONG_TOKEN, WRONG_TOKEN.split(":")[1]):
        text = text.replace(secret, "<token>")
    return text


class BinaryProcess:
    """tgsearch started with stdout and stderr in files, so a full pipe never blocks it."""

    running: list["BinaryProcess"] = []

    def __init__(self, args: list[str], env: dict[str, str], workdir: Path, name: str,
                 stdin_text: str | None = None) -> None:
        self.stdout_path = workdir / f"{name}.stdout"
        self.stderr_path = workdir / f"{name}.stderr"
        self.args = args
        stdin = subprocess.DEVNULL
        if stdin_text is not None:
            stdin_path = workdir / f"{name}.stdin"
            stdin_path.write_text(stdin_text, encoding="utf-8")
            stdin = open(stdin_path, "rb")
        with open(self.stdout_path, "wb") as stdout, open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(args, stdin=stdin, stdout=stdout, stderr=stderr,
                                            env=env, cwd=workdir)
        if stdin is not subprocess.DEVNULL:
            stdin.close()
        BinaryProcess.running.append(self)

    @property
    def pid(self) -> int:
        return self.process.pid

    def exited(self) -> bool:
        return self.process.poll() is not None

    def exit_status(self) -> str:
        """Describe how the process ended, for failure messages."""
        code = self.process.poll()
        return "still running" if code is None else f"exit code {code}"

    def wait(self, timeout: float) -> int | None:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def terminate(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stderr_tail(self, lines: int = 15) -> str:
        tail = self.stderr().splitlines()[-lines:]
        return redact("\n    ".join([""] + tail)) if tail else " (stderr is empty)"


def describe_exit(exit_code: int | None) -> str:
    return "did not exit in time (killed)" if exit_code is None else f"exit code {exit_code}"


def start_watchdog(checks: Checks, seconds: float) -> threading.Timer:
    """Kill every binary and exit when the overall deadline passes, so the test never hangs."""

    def expire() -> None:
        print(f"FAIL overall deadline: the test did not finish within {seconds:.0f} s",
              flush=True)
        for binary in BinaryProcess.running:
            try:
                binary.kill()
            except (OSError, subprocess.TimeoutExpired):
                pass
        checks.failed += 1
        checks.summary()
        os._exit(1)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    return timer


# Proxy variables from the caller's environment would send the bot's traffic elsewhere.
PROXY_VARIABLES = ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy",
                   "ALL_PROXY", "no_proxy", "NO_PROXY")


def child_env(token: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("TELEGRAM_BOT_TOKEN", None)
    for name in PROXY_VARIABLES:
        env.pop(name, None)
    if token is not None:
        env["TELEGRAM_BOT_TOKEN"] = token
    env.setdefault("LANG", "C.UTF-8")
    return env


