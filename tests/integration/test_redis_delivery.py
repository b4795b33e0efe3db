#!/usr/bin/env python3
"""Tests of tgsearch's delivery promises with --redis, against a real redis-server.

Each scenario runs the real binary against fake_bot_api.py and its own redis-server, both on
127.0.0.1 with free ports (redis-server with appendonly yes in a temporary folder, stopped by
its PID):

1. crash: queries from many chats, a ring of 64 slots so that tasks spill to Redis, and
   kill -9 at random moments, three times, with a restart after each. Every update must be
   answered. A duplicate is allowed only for a reply that the fake took within
   DUPLICATE_WINDOW_SECONDS before a kill, at most SEND_CONNECTIONS per kill. Replies in each
   chat must follow the update order, ignoring repeats.
2. memory: the same without Redis. Every update must be answered at least once; the
   duplicates are counted.
3. redis-restart: redis-server killed and restarted while the bot answers. The bot keeps
   answering while Redis is down, and no update is lost or answered twice.
4. spill: a ring of 16 slots under a burst. The bot must log that it spilled tasks and that
   it took them all back, and keep the reply order of every chat.
5. malformed: values of the wrong type under the bot's keys, and garbage in the pending hash.
   Each is logged with its key and skipped, and the bot answers as usual.
6. sigterm: SIGTERM in the middle of the work, then a restart. The rest is answered from
   Redis with no duplicate.

The number of queries in the crash and memory scenarios is --crash-updates (default 5000
from 500 chats). Both run the bot with --flood-limits off: at Telegram's 30 messages per
second, 5,000 replies would take close to three minutes each.

When redis-server is not on PATH, the test prints a SKIP line and exits 0.

Usage: test_redis_delivery.py --binary build/app/tgsearch --fixtures tests/fixtures
       [--scenario NAME] [--crash-updates N] [--seed N]
Prints one line per failed check and a final "N passed, N failed"; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_bot_api import FakeBotApi, SentMessage, group_chat  # noqa: E402
from harness import (BOT_USERNAME, TOKEN, BinaryProcess, Checks, Deadline,  # noqa: E402
                     child_env, describe_exit, start_watchdog)

BOT_ID = int(TOKEN.split(":")[0])
KEY_PREFIX = f"tgsearch:{BOT_ID}:"
REDIS_PASSWORD = "REDIS-pass-4417abc"
SECRETS = (TOKEN, TOKEN.split(":")[1], REDIS_PASSWORD)

SHUTDOWN_TIMEOUT_SECONDS = 10
# The bot's default number of connections that send replies; each can have one reply that
# the fake took and the bot had not yet marked answered when it was killed.
SEND_CONNECTIONS = 4
# How long before a kill a reply may have been taken by the fake and still be answered again
# after the restart. The bot marks a reply answered in Redis right after Telegram's response;
# the margin covers a slow scheduler on a loaded test machine.
DUPLICATE_WINDOW_SECONDS = 1.0
# The fake stamps a request when its handler thread has read it. On a loaded machine that can
# be a few milliseconds after the bot sent it, so a reply sent just before a kill may carry a
# time just after it.
RECEIVE_LAG_SECONDS = 0.2
# Telegram's overall limit, which the bot keeps to: the minimum time for N replies is N / 30.
MESSAGES_PER_SECOND = 30
QUERIES = ("nginx reverse proxy", "transferring data with URL syntax", "vi improved editor",
           "load balancing", "web server")
SCENARIO_DEADLINES = {"crash": 200, "memory": 60, "redis-restart": 60, "spill": 60,
                      "malformed": 60, "sigterm": 60}


# ------------------------------------------------------------------------------------------
# Redis

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A redis-server on 127.0.0.1 with a free port, appendonly yes and its own folder."""

    running: list["RedisServer"] = []

    def __init__(self, workdir: Path, name: str, password: str = "") -> None:
        self.port = free_port()
        self.folder = workdir / name
        self.folder.mkdir()
        self.password = password
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        login = f":{self.password}@" if self.password else ""
        return f"redis://{login}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.starts += 1
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.folder), "--appendonly", "yes", "--save", "",
                "--daemonize", "no", "--logfile", str(self.folder / f"redis-{self.starts}.log")]
        if self.password:
            args += ["--requirepass", self.password]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if self not in RedisServer.running:
            RedisServer.running.append(self)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                if self.command("PING") in ("PONG", b"PONG"):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def kill(self) -> None:
        """SIGKILL: the append-only file keeps every write Redis had made."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def command(self, *args: str) -> Any:
        """Sends one command in RESP2 and returns its reply (bytes, int, str, list or None)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as connection:
            stream = connection.makefile("rwb")
            if self.password:
                send_command(stream, "AUTH", self.password)
                read_reply(stream)
            send_command(stream, *args)
            return read_reply(stream)


def stop_all_redis() -> None:
    for server in RedisServer.running:
        server.kill()


def send_command(stream: Any, *args: str) -> None:
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(f"${len(data)}\r\n".encode() + data + b"\r\n")
    stream.write(b"".join(parts))
    stream.flush()


def read_reply(stream: Any) -> Any:
    line = stream.readline()
    if not line:
        raise OSError("Redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        return RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        data = stream.read(size + 2)
        return data[:-2]
    if kind == b"*":
        count = int(rest)
        return None if count < 0 else [read_reply(stream) for _ in range(count)]
    raise OSError(f"unexpected reply line {line!r}")


# ------------------------------------------------------------------------------------------
# The bot and its replies

def start_bot(fake: FakeBotApi, workdir: Path, name: str, checks: Checks, deadline: Deadline,
              redis: RedisServer | None, extra_args: list[str] | None = None
              ) -> BinaryProcess:
    options = {"--workers": "2", "--poll-timeout": "1",
               "--shutdown-timeout": str(SHUTDOWN_TIMEOUT_SECONDS)}
    extra = extra_args or []
    options.update(zip(extra[::2], extra[1::2]))
    args = [str(ARGS.binary), "--corpus", str(ARGS.fixtures / "bot_corpus.jsonl"),
            "--api-url", fake.url]
    for option, value in options.items():
        args += [option, value]
    env = child_env(TOKEN)
    if redis is not None:
        # The password stays out of the command line, as the help text advises.
        env["TGSEARCH_REDIS_URL"] = redis.url
    binary = BinaryProcess(args, env, workdir, name)
    before = len(fake.requests("getUpdates"))
    polling = fake.wait_for(lambda api: len(api.requests("getUpdates")) > before
                            or binary.exited(), deadline.bound(30))
    checks.check(polling and not binary.exited(), f"{name}: the bot starts polling",
                 f"{binary.exit_status()};{binary.stderr_tail()}")
    return binary


def stop_bot(binary: BinaryProcess, checks: Checks, deadline: Deadline, name: str) -> None:
    binary.terminate()
    exit_code = binary.wait(deadline.bound(SHUTDOWN_TIMEOUT_SECONDS + 10))
    if exit_code is None:
        binary.kill()
    checks.check(exit_code == 0, f"{name}: SIGTERM stops the bot with exit code 0",
                 f"{describe_exit(exit_code)};{binary.stderr_tail()}")


def check_secrets_hidden(binaries: list[BinaryProcess], checks: Checks, name: str) -> None:
    for binary in binaries:
        for stream_name, text in (("stdout", binary.stdout()), ("stderr", binary.stderr())):
            leaks = [index + 1 for index, line in enumerate(text.splitlines())
                     if any(secret in line for secret in SECRETS)]
            checks.check(not leaks, f"{name}: no token or Redis password in {stream_name}",
                         f"found on lines {leaks[:5]} of {binary.stderr_path.name}")


def push_queries(fake: FakeBotApi, chats: int, per_chat: int, first_chat: int,
                 rng: random.Random) -> list[tuple[int, int]]:
    """Pushes per_chat queries from each chat, interleaved. Returns (chat_id, message_id).

    The chats are groups, where each reply names the message it answers, and each has a
    sender of its own, so that no user reaches the bot's per-user query limit.
    """
    updates = []
    keys = []
    for round_index in range(per_chat):
        for chat_index in range(chats):
            chat_id = -(first_chat + chat_index)
            sender = {"id": first_chat + chat_index, "is_bot": False, "first_name": "Member"}
            update = fake.make_message_update(group_chat(chat_id),
                                              "/search " + rng.choice(QUERIES), sender=sender)
            updates.append(update)
            keys.append((chat_id, update["message"]["message_id"]))
    # Several pushes, as messages arrive over time.
    for start in range(0, len(updates), 500):
        fake.push_updates(updates[start:start + 500])
    return keys


def replies_by_update(fake: FakeBotApi) -> dict[tuple[int, int], list[SentMessage]]:
    replies: dict[tuple[int, int], list[SentMessage]] = {}
    for message in fake.sent_messages():
        if message.reply_to_message_id is not None:
            replies.setdefault((message.chat_id, message.reply_to_message_id),
                               []).append(message)
    return replies


def duplicate_copies(messages: list[SentMessage]) -> list[SentMessage]:
    """The messages that repeat an earlier one with the same text: a reply answered again.
    The parts of one long reply differ in text, so they do not count."""
    seen: set[str] = set()
    repeats = []
    for message in messages:
        if message.html in seen:
            repeats.append(message)
        seen.add(message.html)
    return repeats


def first_copies(messages: list[SentMessage]) -> list[SentMessage]:
    seen: set[str] = set()
    firsts = []
    for message in messages:
        if message.html not in seen:
            firsts.append(message)
            seen.add(message.html)
    return firsts


def answered_count(fake: FakeBotApi, keys: set[tuple[int, int]]) -> int:
    replies = replies_by_update(fake)
    return sum(1 for key in keys if key in replies)


def wait_all_answered(fake: FakeBotApi, keys: list[tuple[int, int]], seconds: float,
                      deadline: Deadline) -> int:
    expected = set(keys)
    fake.wait_for(lambda api: answered_count(api, expected) >= len(expected),
                  deadline.bound(seconds))
    return answered_count(fake, expected)


def check_chat_order(fake: FakeBotApi, checks: Checks, name: str) -> None:
    """Within each chat, the first reply to each update follows the update order."""
    by_chat: dict[int, list[int]] = {}
    for message in fake.sent_messages():
        by_chat.setdefault(message.chat_id, []).append(message.reply_to_message_id or 0)
    out_of_order = []
    for chat_id, reply_tos in by_chat.items():
        seen: set[int] = set()
        firsts = []
        for reply_to in reply_tos:
            if reply_to not in seen:
                firsts.append(reply_to)
                seen.add(reply_to)
        if firsts != sorted(firsts):
            out_of_order.append((chat_id, firsts))
    checks.check(not out_of_order, f"{name}: replies in each chat follow the update order",
                 out_of_order[:3])


def minimum_seconds(updates: int) -> float:
    return updates / MESSAGES_PER_SECOND


# ------------------------------------------------------------------------------------------
# Scenarios

def run_crash(workdir: Path, checks: Checks, deadline: Deadline, rng: random.Random) -> None:
    total = ARGS.crash_updates
    chats = max(1, total // 10)
    per_chat = max(1, total // chats)
    kills_planned = 3
    print(f"== crash: {chats * per_chat} queries from {chats} chats, kill -9 "
          f"{kills_planned} times", flush=True)
    redis = RedisServer(workdir, "crash-redis", password=REDIS_PASSWORD)
    redis.start()
    fake = FakeBotApi(TOKEN, username=BOT_USERNAME, first_update_id=100000).start()
    binaries: list[BinaryProcess] = []
    try:
        ring = ["--ring-capacity", "64", "--flood-limits", "off"]
        binary = start_bot(fake, workdir, "crash-0", checks, deadline, redis, ring)
        binaries.append(binary)
        keys = push_queries(fake, chats, per_chat, 7_000_000, rng)
        expected = len(keys)
        # Kill points as shares of the work, at random, with a random extra pause so that
        # the kill lands anywhere between two sends.
        points = sorted(rng.uniform(0.1, 0.8) for _ in range(kills_planned))
        kill_times: list[float] = []
        for index, share in enumerate(points, start=1):
            target = int(expected * share)
            fake.wait_for(lambda api: len(api.sent_messages()) >= target,
                          deadline.bound(minimum_seconds(expected) + 30))
            time.sleep(rng.uniform(0, 0.3))
            kill_times.append(time.monotonic())
            binary.kill()
            sent_then = len(fake.sent_messages())
            print(f"   kill {index}: after {sent_then} replies", flush=True)
            binary = start_bot(fake, workdir, f"crash-{index}", checks, deadline, redis, ring)
            binaries.append(binary)

        answered = wait_all_answered(fake, keys, minimum_seconds(expected) + 60, deadline)
        time.sleep(deadline.bound(1.0))
        stop_bot(binary, checks, deadline, "crash")

        replies = replies_by_update(fake)
        lost = [key for key in keys if key not in replies]
        checks.check(answered == expected and not lost, "crash: every update is answered",
                     f"{len(lost)} of {expected} unanswered, such as {lost[:5]}")

        # Each duplicate must come from a reply taken just before a kill.
        duplicated = 0
        per_kill = [0] * len(kill_times)
        unexplained = []
        for key in keys:
            messages = replies.get(key, [])
            if not duplicate_copies(messages):
                continue
            duplicated += 1
            first = first_copies(messages)[0]
            kill_index = next((index for index, killed in enumerate(kill_times)
                               if killed - DUPLICATE_WINDOW_SECONDS <= first.time
                               <= killed + RECEIVE_LAG_SECONDS),
                              None)
            if kill_index is None:
                unexplained.append((key, round(first.time, 3)))
            else:
                per_kill[kill_index] += 1
        checks.check(not unexplained,
                     f"crash: every duplicate was sent within {DUPLICATE_WINDOW_SECONDS} s "
                     "before a kill", f"{unexplained[:5]}; kills at "
                     f"{[round(killed, 3) for killed in kill_times]}")
        checks.check(all(count <= SEND_CONNECTIONS for count in per_kill),
                     f"crash: at most {SEND_CONNECTIONS} duplicates per kill", per_kill)
        check_chat_order(fake, checks, "crash")
        check_secrets_hidden(binaries, checks, "crash")
        spilled = sum(binary.stderr().count("spilling tasks to Redis") for binary in binaries)
        checks.check(spilled > 0, "crash: tasks spilled to Redis", "no spill line in any log")
        print(f"   crash: {expected} updates, {len(kill_times)} kills, {len(lost)} lost, "
              f"{duplicated} duplicated (per kill: {per_kill})", flush=True)
    finally:
        for binary in binaries:
            binary.kill()
        fake.stop()
        redis.stop()


def run_memory(workdir: Path, checks: Checks, deadline: Deadline, rng: random.Random) -> None:
    print("== memory: the same crash without Redis", flush=True)
    fake = FakeBotApi(TOKEN, username=BOT_USERNAME, first_update_id=200000).start()
    binaries: list[BinaryProcess] = []
    unpaced = ["--flood-limits", "off"]
    kills = 3
    try:
        binary = start_bot(fake, workdir, "memory-0", checks, deadline, None, unpaced)
        binaries.append(binary)
        chats = max(1, ARGS.crash_updates // 10)
        keys = push_queries(fake, chats, 10, 7_100_000, rng)
        for kill in range(1, kills + 1):
            share = kill / (kills + 1)
            fake.wait_for(lambda api: len(api.sent_messages()) >= len(keys) * share,
                          deadline.bound(60))
            time.sleep(rng.uniform(0, 0.3))
            binary.kill()
            binary = start_bot(fake, workdir, f"memory-{kill}", checks, deadline, None, unpaced)
            binaries.append(binary)
        answered = wait_all_answered(fake, keys, minimum_seconds(len(keys)) + 30, deadline)
        stop_bot(binary, checks, deadline, "memory")
        checks.check(answered == len(keys), "memory: every update is answered at least once",
                     f"{answered} of {len(keys)}")
        replies = replies_by_update(fake)
        duplicated = sum(1 for key in keys if duplicate_copies(replies.get(key, [])))
        print(f"   memory: {len(keys)} updates, {kills} kills, {len(keys) - answered} lost, "
              f"{duplicated} duplicated", flush=True)
    finally:
        for binary in binaries:
            binary.kill()
        fake.stop()


def run_redis_restart(workdir: Path, checks: Checks, deadline: Deadline,
                      rng: random.Random) -> None:
    print("== redis-restart: redis-server killed and restarted while the bot answers",
          flush=True)
    redis = RedisServer(workdir, "restart-redis")
    redis.start()
    fake = FakeBotApi(TOKEN, username=BOT_USERNAME, first_update_id=300000).start()
    binary = None
    try:
        binary = start_bot(fake, workdir, "redis-restart", checks, deadline, redis)
        keys = push_queries(fake, 30, 10, 7_200_000, rng)
        fake.wait_for(lambda api: len(api.sent_messages()) >= 60, deadline.bound(30))
        redis.kill()
        down_at = len(fake.sent_messages())
        time.sleep(deadline.bound(2.0))
        # More queries while Redis is down must be answered too.
        keys += push_queries(fake, 5, 2, 7_210_000, rng)
        time.sleep(deadline.bound(1.0))
        during = len(fake.sent_messages()) - down_at
        checks.check(during >= 30, "redis-restart: the bot answers while Redis is down",
                     f"{during} replies in 3 s")
        redis.start()
        answered = wait_all_answered(fake, keys, minimum_seconds(len(keys)) + 30, deadline)
        time.sleep(deadline.bound(2.0))
        stop_bot(binary, checks, deadline, "redis-restart")
        checks.check(answered == len(keys), "redis-restart: every update is answered",
                     f"{answered} of {len(keys)}")
        replies = replies_by_update(fake)
        duplicated = [key for key in keys if duplicate_copies(replies.get(key, []))]
        checks.check(not duplicated, "redis-restart: no update is answered twice",
                     duplicated[:5])
        stderr = binary.stderr()
        checks.check("Redis unavailable" in stderr, "redis-restart: the outage is logged",
                     binary.stderr_tail())
        checks.check("reachable again" in stderr, "redis-restart: the recovery is logged",
                     binary.stderr_tail())
        # The answered ids written while Redis was down reach it once it is back.
        last = keys[-1]
        stored = redis.command("ZCARD", KEY_PREFIX + "answered")
        checks.check(isinstance(stored, int) and stored >= len(keys) - 5,
                     "redis-restart: the answered ids reach Redis after the outage",
                     f"ZCARD {stored}, {len(keys)} updates, last {last}")
        check_secrets_hidden([binary], checks, "redis-restart")
    finally:
        if binary is not None:
            binary.kill()
        fake.stop()
        redis.stop()


def run_spill(workdir: Path, checks: Checks, deadline: Deadline, rng: random.Random) -> None:
    print("== spill: a ring of 16 slots under a burst", flush=True)
    redis = RedisServer(workdir, "spill-redis")
    redis.start()
    fake = FakeBotApi(TOKEN, username=BOT_USERNAME, first_update_id=400000).start()
    binary = None
    try:
        binary = start_bot(fake, workdir, "spill", checks, deadline, redis,
                           ["--ring-capacity", "16", "--workers", "1"])
        keys = push_queries(fake, 40, 10, 7_300_000, rng)
        answered = wait_all_answered(fake, keys, minimum_seconds(len(keys)) + 30, deadline)
        time.sleep(deadline.bound(1.0))
        stop_bot(binary, checks, deadline, "spill")
        checks.check(answered == len(keys), "spill: every update is answered",
                     f"{answered} of {len(keys)}")
        replies = replies_by_update(fake)
        duplicated = [key for key in keys if duplicate_copies(replies.get(key, []))]
        checks.check(not duplicated, "spill: no update is answered twice", duplicated[:5])
        stderr = binary.stderr()
        checks.check("spilling tasks to Redis" in stderr, "spill: tasks are spilled",
                     binary.stderr_tail())
        checks.check("took back every spilled task" in stderr,
                     "spill: every spilled task is taken back", binary.stderr_tail())
        checks.check(redis.command("EXISTS", KEY_PREFIX + "spill") == 0,
                     "spill: the spill list is empty at the end", "")
        check_chat_order(fake, checks, "spill")
    finally:
        if binary is not None:
            binary.kill()
        fake.stop()
        redis.stop()


def run_malformed(workdir: Path, checks: Checks, deadline: Deadline,
                  rng: random.Random) -> None:
    print("== malformed: foreign values and garbage under the bot's keys", flush=True)
    redis = RedisServer(workdir, "malformed-redis")
    redis.start()
    fake = FakeBotApi(TOKEN, username=BOT_USERNAME, first_update_id=500000).start()
    binaries: list[BinaryProcess] = []
    try:
        # Strings where the store expects a hash and a sorted set.
        redis.command("SET", KEY_PREFIX + "pending", "not a hash")
        redis.command("SET", KEY_PREFIX + "answered", "not a sorted set")
        binary = start_bot(fake, workdir, "malformed-types", checks, deadline, redis)
        binaries.append(binary)
        keys = push_queries(fake, 10, 2, 7_400_000, rng)
        answered = wait_all_answered(fake, keys, 30, deadline)
        stop_bot(binary, checks, deadline, "malformed-types")
        checks.check(answered == len(keys), "malformed-types: every update is answered",
                     f"{answered} of {len(keys)}")
        stderr = binary.stderr()
        for name in ("pending", "answered"):
            checks.check(f"Redis key {KEY_PREFIX}{name}" in stderr,
                         f"malformed-types: the wrong type of {name} is logged with its key",
                         binary.stderr_tail())
        checks.check(redis.command("GET", KEY_PREFIX + "pending") == b"not a hash",
                     "malformed-types: the foreign value is left alone", "")

        # Garbage entries in the pending hash are logged, removed and skipped.
        redis.command("DEL", KEY_PREFIX + "pending", KEY_PREFIX + "answered")
        redis.command("HSET", KEY_PREFIX + "pending", "not-an-id", "{}", "77", "{garbage",
                      "78", '{"update_id":79,"message":{}}')
        binary = start_bot(fake, workdir, "malformed-entries", checks, deadline, redis)
        binaries.append(binary)
        more = push_queries(fake, 10, 1, 7_410_000, rng)
        answered = wait_all_answered(fake, more, 30, deadline)
        stop_bot(binary, checks, deadline, "malformed-entries")
        checks.check(answered == len(more), "malformed-entries: every update is answered",
                     f"{answered} of {len(more)}")
        stderr = binary.stderr()
        checks.check(stderr.count(f"Redis key {KEY_PREFIX}pending") >= 3,
                     "malformed-entries: each bad entry is logged with the key",
                     binary.stderr_tail())
        fields = redis.command("HKEYS", KEY_PREFIX + "pending") or []
        checks.check(not {b"not-an-id", b"77", b"78"} & set(fields),
                     "malformed-entries: the bad entries are removed", fields)
    finally:
        for binary in binaries:
            binary.kill()
        fake.stop()
        redis.stop()


def run_sigterm(workdir: Path, checks: Checks, deadline: Deadline, rng: random.Random) -> None:
    print("== sigterm: an orderly stop in the middle of the work, then a restart", flush=True)
    redis = RedisServer(workdir, "sigterm-redis")
    redis.start()
    fake = FakeBotApi(TOKEN, username=BOT_USERNAME, first_update_id=600000).start()
    binaries: list[BinaryProcess] = []
    try:
        # A short shutdown deadline leaves work for the next start.
        short = ["--shutdown-timeout", "1"]
        binary = start_bot(fake, workdir, "sigterm-0", checks, deadline, redis, short)
        binaries.append(binary)
        keys = push_queries(fake, 30, 10, 7_500_000, rng)
        fake.wait_for(lambda api: len(api.sent_messages()) >= 60, deadline.bound(30))
        binary.terminate()
        exit_code = binary.wait(deadline.bound(15))
        checks.check(exit_code == 0, "sigterm: the bot exits with code 0",
                     f"{describe_exit(exit_code)};{binary.stderr_tail()}")
        left = len(keys) - answered_count(fake, set(keys))
        checks.check(left > 0, "sigterm: work is left for the next start", "nothing left")
        checks.check("the next start resumes them from Redis" in binary.stderr(),
                     "sigterm: the bot logs that Redis keeps the rest", binary.stderr_tail())

        binary = start_bot(fake, workdir, "sigterm-1", checks, deadline, redis)
        binaries.append(binary)
        answered = wait_all_answered(fake, keys, minimum_seconds(len(keys)) + 30, deadline)
        stop_bot(binary, checks, deadline, "sigterm")
        checks.check(answered == len(keys), "sigterm: every update is answered",
                     f"{answered} of {len(keys)}")
        replies = replies_by_update(fake)
        duplicated = [key for key in keys if duplicate_copies(replies.get(key, []))]
        checks.check(not duplicated, "sigterm: no update is answered twice", duplicated[:5])
        check_chat_order(fake, checks, "sigterm")
        print(f"   sigterm: {len(keys)} updates, {left} left for the restart, "
              f"{len(duplicated)} duplicated", flush=True)
    finally:
        for binary in binaries:
            binary.kill()
        fake.stop()
        redis.stop()


SCENARIOS = {"crash": run_crash, "memory": run_memory, "redis-restart": run_redis_restart,
             "spill": run_spill, "malformed": run_malformed, "sigterm": run_sigterm}

ARGS: argparse.Namespace


def main() -> int:
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True, type=Path, help="path to tgsearch")
    parser.add_argument("--fixtures", required=True, type=Path,
                        help="the tests/fixtures directory")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), action="append",
                        help="run only this scenario (repeatable); default: all")
    parser.add_argument("--crash-updates", type=int, default=5000,
                        help="queries in the crash and memory scenarios, 10 per chat "
                             "(default 5000)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the kill moments and queries (default: random)")
    ARGS = parser.parse_args()

    if shutil.which("redis-server") is None:
        print("SKIP: redis-server is not on PATH; install the redis-server package")
        return 0
    seed = ARGS.seed if ARGS.seed is not None else random.randrange(1 << 30)
    print(f"seed {seed}", flush=True)
    rng = random.Random(seed)
    names = ARGS.scenario or list(SCENARIOS)
    seconds = sum(SCENARIO_DEADLINES[name] for name in names)
    seconds += ARGS.crash_updates / MESSAGES_PER_SECOND if "crash" in names else 0
    checks = Checks()
    deadline = Deadline(seconds)
    # The shared watchdog kills only the bots, so this one stops the Redis servers first.
    redis_watchdog = threading.Timer(seconds + 25, stop_all_redis)
    redis_watchdog.daemon = True
    redis_watchdog.start()
    watchdog = start_watchdog(checks, seconds + 30)
    with tempfile.TemporaryDirectory(prefix="tgsearch-redis-") as folder:
        workdir = Path(folder)
        for name in names:
            try:
                SCENARIOS[name](workdir, checks, deadline, rng)
            except Exception:  # noqa: BLE001 - a broken scenario is one failure, not the end
                checks.check(False, f"{name}: scenario ran to the end",
                             traceback.format_exc())
    watchdog.cancel()
    redis_watchdog.cancel()
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
