#!/usr/bin/env python3
"""End-to-end test of reloading tgsearch's index on SIGHUP, in the console chat.

1. `--console --corpus corpus.jsonl`: a word that is in no document finds nothing. A document
   with the word is added to the corpus file and SIGHUP is sent; queries sent while the index
   is rebuilt are all answered, and once stderr logs the reload the word finds the new
   document.
2. `tgsearch index` writes an index file, and `--console --index FILE` serves it. The file is
   rebuilt from a changed corpus and SIGHUP is sent: the new document is found.
3. The index file is replaced by garbage and SIGHUP is sent: stderr logs that the reload
   failed and names the file, and queries still find the documents of the old index.
4. A gzipped corpus is replaced by a truncated one whose first records include a new one, and
   SIGHUP is sent: the reload loads the records before the cut, logs the damage, and the new
   document is found. Then it is replaced by a .gz file that is not gzip: the reload fails,
   as no document is left, and the previous index keeps answering.

Usage: test_reload.py --binary build/app/tgsearch
Prints one line per failed check and a final "N passed, N failed"; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPLY_TIMEOUT_SECONDS = 20
RELOAD_TIMEOUT_SECONDS = 60
# The corpus is large enough that a rebuild takes a noticeable time, so that queries are
# sent while it runs.
FILLER_DOCUMENTS = 40_000
NEW_WORD = "zebracornish"
# An empty line gets this reply, which marks the end of the reply before it: replies contain
# blank lines of their own, so a blank line cannot end one.
END_MARKER = "Send me a few words and I will search for them."


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, condition: bool, name: str, detail: str = "") -> bool:
        if condition:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAILED: {name}{': ' + detail if detail else ''}")
        return condition


def write_corpus(path: Path, with_new_document: bool) -> None:
    with path.open("w", encoding="utf-8") as corpus:
        for number in range(FILLER_DOCUMENTS):
            record = {"id": f"filler-{number}", "title": f"filler {number}",
                      "text": f"apple orchard number {number} grows pears plums and word{number}"}
            corpus.write(json.dumps(record) + "\n")
        if with_new_document:
            record = {"id": "new-document", "title": "The new one",
                      "text": f"a {NEW_WORD} appears after the reload"}
            corpus.write(json.dumps(record) + "\n")


class ConsoleProcess:
    """The binary in console mode, with a reader thread per output stream."""

    def __init__(self, args: list[str]) -> None:
        env = {key: value for key, value in os.environ.items()
               if key not in ("TELEGRAM_BOT_TOKEN", "https_proxy", "HTTPS_PROXY")}
        self.process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, encoding="utf-8",
                                        env=env)
        self.stdout_lines: queue.Queue[str] = queue.Queue()
        self.stderr_lines: list[tuple[float, str]] = []
        self.stderr_lock = threading.Lock()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        for line in self.process.stdout:
            self.stdout_lines.put(line.rstrip("\n"))

    def _read_stderr(self) -> None:
        for line in self.process.stderr:
            with self.stderr_lock:
                self.stderr_lines.append((time.monotonic(), line.rstrip("\n")))

    def ask(self, query: str) -> str | None:
        """Send one query and return its reply, or None when none came in time."""
        self.process.stdin.write(query + "\n\n")
        self.process.stdin.flush()
        lines: list[str] = []
        deadline = time.monotonic() + REPLY_TIMEOUT_SECONDS
        while True:
            try:
                line = self.stdout_lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return None
            if line == END_MARKER:
                return "\n".join(lines).strip()
            lines.append(line)

    def stderr_time_of(self, text: str, after: float = 0.0) -> float | None:
        """Return when a stderr line containing `text` was read after `after`, or None."""
        with self.stderr_lock:
            for when, line in self.stderr_lines:
                if when >= after and text in line:
                    return when
        return None

    def wait_for_stderr(self, text: str, after: float) -> float | None:
        deadline = time.monotonic() + RELOAD_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            when = self.stderr_time_of(text, after)
            if when is not None:
                return when
            time.sleep(0.05)
        return None

    def stderr_tail(self) -> str:
        with self.stderr_lock:
            return " | ".join(line for _, line in self.stderr_lines[-5:])

    def wait_ready(self) -> bool:
        """Wait until the index is built or loaded: the first query gets a reply."""
        return self.ask("apple") is not None

    def stop(self) -> int | None:
        if self.process.poll() is None:
            try:
                self.process.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self.process.wait(timeout=REPLY_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                return None
        return self.process.returncode


def reload_corpus(binary: Path, workdir: Path, checks: Checks) -> None:
    corpus = workdir / "corpus.jsonl"
    write_corpus(corpus, with_new_document=False)
    console = ConsoleProcess([str(binary), "--console", "--workers", "2", "--corpus", str(corpus)])
    try:
        if not checks.check(console.wait_ready(), "corpus: the console answers",
                            console.stderr_tail()):
            return
        before = console.ask(NEW_WORD)
        checks.check(before is not None and "Nothing found" in before,
                     "corpus: the new word finds nothing before the reload", repr(before))

        write_corpus(corpus, with_new_document=True)
        signal_time = time.monotonic()
        console.process.send_signal(signal.SIGHUP)
        answered_during_reload = 0
        unanswered = 0
        reloaded_at = None
        while reloaded_at is None and time.monotonic() < signal_time + RELOAD_TIMEOUT_SECONDS:
            reply = console.ask("apple orchard")
            if reply is None or "apple" not in reply.lower():
                unanswered += 1
            reloaded_at = console.stderr_time_of("reloaded the index", signal_time)
            if reloaded_at is None:
                answered_during_reload += 1
        checks.check(reloaded_at is not None, "corpus: stderr logs the reload",
                     console.stderr_tail())
        checks.check(console.stderr_time_of("received SIGHUP", signal_time) is not None,
                     "corpus: stderr logs the SIGHUP", console.stderr_tail())
        checks.check(unanswered == 0, "corpus: every query during the reload is answered",
                     f"{unanswered} unanswered")
        checks.check(answered_during_reload > 0, "corpus: queries ran while the index rebuilt",
                     "the reload finished before the first query")
        after = console.ask(NEW_WORD)
        checks.check(after is not None and "The new one" in after,
                     "corpus: the new word finds the new document after the reload", repr(after))
    finally:
        exit_code = console.stop()
        checks.check(exit_code == 0, "corpus: exits 0 at the end of input", str(exit_code))


def reload_index_file(binary: Path, workdir: Path, checks: Checks) -> None:
    corpus = workdir / "corpus_for_file.jsonl"
    index_file = workdir / "corpus.idx"
    write_corpus(corpus, with_new_document=False)
    built = subprocess.run([str(binary), "index", "--corpus", str(corpus), "--output",
                            str(index_file)], capture_output=True, text=True,
                           timeout=RELOAD_TIMEOUT_SECONDS)
    if not checks.check(built.returncode == 0 and index_file.is_file(),
                        "index file: tgsearch index writes it", built.stderr[-500:]):
        return
    checks.check(not Path(str(index_file) + ".tmp").exists(),
                 "index file: no temporary file is left")

    console = ConsoleProcess([str(binary), "--console", "--index", str(index_file)])
    try:
        if not checks.check(console.wait_ready(), "index file: the console answers",
                            console.stderr_tail()):
            return
        checks.check(console.stderr_time_of("loaded index file") is not None,
                     "index file: stderr logs the load", console.stderr_tail())

        write_corpus(corpus, with_new_document=True)
        rebuilt = subprocess.run([str(binary), "index", "--corpus", str(corpus), "--output",
                                  str(index_file)], capture_output=True, text=True,
                                 timeout=RELOAD_TIMEOUT_SECONDS)
        checks.check(rebuilt.returncode == 0, "index file: rebuilding it succeeds",
                     rebuilt.stderr[-500:])
        signal_time = time.monotonic()
        console.process.send_signal(signal.SIGHUP)
        reloaded = console.wait_for_stderr("reloaded the index", signal_time)
        checks.check(reloaded is not None, "index file: stderr logs the reload",
                     console.stderr_tail())
        after = console.ask(NEW_WORD)
        checks.check(after is not None and "The new one" in after,
                     "index file: the new word finds the new document after the reload",
                     repr(after))

        # Overwritten in place, as `cp` or a shell redirection does. The served index was
        # read into memory, so truncating the file under it must not crash the server.
        index_file.write_bytes(b"not an index file at all, just some bytes" * 10)
        still_served = console.ask(NEW_WORD)
        checks.check(still_served is not None and "The new one" in still_served,
                     "bad file: overwriting the served file in place changes nothing",
                     repr(still_served))
        signal_time = time.monotonic()
        console.process.send_signal(signal.SIGHUP)
        failed = console.wait_for_stderr("reload failed", signal_time)
        checks.check(failed is not None, "bad file: stderr logs the failed reload",
                     console.stderr_tail())
        failure_line = next((line for _, line in console.stderr_lines
                             if "reload failed" in line), "")
        checks.check(str(index_file) in failure_line and "tgsearch index" in failure_line,
                     "bad file: the error names the file and the fix", failure_line)
        still = console.ask(NEW_WORD)
        checks.check(still is not None and "The new one" in still,
                     "bad file: the previous index keeps answering", repr(still))
    finally:
        exit_code = console.stop()
        checks.check(exit_code == 0, "index file: exits 0 at the end of input", str(exit_code))


def reload_damaged_gzip(binary: Path, workdir: Path, checks: Checks) -> None:
    corpus = workdir / "corpus.jsonl.gz"

    def compressed_records(first_word: str) -> bytes:
        lines = [json.dumps({"id": f"doc-{number}", "title": f"{first_word} {number}",
                             "text": f"quince grove {number} " + "padding text " * 20})
                 for number in range(3000)]
        return gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), mtime=0)

    corpus.write_bytes(compressed_records("before"))
    console = ConsoleProcess([str(binary), "--console", "--corpus", str(corpus)])
    try:
        if not checks.check(console.wait_ready(), "damaged gzip: the console answers",
                            console.stderr_tail()):
            return
        whole = compressed_records(NEW_WORD)
        corpus.write_bytes(whole[: len(whole) // 2])
        signal_time = time.monotonic()
        console.process.send_signal(signal.SIGHUP)
        reloaded = console.wait_for_stderr("reloaded the index", signal_time)
        checks.check(reloaded is not None, "damaged gzip: the reload loads the records before "
                     "the cut", console.stderr_tail())
        checks.check(console.stderr_time_of(f"{corpus} is damaged: the gzip data is truncated",
                                            signal_time) is not None,
                     "damaged gzip: stderr names the damage", console.stderr_tail())
        after = console.ask(NEW_WORD)
        checks.check(after is not None and f"{NEW_WORD} 0" in after,
                     "damaged gzip: a record before the cut is found", repr(after))

        corpus.write_bytes(b"plain text in a file named .gz\n")
        signal_time = time.monotonic()
        console.process.send_signal(signal.SIGHUP)
        failed = console.wait_for_stderr("reload failed", signal_time)
        checks.check(failed is not None, "not gzip: the reload fails with no document left",
                     console.stderr_tail())
        still = console.ask(NEW_WORD)
        checks.check(still is not None and f"{NEW_WORD} 0" in still,
                     "not gzip: the previous index keeps answering", repr(still))
    finally:
        exit_code = console.stop()
        checks.check(exit_code == 0, "damaged gzip: exits 0 at the end of input", str(exit_code))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", type=Path, required=True)
    args = parser.parse_args()
    checks = Checks()
    with tempfile.TemporaryDirectory(prefix="tgsearch_reload_") as folder:
        reload_corpus(args.binary, Path(folder), checks)
        reload_index_file(args.binary, Path(folder), checks)
        reload_damaged_gzip(args.binary, Path(folder), checks)
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
