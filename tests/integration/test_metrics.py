#!/usr/bin/env python3
"""End-to-end test of the metrics server, the health check, /stats and JSON log lines, against
the fake Bot API.

1. Metrics (--metrics 127.0.0.1:0, text logs at info): the log names the port bound, and
   /healthz answers 200 "ok" once polling works. The test sends private messages (one of them
   answered only after a 429), a search with pages and a press of its button, two inline
   queries, an edited message and an update of another type. Then /metrics parses with
   prometheus_client's parser and with the strict checks below, and its counters match what
   was sent: updates by type, Bot API calls and errors, replies, latency and search-time
   histograms, ring capacity and index size. A group message not addressed to the bot is
   skipped as ignored and never searched. Another path gets 404, a POST 405, and HEAD gets
   the status and headers of GET without a body.
2. /stats: an admin's private "/stats" and "/stats@bot" in a group get the statistics; a
   non-admin's "/stats" gets the same reply as any unknown command, and an admin's bare
   "/stats" in a group gets no reply, as unknown commands there do. Each of these commands
   is timed once in the search-time histogram. 17 queries at once from one user: 15 are
   answered, the 16th gets the flood notice, and the notice counts as flood_limited only.
3. Health: getUpdates answered 500 four times in a row turns /healthz to 503 with a one-line
   reason, and it turns back to 200 once polls succeed again.
4. JSON logs (--log-format json --log-level debug): every line of stderr is a JSON object
   with time, level and message, and the lines about an update carry its update_id and
   chat_id. No query text is logged, at debug or above.

The token is never in the binary's output or in a metrics response.

The strict checks of the exposition format (text format 0.0.4): every line is a comment, a
sample or empty at the end; HELP and TYPE come once per family, before its samples, and the
samples of a family are contiguous; label values use only the escapes \\\\, \\" and \\n;
histogram buckets have increasing "le" bounds, cumulative counts and a last "+Inf" bucket equal
to _count; counter names end in _total, and every name starts with tgsearch_.

Usage: test_metrics.py --binary build/app/tgsearch --fixtures tests/fixtures
Prints one line per failed check and a final "N passed, N failed"; exits 1 on any failure.
Needs Debian's python3-prometheus-client, which .ci/run installs.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import re
import socket
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

# Importing the sibling modules must not leave __pycache__ in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_bot_api import (FakeBotApi, SentMessage, group_chat, private_chat)  # noqa: E402
from harness import (BOT_USERNAME, TOKEN, BinaryProcess, Checks, Deadline,  # noqa: E402
                     child_env, describe_exit, start_watchdog)

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    # Debian's package installs for /usr/bin/python3, whose folder another Python (such as a
    # pyenv one) does not search.
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        text_string_to_metric_families = None

OVERALL_DEADLINE_SECONDS = 170
POLL_TIMEOUT_SECONDS = 2
ADMIN_ID = 4242
USER_ID = 5151
CORPUS_DOCUMENTS = 218          # tests/fixtures/bot_corpus.jsonl
RING_CAPACITY = 1024            # the default of --ring-capacity
INLINE_RING_CAPACITY = 256      # inline_ring_capacity in app/search_service.hpp
# Words that must never reach the log, at any level: they are only in users' queries.
SECRET_QUERY_WORDS = ("zanzibarquux", "kumquatflux")
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_VALUE = r'"(?:[^"\\\n]|\\\\|\\"|\\n)*"'
LABEL = rf"[a-zA-Z_][a-zA-Z0-9_]*={LABEL_VALUE}"
SAMPLE_VALUE = r"(?:[+-]?Inf|NaN|[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
SAMPLE_LINE = re.compile(rf"({METRIC_NAME})(?:\{{((?:{LABEL})(?:,{LABEL})*)?\}})? "
                         rf"({SAMPLE_VALUE})")
LABEL_PAIR = re.compile(rf"([a-zA-Z_][a-zA-Z0-9_]*)=({LABEL_VALUE})")
HELP_LINE = re.compile(rf"# HELP ({METRIC_NAME}) ((?:[^\\\n]|\\\\|\\n)*)")
TYPE_LINE = re.compile(rf"# TYPE ({METRIC_NAME}) (counter|gauge|histogram|summary|untyped)")


# ------------------------------------------------------------------------------------------
# HTTP and the exposition format

def http_get(port: int, path: str, method: str = "GET") -> tuple[int, dict[str, str], str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        body = response.read().decode("utf-8")
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, body
    finally:
        connection.close()


def raw_head(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    """Send HEAD `path` with "Connection: close" and read until the server closes. Return
    the status, the headers and every byte after the header, which must be none."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(f"HEAD {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Connection: close\r\n\r\n".encode())
        received = b""
        while chunk := connection.recv(4096):
            received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, rest


def unescape_label(value: str) -> str:
    """Return a quoted label value without its quotes and escapes."""
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value[1:-1])


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def strict_parse(text: str) -> tuple[list[str], Samples]:
    """Check `text` against the rules of the module docstring. Return the problems found and
    the samples by (name, sorted labels)."""
    problems: list[str] = []
    samples: Samples = {}
    if not text.endswith("\n"):
        problems.append("the body does not end with a line feed")
    types: dict[str, str] = {}
    helps: set[str] = set()
    finished: set[str] = set()     # families whose samples have ended
    current = ""
    histogram_rows: dict[tuple[str, tuple], list[tuple[float, float]]] = {}

    def family_of(name: str) -> str:
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[:-len(suffix)] if name.endswith(suffix) else ""
            if base and types.get(base) == "histogram":
                return base
        return name

    for number, line in enumerate(text.split("\n")[:-1], start=1):
        where = f"line {number} {line!r}"
        if line.startswith("#"):
            match = HELP_LINE.fullmatch(line) or TYPE_LINE.fullmatch(line)
            if match is None:
                problems.append(f"{where}: not a valid HELP or TYPE line")
                continue
            name = match.group(1)
            if name in finished or (current and name != current and name in types):
                problems.append(f"{where}: comes after the samples of {name}")
            if line.startswith("# HELP"):
                if name in helps:
                    problems.append(f"{where}: a second HELP for {name}")
                helps.add(name)
            else:
                if name in types:
                    problems.append(f"{where}: a second TYPE for {name}")
                types[name] = match.group(2)
            if current and current != name:
                finished.add(current)
            current = name
            continue
        match = SAMPLE_LINE.fullmatch(line)
        if match is None:
            problems.append(f"{where}: not a valid sample line")
            continue
        name, label_text, value_text = match.groups()
        family = family_of(name)
        if family not in types:
            problems.append(f"{where}: a sample before the TYPE of {family}")
        if family in finished or (current and family != current):
            problems.append(f"{where}: the samples of {family} are not contiguous")
        if current and current != family:
            finished.add(current)
        current = family
        labels = [(key, unescape_label(value))
                  for key, value in LABEL_PAIR.findall(label_text or "")]
        if len({key for key, _ in labels}) != len(labels):
            problems.append(f"{where}: a label name repeats")
        value = float(value_text.replace("Inf", "inf"))
        if not name.startswith("tgsearch_"):
            problems.append(f"{where}: the name lacks the tgsearch_ prefix")
        if types.get(family) == "counter" and not name.endswith("_total"):
            problems.append(f"{where}: a counter name that does not end in _total")
        key = (name, tuple(sorted(labels)))
        if key in samples:
            problems.append(f"{where}: a repeated sample")
        samples[key] = value
        if name.endswith("_bucket") and types.get(family) == "histogram":
            le = dict(labels).get("le")
            if le is None:
                problems.append(f"{where}: a bucket without le")
                continue
            rest = tuple(sorted((k, v) for k, v in labels if k != "le"))
            histogram_rows.setdefault((family, rest), []).append(
                (float(le.replace("Inf", "inf")), value))

    for (family, labels), rows in histogram_rows.items():
        where = f"histogram {family}{dict(labels)}"
        bounds = [bound for bound, _ in rows]
        counts = [count for _, count in rows]
        if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
            problems.append(f"{where}: le bounds are not increasing: {bounds}")
        if counts != sorted(counts):
            problems.append(f"{where}: bucket counts are not cumulative: {counts}")
        if not bounds or bounds[-1] != math.inf:
            problems.append(f"{where}: the last bucket is not +Inf")
        total = samples.get((f"{family}_count", labels))
        if total is None or not counts or counts[-1] != total:
            problems.append(f"{where}: +Inf bucket {counts[-1:]} differs from _count {total}")
        if (f"{family}_sum", labels) not in samples:
            problems.append(f"{where}: no _sum")
    return problems, samples


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def scrape(port: int, checks: Checks, name: str) -> Samples:
    """Fetch /metrics, check its format both ways, and return the samples."""
    status, headers, body = http_get(port, "/metrics")
    checks.check(status == 200, f"{name}: /metrics answers 200", status)
    checks.check(headers.get("content-type") == PROMETHEUS_CONTENT_TYPE,
                 f"{name}: /metrics has the Prometheus content type", headers.get("content-type"))
    checks.check(TOKEN.split(":")[1] not in body, f"{name}: /metrics does not show the token")
    problems, samples = strict_parse(body)
    checks.check(not problems, f"{name}: /metrics passes the strict format checks",
                 "\n    ".join([""] + problems[:10]))
    if text_string_to_metric_families is None:
        checks.check(False, f"{name}: prometheus_client is installed",
                     "install python3-prometheus-client")
    else:
        try:
            families = list(text_string_to_metric_families(body))
            parsed = sum(len(family.samples) for family in families)
            checks.check(parsed == len(samples),
                         f"{name}: prometheus_client reads every sample",
                         f"{parsed} of {len(samples)}")
        except Exception as error:  # the parser raises ValueError and others
            checks.check(False, f"{name}: prometheus_client parses /metrics", repr(error))
    return samples


def wait_health(port: int, expected: int, deadline: Deadline,
                seconds: float) -> tuple[int, str]:
    """Poll /healthz until its status is `expected` or the time is up. Return the last
    status and body."""
    end = time.monotonic() + deadline.bound(seconds)
    status, body = 0, ""
    while True:
        status, _, body = http_get(port, "/healthz")
        if status == expected or time.monotonic() >= end:
            return status, body
        time.sleep(0.2)


# ------------------------------------------------------------------------------------------
# The bot

def start_bot(binary: Path, fixtures: Path, fake: FakeBotApi, workdir: Path, name: str,
              extra: list[str]) -> BinaryProcess:
    args = [str(binary), "--corpus", str(fixtures / "bot_corpus.jsonl"), "--api-url", fake.url,
            "--workers", "2", "--poll-timeout", str(POLL_TIMEOUT_SECONDS),
            "--shutdown-timeout", "5", "--metrics", "127.0.0.1:0",
            "--admins", f"{ADMIN_ID}, 777", *extra]
    return BinaryProcess(args, child_env(TOKEN), workdir, name)


def metrics_port(bot: BinaryProcess, deadline: Deadline, message_of: Callable[[str], str]) -> int:
    """Wait for the line that logs the metrics server's address and return its port."""
    end = time.monotonic() + deadline.bound(30)
    while time.monotonic() < end and not bot.exited():
        for line in bot.stderr().splitlines():
            match = re.search(r"listening for metrics requests on 127\.0\.0\.1:(\d+) ",
                              message_of(line))
            if match:
                return int(match.group(1))
        time.sleep(0.1)
    raise RuntimeError(f"no metrics address in the log ({bot.exit_status()});"
                       f"{bot.stderr_tail()}")


def stop_bot(bot: BinaryProcess, checks: Checks, deadline: Deadline, name: str) -> None:
    bot.terminate()
    exit_code = bot.wait(deadline.bound(15))
    checks.check(exit_code == 0, f"{name}: SIGTERM stops the bot with exit code 0",
                 f"{describe_exit(exit_code)};{bot.stderr_tail()}")
    if exit_code is None:
        bot.kill()


def replies_in(fake: FakeBotApi, chat_id: int) -> list[SentMessage]:
    return [message for message in fake.sent_messages() if message.chat_id == chat_id]


def wait_replies(fake: FakeBotApi, chat_id: int, count: int, deadline: Deadline,
                 seconds: float = 15) -> list[SentMessage]:
    fake.wait_for(lambda api: len(replies_in(api, chat_id)) >= count, deadline.bound(seconds))
    return replies_in(fake, chat_id)


def wait_confirmed(fake: FakeBotApi, deadline: Deadline) -> bool:
    """Wait until every pushed update is confirmed, so that the bot has finished them all."""
    return fake.wait_for(lambda api: not api.pending_update_ids(), deadline.bound(20))


# ------------------------------------------------------------------------------------------
# Run 1: metrics, /stats and health

def send_traffic(fake: FakeBotApi, checks: Checks, deadline: Deadline) -> dict[str, int]:
    """Send the updates that the metrics are checked against, and return how many of each."""
    chats = [private_chat(9001 + i) for i in range(3)]
    queries = ["nginx reverse proxy", "curl", "git", f"{SECRET_QUERY_WORDS[0]} ssh",
               "vim editor", "redis"]
    # The first reply of the first chat meets a 429 and goes out after retry_after.
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1",
                   parameters={"retry_after": 1}, chat_id=chats[0]["id"])
    for index, query in enumerate(queries):
        fake.push_message(chats[index % len(chats)], query)
    for chat in chats:
        replies = wait_replies(fake, chat["id"], 2, deadline)
        checks.check(len(replies) == 2, f"metrics: chat {chat['id']} gets its 2 replies",
                     len(replies))

    # A search with pages, then a press of its "next page" button.
    pager = private_chat(9101)
    fake.push_message(pager, "server")
    replies = wait_replies(fake, pager["id"], 1, deadline)
    buttons = (replies[0].reply_markup or {}).get("inline_keyboard", [[]])[0] if replies else []
    checks.check(bool(buttons), "metrics: the search for \"server\" has page buttons",
                 replies[0].reply_markup if replies else "no reply")
    if buttons:
        fake.push_callback_query(pager, replies[0].message_id, buttons[-1]["callback_data"])
        fake.wait_for(lambda api: len(api.callback_answers()) >= 1, deadline.bound(10))

    inline_ids = [fake.push_inline_query("nginx"), fake.push_inline_query(SECRET_QUERY_WORDS[1])]
    fake.wait_for(lambda api: len(api.inline_answers()) >= 2, deadline.bound(10))

    # Group chatter not addressed to the bot: received and skipped, never searched.
    chatter_group = group_chat(-4101, "Chatter group")
    fake.push_message(chatter_group, "lunch at noon?",
                      sender={"id": 9201, "is_bot": False, "first_name": "Member"})

    # Types that get no reply: counted, skipped and confirmed.
    edited = fake.make_message_update(chats[1], "edited text")
    fake.push_update({"edited_message": edited["message"]}, ignore_allowed_updates=True)
    fake.push_update({"business_connection": {"id": "bc1", "user": {"id": 1},
                                              "user_chat_id": 1, "date": 1,
                                              "can_reply": False, "is_enabled": True}},
                     ignore_allowed_updates=True)
    checks.check(wait_confirmed(fake, deadline), "metrics: every update is confirmed",
                 fake.pending_update_ids())
    return {"messages": len(queries) + 2, "searched_messages": len(queries) + 1,
            "unaddressed": 1, "callback_queries": 1 if buttons else 0,
            "inline_queries": len(inline_ids), "edited": 1, "other": 1,
            "replies": len(queries) + 1}


def check_counters(samples: Samples, sent: dict[str, int], fake: FakeBotApi,
                   checks: Checks) -> None:
    def expect(name: str, expected: float, **labels: str) -> None:
        actual = sample(samples, name, **labels)
        checks.check(actual == expected, f"metrics: {name}{labels} is {expected}", actual)

    received = "tgsearch_updates_received_total"
    expect(received, sent["messages"], type="message")
    expect(received, sent["callback_queries"], type="callback_query")
    expect(received, sent["inline_queries"], type="inline_query")
    expect(received, sent["edited"], type="edited")
    expect(received, sent["other"], type="other")
    expect("tgsearch_updates_skipped_total", sent["edited"] + sent["other"] + sent["unaddressed"],
           reason="ignored")

    requests = "tgsearch_bot_api_requests_total"
    accepted = len([r for r in fake.requests("sendMessage") if r.status == 200])
    expect(requests, accepted, method="sendMessage", result="ok")
    expect(requests, 1, method="sendMessage", result="error")
    expect("tgsearch_bot_api_errors_total", 1, method="sendMessage", code="429")
    expect("tgsearch_bot_api_rate_limited_total", 1, method="sendMessage")
    expect("tgsearch_bot_api_retries_total", 1, method="sendMessage")
    expect(requests, 1, method="getMe", result="ok")
    expect(requests, 1, method="setMyCommands", result="ok")
    expect(requests, sent["inline_queries"], method="answerInlineQuery", result="ok")
    expect(requests, sent["callback_queries"], method="editMessageText", result="ok")
    expect(requests, sent["callback_queries"], method="answerCallbackQuery", result="ok")

    # A long poll in flight has reached the fake but not yet come back to the bot.
    polls = len([r for r in fake.requests("getUpdates") if r.status == 200])
    counted = sample(samples, requests, method="getUpdates", result="ok") or 0
    checks.check(polls - 1 <= counted <= polls,
                 "metrics: getUpdates calls match the fake's count, give or take the one in "
                 "flight", f"{counted} counted, {polls} at the fake")
    last_poll = sample(samples, "tgsearch_last_successful_poll_timestamp_seconds") or 0
    checks.check(0 <= time.time() - last_poll < POLL_TIMEOUT_SECONDS + 5,
                 "metrics: the last successful poll is recent", time.time() - last_poll)

    replies = "tgsearch_replies_total"
    expect(replies, sent["replies"], method="sendMessage", result="ok")
    expect(replies, 0, method="sendMessage", result="error")
    expect(replies, sent["inline_queries"], method="answerInlineQuery", result="ok")
    expect(replies, sent["callback_queries"], method="editMessageText", result="ok")

    latency = "tgsearch_reply_latency_seconds_count"
    expect(latency, sent["replies"], type="message")
    expect(latency, sent["inline_queries"], type="inline_query")
    expect(latency, sent["callback_queries"], type="callback_query")
    # The reply that met the 429 waited retry_after (1 s) before Telegram accepted it.
    slow = sample(samples, "tgsearch_reply_latency_seconds_bucket", type="message", le="1")
    checks.check(slow is not None and slow <= sent["replies"] - 1,
                 "metrics: the reply held back by a 429 is slower than 1 s", slow)
    search = "tgsearch_search_duration_seconds_count"
    expect(search, sent["searched_messages"], type="message")
    expect(search, sent["inline_queries"], type="inline_query")
    expect(search, sent["callback_queries"], type="callback_query")

    expect("tgsearch_ring_capacity", RING_CAPACITY, ring="messages")
    expect("tgsearch_ring_capacity", INLINE_RING_CAPACITY, ring="inline_queries")
    expect("tgsearch_ring_depth", 0, ring="messages")
    expect("tgsearch_updates_in_flight", 0)
    expect("tgsearch_index_documents", CORPUS_DOCUMENTS)
    terms = sample(samples, "tgsearch_index_terms") or 0
    index_bytes = sample(samples, "tgsearch_index_bytes") or 0
    checks.check(terms > 1000 and index_bytes > 100_000,
                 "metrics: the index has terms and bytes", (terms, index_bytes))
    expect("tgsearch_healthy", 1)
    started = sample(samples, "tgsearch_start_time_seconds") or 0
    uptime = sample(samples, "tgsearch_uptime_seconds") or 0
    checks.check(0 < time.time() - started < 120 and 0 < uptime < 120,
                 "metrics: start time and uptime fit the run", (started, uptime))
    redis = [name for name, _ in samples if name.startswith("tgsearch_redis")]
    checks.check(not redis, "metrics: no Redis metrics without --redis", redis[:3])


def check_stats(fake: FakeBotApi, checks: Checks, deadline: Deadline) -> None:
    admin = private_chat(ADMIN_ID)
    fake.push_message(admin, "/stats")
    replies = wait_replies(fake, ADMIN_ID, 1, deadline)
    text = replies[0].text if replies else ""
    for part in ("Statistics", "Uptime:", "/s since start", "Reply latency", "p99",
                 "Search time", f"of {RING_CAPACITY} messages queued",
                 "Redis spill-over: no Redis configured",
                 f"Index: {CORPUS_DOCUMENTS} documents"):
        checks.check(part in text, f"stats: the admin's reply shows {part!r}", text)

    user = private_chat(USER_ID)
    fake.push_message(user, "/stats")
    fake.push_message(user, "/nosuchcommand")
    replies = wait_replies(fake, USER_ID, 2, deadline)
    checks.check(len(replies) == 2 and replies[0].text == replies[1].text
                 and replies[0].text.startswith("Unknown command"),
                 "stats: another user's /stats is an unknown command",
                 [reply.text[:60] for reply in replies])

    group = group_chat(-4001, "Stats group")
    admin_sender = {"id": ADMIN_ID, "is_bot": False, "first_name": "Admin"}
    user_sender = {"id": USER_ID, "is_bot": False, "first_name": "User"}
    # A bare command in a group may be meant for another bot, so it gets no reply.
    fake.push_message(group, "/stats", sender=admin_sender)
    fake.push_message(group, f"/stats@{BOT_USERNAME}", sender=user_sender)
    asked = fake.push_message(group, f"/stats@{BOT_USERNAME}", sender=admin_sender)
    replies = wait_replies(fake, group["id"], 2, deadline)
    checks.check(len(replies) == 2, "stats: two of the three group commands get replies",
                 [reply.text[:60] for reply in replies])
    if len(replies) == 2:
        checks.check(replies[0].text.startswith("Unknown command"),
                     "stats: a non-admin's /stats@bot in a group is an unknown command",
                     replies[0].text[:60])
        checks.check(replies[1].text.startswith("Statistics"),
                     "stats: an admin's /stats@bot in a group gets the statistics",
                     replies[1].text[:60])
        checks.check(replies[1].reply_to_message_id == asked["message"]["message_id"],
                     "stats: the group reply quotes the command",
                     replies[1].reply_to_message_id)


def check_stats_searched(port: int, before: Samples, checks: Checks) -> None:
    """Check that each of the 6 messages check_stats sends, all addressed to the bot, is in
    the search-time histogram once, /stats answers included."""
    search = "tgsearch_search_duration_seconds_count"
    after = scrape(port, checks, "stats")
    added = (sample(after, search, type="message") or 0) - (sample(before, search,
                                                                    type="message") or 0)
    checks.check(added == 6, "stats: each command, /stats included, is timed once", added)


def check_flood_counted_once(port: int, fake: FakeBotApi, checks: Checks,
                             deadline: Deadline) -> None:
    """Send 17 queries at once from one user: the default limit searches a burst of 15, the
    16th gets the flood notice and the 17th is dropped. The notice is no reply in the
    metrics, so each update is counted under one outcome."""
    before = scrape(port, checks, "flood")
    chat = private_chat(9301)
    for index in range(17):
        fake.push_message(chat, f"nginx {index}")
    checks.check(wait_confirmed(fake, deadline), "flood: every update is confirmed",
                 fake.pending_update_ids())
    replies = replies_in(fake, chat["id"])
    checks.check(len(replies) == 16, "flood: 15 replies and one notice are sent", len(replies))
    after = scrape(port, checks, "flood")

    def added(name: str, **labels: str) -> float:
        return (sample(after, name, **labels) or 0) - (sample(before, name, **labels) or 0)

    for name, labels, expected in (
            ("tgsearch_updates_received_total", {"type": "message"}, 17),
            ("tgsearch_updates_skipped_total", {"reason": "flood_limited"}, 2),
            ("tgsearch_replies_total", {"method": "sendMessage", "result": "ok"}, 15),
            ("tgsearch_reply_latency_seconds_count", {"type": "message"}, 15),
            ("tgsearch_search_duration_seconds_count", {"type": "message"}, 15),
            ("tgsearch_bot_api_requests_total", {"method": "sendMessage", "result": "ok"}, 16)):
        checks.check(added(name, **labels) == expected,
                     f"flood: {name}{labels} grows by {expected}", added(name, **labels))


def check_head(port: int, checks: Checks) -> None:
    """HEAD gets the status and headers of GET without a body, errors included."""
    for path in ("/metrics", "/healthz"):
        status, headers, rest = raw_head(port, path)
        get_status, get_headers, get_body = http_get(port, path)
        checks.check(status == get_status == 200, f"head: HEAD {path} answers as GET",
                     (status, get_status))
        checks.check(headers.get("content-type") == get_headers.get("content-type"),
                     f"head: HEAD {path} has the content type of GET", headers)
        checks.check("content-length" in headers, f"head: HEAD {path} has a Content-Length",
                     headers)
        checks.check(rest == b"", f"head: HEAD {path} has no body", rest[:60])
    status, _, rest = raw_head(port, "/nope")
    checks.check(status == 404 and rest == b"", "head: HEAD /nope answers 404 without a body",
                 (status, rest[:60]))


def check_health_flip(port: int, fake: FakeBotApi, checks: Checks, deadline: Deadline) -> None:
    fake.fail_next("getUpdates", 500, "Internal Server Error", times=4)
    status, body = wait_health(port, 503, deadline, 20)
    checks.check(status == 503, "health: failing polls turn /healthz to 503", (status, body))
    checks.check(body.endswith("\n") and "\n" not in body[:-1] and "getUpdates" in body,
                 "health: the 503 gives a one-line reason naming getUpdates", body)
    checks.check(TOKEN.split(":")[1] not in body, "health: the reason does not show the token")
    status, body = wait_health(port, 200, deadline, 40)
    checks.check(status == 200 and body == "ok\n",
                 "health: /healthz turns back to 200 once polls succeed", (status, body))


def run_metrics(binary: Path, fixtures: Path, workdir: Path, checks: Checks,
                deadline: Deadline) -> None:
    fake = FakeBotApi(TOKEN, username=BOT_USERNAME).start()
    bot = start_bot(binary, fixtures, fake, workdir, "metrics", ["--log-level", "info"])
    try:
        port = metrics_port(bot, deadline, lambda line: line)
        checks.check(port != 0, "metrics: the log names the port bound for port 0", port)
        status, body = wait_health(port, 200, deadline, 20)
        checks.check(status == 200 and body == "ok\n", "metrics: /healthz answers 200 ok",
                     (status, body))
        sent = send_traffic(fake, checks, deadline)
        samples = scrape(port, checks, "metrics")
        check_counters(samples, sent, fake, checks)

        for path, method, expected in (("/nope", "GET", 404), ("/metrics", "POST", 405),
                                       ("/healthz", "DELETE", 405)):
            status, _, _ = http_get(port, path, method)
            checks.check(status == expected, f"metrics: {method} {path} answers {expected}",
                         status)

        check_head(port, checks)
        before_stats = scrape(port, checks, "stats")
        check_stats(fake, checks, deadline)
        checks.check(wait_confirmed(fake, deadline), "stats: every update is confirmed",
                     fake.pending_update_ids())
        check_stats_searched(port, before_stats, checks)
        check_flood_counted_once(port, fake, checks, deadline)
        check_health_flip(port, fake, checks, deadline)
        samples = scrape(port, checks, "health")
        checks.check(sample(samples, "tgsearch_bot_api_errors_total", method="getUpdates",
                            code="500") == 4,
                     "health: the four 500s of getUpdates are counted",
                     sample(samples, "tgsearch_bot_api_errors_total", method="getUpdates",
                            code="500"))
        stop_bot(bot, checks, deadline, "metrics")
        stderr = bot.stderr()
        for word in SECRET_QUERY_WORDS:
            checks.check(word not in stderr, f"metrics: the query word {word} is not logged")
        checks.check(TOKEN.split(":")[1] not in bot.stdout() + stderr,
                     "metrics: the token is not in the output")
    finally:
        bot.kill()
        fake.stop()


# ------------------------------------------------------------------------------------------
# Run 2: JSON log lines

def run_json_logs(binary: Path, fixtures: Path, workdir: Path, checks: Checks,
                  deadline: Deadline) -> None:
    fake = FakeBotApi(TOKEN, username=BOT_USERNAME).start()
    bot = start_bot(binary, fixtures, fake, workdir, "json",
                    ["--log-format", "json", "--log-level", "debug"])

    def message_of(line: str) -> str:
        try:
            return str(json.loads(line).get("message", ""))
        except ValueError:
            return ""

    try:
        metrics_port(bot, deadline, message_of)
        chats = [private_chat(9201), group_chat(-1009201)]
        updates = [fake.push_message(chats[0], f"{SECRET_QUERY_WORDS[0]} nginx"),
                   fake.push_message(chats[1], f"/search {SECRET_QUERY_WORDS[1]} curl")]
        for chat in chats:
            replies = wait_replies(fake, chat["id"], 1, deadline)
            checks.check(len(replies) == 1, f"json: chat {chat['id']} gets its reply",
                         len(replies))
        wait_confirmed(fake, deadline)
        stop_bot(bot, checks, deadline, "json")

        lines = bot.stderr().splitlines()
        checks.check(len(lines) >= 5, "json: the bot logs several lines", len(lines))
        objects: list[dict[str, Any]] = []
        for line in lines:
            try:
                parsed = json.loads(line)
            except ValueError:
                checks.check(False, "json: every line parses as JSON", line[:200])
                continue
            if not (isinstance(parsed, dict) and isinstance(parsed.get("message"), str)
                    and isinstance(parsed.get("level"), str)
                    and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
                                     str(parsed.get("time"))) is not None):
                checks.check(False, "json: every line has time, level and message", line[:200])
                continue
            objects.append(parsed)
        checks.check(len(objects) == len(lines), "json: every line is a well-formed object",
                     f"{len(objects)} of {len(lines)}")

        for update in updates:
            update_id = update["update_id"]
            chat_id = update["message"]["chat"]["id"]
            about = [obj for obj in objects if obj.get("update_id") == update_id]
            received = [obj for obj in about
                        if obj["message"] == f"received update {update_id} in chat {chat_id}"]
            checks.check(len(received) == 1 and received[0].get("chat_id") == chat_id,
                         f"json: the line receiving update {update_id} carries its chat_id",
                         received or about[:3])
            sent = [obj for obj in about if obj["message"].startswith("sent part 1 of")]
            checks.check(len(sent) == 1 and sent[0].get("chat_id") == chat_id,
                         f"json: the line sending the reply to {update_id} carries its ids",
                         sent or about[:3])
        for word in SECRET_QUERY_WORDS:
            checks.check(all(word not in obj["message"] for obj in objects),
                         f"json: the query word {word} is logged at no level")
        checks.check(TOKEN.split(":")[1] not in bot.stdout() + bot.stderr(),
                     "json: the token is not in the output")
    finally:
        bot.kill()
        fake.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True, type=Path)
    parser.add_argument("--fixtures", required=True, type=Path)
    args = parser.parse_args()
    # The binary runs in a temporary directory, so a relative path would not find it.
    binary = args.binary.resolve()
    fixtures = args.fixtures.resolve()
    checks = Checks()
    watchdog = start_watchdog(checks, OVERALL_DEADLINE_SECONDS)
    deadline = Deadline(OVERALL_DEADLINE_SECONDS - 5)
    started = time.monotonic()
    try:
        checks.check(text_string_to_metric_families is not None,
                     "prometheus_client is installed", "install python3-prometheus-client")
        with tempfile.TemporaryDirectory(prefix="tgsearch-metrics-") as temp:
            workdir = Path(temp)
            run_metrics(binary, fixtures, workdir, checks, deadline)
            run_json_logs(binary, fixtures, workdir, checks, deadline)
    except Exception:
        checks.check(False, "the test ran without an exception", traceback.format_exc())
    finally:
        for binary_process in BinaryProcess.running:
            binary_process.kill()
        watchdog.cancel()
    print(f"took {time.monotonic() - started:.1f} s", flush=True)
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
