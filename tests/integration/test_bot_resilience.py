#!/usr/bin/env python3
"""Tests of tgsearch's Telegram client under faults, flood limits and proxies.

Each scenario runs the real binary against fake_bot_api.py on 127.0.0.1:

* faults: getUpdates fails with 500 three times, 429 with retry_after, 409 twice,
  malformed JSON, a TCP reset halfway through the response, and a connection that never
  responds. Unknown update types, a message without a chat and a 1 MB text. sendMessage
  answered with 429 for one chat, 403, 400 with migrate_to_chat_id, "can't parse
  entities", 500 and a reset, and a slow sendMessage while polling goes on. The bot must
  recover from each, answer every good message once, confirm every update, log each fault
  and exit 0 on SIGTERM.
* flood: the fake enforces Telegram's flood limits. A burst of 1,000 queries from 1,000 chats
  must cause no 429 and finish close to 1000 / 30 s. Then one user sends 30 queries at once
  and gets 15 replies and one notice, while another user's query is answered at once.
* proxies: SOCKS5 with user/password (host names resolved by the proxy) from --proxy, HTTP
  CONNECT with Basic credentials from http_proxy, NO_PROXY, a proxy that is down, a wrong
  proxy password, unsupported schemes, and proxy URLs with an unencoded "@" in the password
  or an invalid port, whose errors must name that problem.

In every run the token and the proxy password must not appear in stdout or stderr.

Usage: test_bot_resilience.py --binary build/app/tgsearch --fixtures tests/fixtures
       [--scenario faults|flood|proxies]   (default: all three)
Prints one line per failed check and a final "N passed, N failed"; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_bot_api import (CONFLICT_DESCRIPTION, FakeBotApi, HttpConnectProxy,  # noqa: E402
                          Socks5Proxy, group_chat, private_chat, supergroup_chat)
from test_telegram_bot import (BOT_USERNAME, TOKEN, BinaryProcess, Checks,  # noqa: E402
                               Deadline, child_env, describe_exit, start_watchdog)

PROXY_USER = "tguser"
PROXY_PASSWORD = "PROXY-pass-7781xyz"
WRONG_PROXY_PASSWORD = "WRONG-pass-5519qrs"
# A password with an unencoded "@", which the binary must reject without printing any of it.
AT_SIGN_PASSWORD_PARTS = ("p4ss-8812", "w0rd-6604")
SECRETS = (TOKEN, TOKEN.split(":")[1], PROXY_PASSWORD, WRONG_PROXY_PASSWORD,
           *AT_SIGN_PASSWORD_PARTS)

# The client waits this long past --poll-timeout before it drops a silent long poll.
POLL_READ_MARGIN_SECONDS = 10
SHUTDOWN_TIMEOUT_SECONDS = 10
SCENARIO_DEADLINES = {"faults": 150, "flood": 200, "proxies": 100}

# The flood burst: Telegram allows about 30 messages per second, so 1,000 replies take at
# least this long.
BURST_CHATS = 1000
BURST_GROUPS = 100
MIN_BURST_SECONDS = BURST_CHATS / 30
# User flood control: the binary's default burst before queries are dropped.
USER_QUERY_BURST = 15
FLOOD_NOTICE_WORDS = "faster than I can answer"


# ------------------------------------------------------------------------------------------
# Helpers

def start_bot(fake: FakeBotApi, workdir: Path, name: str, checks: Checks, deadline: Deadline,
              extra_args: list[str] | None = None, env: dict[str, str] | None = None,
              api_url: str | None = None, wait_for_poll: bool = True) -> BinaryProcess:
    args = [str(ARGS.binary), "--corpus", str(ARGS.fixtures / "bot_corpus.jsonl"),
            "--api-url", api_url or fake.url, "--workers", "2", "--poll-timeout", "1",
            "--shutdown-timeout", str(SHUTDOWN_TIMEOUT_SECONDS), *(extra_args or [])]
    binary = BinaryProcess(args, env or child_env(TOKEN), workdir, name)
    if wait_for_poll:
        polling = fake.wait_for(lambda api: bool(api.requests("getUpdates")) or binary.exited(),
                                deadline.bound(20))
        checks.check(polling and not binary.exited(), f"{name}: the bot starts polling",
                     f"{binary.exit_status()};{binary.stderr_tail()}")
    return binary


def stop_bot(binary: BinaryProcess, checks: Checks, deadline: Deadline, name: str) -> None:
    binary.terminate()
    exit_code = binary.wait(deadline.bound(SHUTDOWN_TIMEOUT_SECONDS + 5))
    checks.check(exit_code == 0, f"{name}: SIGTERM stops the bot with exit code 0",
                 f"{describe_exit(exit_code)};{binary.stderr_tail()}")
    check_secrets_hidden(binary, checks, name)


def check_secrets_hidden(binary: BinaryProcess, checks: Checks, name: str) -> None:
    """The token and the proxy passwords must not be anywhere in the output."""
    for stream_name, text in (("stdout", binary.stdout()), ("stderr", binary.stderr())):
        leaks = [index + 1 for index, line in enumerate(text.splitlines())
                 if any(secret in line for secret in SECRETS)]
        checks.check(not leaks, f"{name}: no token or proxy password in {stream_name}",
                     f"found on lines {leaks[:5]}")


def wait_replies(fake: FakeBotApi, chat_id: int, count: int, seconds: float,
                 deadline: Deadline) -> list[Any]:
    fake.wait_for(lambda api: len([m for m in api.sent_messages() if m.chat_id == chat_id])
                  >= count, deadline.bound(seconds))
    return [message for message in fake.sent_messages() if message.chat_id == chat_id]


def wait_faults_fired(fake: FakeBotApi, seconds: float, deadline: Deadline) -> bool:
    return fake.wait_for(lambda api: api.pending_faults() == 0, deadline.bound(seconds))


def query_round_trip(fake: FakeBotApi, chat_id: int, checks: Checks, deadline: Deadline,
                     name: str, text: str = "nginx reverse proxy") -> bool:
    """Push one query and check that it gets its reply: the bot is polling normally."""
    before = len([m for m in fake.sent_messages() if m.chat_id == chat_id])
    fake.push_message(private_chat(chat_id), text)
    replies = wait_replies(fake, chat_id, before + 1, 15, deadline)
    return checks.check(len(replies) == before + 1, f"{name}: a query is answered afterwards",
                        f"{len(replies) - before} replies")


def failed_poll_gaps(fake: FakeBotApi, fault: str, status: int) -> list[float]:
    """Seconds from each failed getUpdates response to the next getUpdates request."""
    polls = fake.requests("getUpdates")
    gaps = []
    for index, record in enumerate(polls[:-1]):
        if record.fault == fault and record.status == status:
            gaps.append(polls[index + 1].time_received - record.time_done)
    return gaps


# ------------------------------------------------------------------------------------------
# Scenario: faults

def run_faults(workdir: Path, checks: Checks, deadline: Deadline) -> None:
    print("== faults: errors, resets, silent connections and odd updates", flush=True)
    fake = FakeBotApi(TOKEN, username=BOT_USERNAME, first_update_id=5000).start()
    binary = None
    try:
        binary = start_bot(fake, workdir, "faults", checks, deadline,
                           ["--log-level", "debug"])
        poll_faults(fake, binary, checks, deadline)
        update_faults(fake, binary, checks, deadline)
        send_faults(fake, binary, checks, deadline)
        slow_send(fake, checks, deadline)

        last_update = fake.push_message(private_chat(8100), "curl")["update_id"]
        wait_replies(fake, 8100, 1, 10, deadline)
        stop_bot(binary, checks, deadline, "faults")
        checks.check(fake.confirmed_offset == last_update + 1 and not fake.pending_update_ids(),
                     "faults: every update is confirmed at the end",
                     f"offset {fake.confirmed_offset}, last update {last_update}, pending "
                     f"{fake.pending_update_ids()[:5]}")
    finally:
        if binary is not None:
            binary.kill()
        fake.stop()


def poll_faults(fake: FakeBotApi, binary: BinaryProcess, checks: Checks,
                deadline: Deadline) -> None:
    # 500 three times: exponential backoff with jitter, then recovery.
    fake.fail_next("getUpdates", 500, "Internal Server Error", times=3)
    checks.check(wait_faults_fired(fake, 15, deadline), "500: the bot polls again after a 500",
                 fake.pending_faults())
    query_round_trip(fake, 8001, checks, deadline, "500 x3")
    gaps = failed_poll_gaps(fake, "error", 500)
    print(f"   gaps after three 500s: {[round(gap, 2) for gap in gaps]} s", flush=True)
    checks.check(len(gaps) == 3 and gaps[0] >= 0.2 and gaps[2] > gaps[0] and gaps[2] >= 0.9,
                 "500: retries back off exponentially (0.25-0.5 s, then 1-2 s by the third)",
                 gaps)

    # 429 on getUpdates: the poller waits retry_after.
    fake.fail_next("getUpdates", 429, "Too Many Requests: retry after 2",
                   parameters={"retry_after": 2})
    wait_faults_fired(fake, 15, deadline)
    query_round_trip(fake, 8002, checks, deadline, "getUpdates 429")
    gaps = failed_poll_gaps(fake, "error", 429)
    checks.check(len(gaps) == 1 and gaps[0] >= 1.9, "getUpdates 429: the bot waits retry_after "
                 "(2 s) before polling again", gaps)

    # 409 twice: logged once, at least 3 s between attempts.
    fake.fail_next("getUpdates", 409, CONFLICT_DESCRIPTION, times=2)
    wait_faults_fired(fake, 20, deadline)
    query_round_trip(fake, 8003, checks, deadline, "409")
    gaps = failed_poll_gaps(fake, "error", 409)
    checks.check(len(gaps) == 2 and min(gaps) >= 2.9, "409: the bot backs off at least 3 s",
                 gaps)
    conflict_lines = [line for line in binary.stderr().splitlines()
                      if "another instance" in line]
    checks.check(len(conflict_lines) == 1, "409: the conflict is logged once",
                 conflict_lines[:3])

    # Malformed JSON in a 200 response.
    fake.respond_raw_next("getUpdates", b'{"ok":true,"result":[{"update_id":')
    wait_faults_fired(fake, 10, deadline)
    query_round_trip(fake, 8004, checks, deadline, "malformed JSON")
    checks.check("getUpdates returned a body that is not" in binary.stderr(),
                 "malformed JSON: the bot logs the unusable body", binary.stderr_tail())

    # A reset halfway through the response.
    connections_before = fake.connection_count()
    fake.reset_next("getUpdates")
    wait_faults_fired(fake, 10, deadline)
    query_round_trip(fake, 8005, checks, deadline, "getUpdates reset")
    checks.check(fake.connection_count() > connections_before,
                 "getUpdates reset: the bot opens a new connection",
                 f"{connections_before} -> {fake.connection_count()}")

    # A connection that accepts the request and then never responds.
    fake.hang_next("getUpdates")
    wait_faults_fired(fake, 10, deadline)
    hung = [record for record in fake.requests("getUpdates") if record.fault == "hang"][-1]
    later = fake.wait_for(lambda api: api.requests("getUpdates")[-1].seq > hung.seq,
                          deadline.bound(1 + POLL_READ_MARGIN_SECONDS + 8))
    polls = fake.requests("getUpdates")
    next_poll = polls[-1] if later else None
    waited = next_poll.time_received - hung.time_received if next_poll else None
    checks.check(next_poll is not None and next_poll.connection_id != hung.connection_id
                 and waited is not None and 1 + POLL_READ_MARGIN_SECONDS - 0.5 <= waited
                 <= 1 + POLL_READ_MARGIN_SECONDS + 5,
                 "silent connection: the bot gives up after the read timeout (11 s) and "
                 "polls on a new connection", f"waited {waited} s")
    query_round_trip(fake, 8006, checks, deadline, "silent connection")


def update_faults(fake: FakeBotApi, binary: BinaryProcess, checks: Checks,
                  deadline: Deadline) -> None:
    chat = private_chat(8010)
    unknown_id = fake.push_update({"business_connection": {"id": "b1", "user": {"id": 1}}},
                                  ignore_allowed_updates=True)
    edited_id = fake.push_update({"edited_message": {"message_id": 1, "date": 0, "chat": chat,
                                                     "text": "edited"}},
                                 ignore_allowed_updates=True)
    no_chat_id = fake.push_update({"message": {"message_id": 7, "date": 0, "text": "no chat"}})
    huge = fake.make_message_update(chat, "x" * 1_000_000)
    huge_id = fake.push_update(huge)
    good = fake.push_message(chat, "vi improved editor")
    replies = wait_replies(fake, 8010, 1, 15, deadline)
    checks.check(len(replies) == 1, "odd updates: the good message after them is answered",
                 f"{len(replies)} replies")
    confirmed = fake.wait_for(lambda api: api.confirmed_offset > good["update_id"],
                              deadline.bound(10))
    checks.check(confirmed, "odd updates: the offset moves past all of them",
                 f"offset {fake.confirmed_offset}, good update {good['update_id']}")
    stderr = binary.stderr()
    for update_id, words in ((unknown_id, 'unexpected update type "business_connection"'),
                             (edited_id, 'unexpected update type "edited_message"'),
                             (no_chat_id, "lacks chat.id"),
                             (huge_id, "exceeds Telegram's limit")):
        checks.check(f"skipped update {update_id}: " in stderr and words in stderr,
                     f"odd updates: update {update_id} is logged ({words})",
                     binary.stderr_tail())


def send_faults(fake: FakeBotApi, binary: BinaryProcess, checks: Checks,
                deadline: Deadline) -> None:
    # 429 for one chat: that chat waits retry_after, the next chat is served meanwhile.
    limited, other = 8020, 8021
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 3",
                   parameters={"retry_after": 3}, chat_id=limited)
    fake.push_message(private_chat(limited), "nginx reverse proxy")
    fake.wait_for(lambda api: api.pending_faults() == 0, deadline.bound(10))
    fake.push_message(private_chat(other), "curl")
    limited_replies = wait_replies(fake, limited, 1, 15, deadline)
    other_replies = wait_replies(fake, other, 1, 5, deadline)
    rejected = [r for r in fake.requests("sendMessage") if r.fault == "error"
                and r.params.get("chat_id") == limited]
    checks.check(len(limited_replies) == 1 and len(other_replies) == 1,
                 "sendMessage 429: both chats get their reply",
                 f"{len(limited_replies)} and {len(other_replies)}")
    if limited_replies and other_replies and rejected:
        checks.check(other_replies[0].time < limited_replies[0].time,
                     "sendMessage 429: another chat is served while one waits", "")
        waited = limited_replies[0].time - rejected[0].time_done
        checks.check(waited >= 2.9, "sendMessage 429: the chat waits retry_after (3 s)",
                     f"{waited:.2f} s")

    # 403: the reply is dropped, logged at info, and the next message gets its reply.
    blocked = 8030
    fake.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user",
                   chat_id=blocked)
    fake.push_message(private_chat(blocked), "nginx")
    second = fake.push_message(private_chat(blocked), "curl")
    replies = wait_replies(fake, blocked, 1, 15, deadline)
    checks.check(len(replies) == 1 and fake.wait_for(
                     lambda api: api.confirmed_offset > second["update_id"], deadline.bound(5)),
                 "403: the blocked reply is dropped and the chat goes on", len(replies))
    blocked_lines = [line for line in binary.stderr().splitlines()
                     if f"chat {blocked} blocked the bot" in line]
    checks.check(len(blocked_lines) == 1 and " info " in blocked_lines[0],
                 "403: the drop is logged once at info", blocked_lines)

    # 400 with migrate_to_chat_id: resent once to the supergroup, and later replies go there.
    old_group, new_group = -555001, -1005550010000
    fake.add_chat(supergroup_chat(new_group, "Upgraded group"))
    fake.fail_next("sendMessage", 400, "Bad Request: group chat was upgraded to a supergroup "
                   "chat", parameters={"migrate_to_chat_id": new_group}, chat_id=old_group)
    member = {"id": 777001, "is_bot": False, "first_name": "Member"}
    fake.push_message(group_chat(old_group), "/search nginx reverse proxy", sender=member)
    migrated = wait_replies(fake, new_group, 1, 15, deadline)
    fake.push_message(group_chat(old_group), f"/search@{BOT_USERNAME} curl", sender=member)
    migrated = wait_replies(fake, new_group, 2, 15, deadline)
    to_old = [r for r in fake.requests("sendMessage") if r.params.get("chat_id") == old_group]
    checks.check(len(migrated) == 2 and len(to_old) == 1,
                 "migrate_to_chat_id: the reply moves to the supergroup, later ones go there "
                 "directly", f"{len(migrated)} replies in the supergroup, {len(to_old)} "
                 "requests to the old id")

    # "can't parse entities": resent once as plain text.
    plain_chat = 8040
    fake.fail_next("sendMessage", 400, "Bad Request: can't parse entities: Unsupported start "
                   'tag "x" at byte offset 0', chat_id=plain_chat)
    fake.push_message(private_chat(plain_chat), "nginx reverse proxy")
    replies = wait_replies(fake, plain_chat, 1, 15, deadline)
    checks.check(len(replies) == 1 and replies[0].parse_mode == ""
                 and "<b>" not in replies[0].text and "nginx" in replies[0].text,
                 "can't parse entities: the reply is resent as plain text",
                 [(r.parse_mode, r.text[:80]) for r in replies])

    # 500 twice, then a reset: the reply is retried and arrives once.
    for chat_id, inject in ((8050, lambda: fake.fail_next("sendMessage", 500,
                                                          "Internal Server Error", times=2,
                                                          chat_id=8050)),
                            (8051, lambda: fake.reset_next("sendMessage", chat_id=8051))):
        inject()
        fake.push_message(private_chat(chat_id), "persistent key-value database")
        replies = wait_replies(fake, chat_id, 1, 15, deadline)
        time.sleep(deadline.bound(0.5))
        replies = [m for m in fake.sent_messages() if m.chat_id == chat_id]
        attempts = [r for r in fake.requests("sendMessage") if r.params.get("chat_id") == chat_id]
        checks.check(len(replies) == 1 and len(attempts) >= 2,
                     f"sendMessage {'500' if chat_id == 8050 else 'reset'}: the reply is "
                     "retried and sent once", f"{len(replies)} replies, {len(attempts)} attempts")


def slow_send(fake: FakeBotApi, checks: Checks, deadline: Deadline) -> None:
    """A slow sendMessage delays neither polling nor the other send connections."""
    fake.set_delay("sendMessage", 3.0)
    try:
        slow_chat, next_chat = 8060, 8061
        fake.push_message(private_chat(slow_chat), "nginx")
        fake.wait_for(lambda api: any(r.params.get("chat_id") == slow_chat
                                      for r in api.requests("sendMessage")), deadline.bound(10))
        next_update = fake.push_message(private_chat(next_chat), "curl")
        fake.wait_for(lambda api: any(r.params.get("chat_id") == next_chat
                                      for r in api.requests("sendMessage")), deadline.bound(10))
        slow = next(r for r in fake.requests("sendMessage")
                    if r.params.get("chat_id") == slow_chat)
        delivering = [r for r in fake.requests("getUpdates")
                      if next_update["update_id"] in r.delivered_update_ids]
        parallel = [r for r in fake.requests("sendMessage")
                    if r.params.get("chat_id") == next_chat]
        checks.check(bool(delivering) and (slow.done_seq == 0
                                           or delivering[0].done_seq < slow.done_seq),
                     "slow send: polling goes on while a sendMessage is pending", "")
        checks.check(bool(parallel) and (slow.done_seq == 0 or parallel[0].seq < slow.done_seq)
                     and parallel[0].connection_id != slow.connection_id,
                     "slow send: the next reply goes out on another connection meanwhile", "")
        wait_replies(fake, next_chat, 1, 10, deadline)
    finally:
        fake.set_delay("sendMessage", 0)


# ------------------------------------------------------------------------------------------
# Scenario: flood limits

def run_flood(workdir: Path, checks: Checks, deadline: Deadline) -> None:
    print(f"== flood: {BURST_CHATS} chats at once against Telegram's flood limits", flush=True)
    fake = FakeBotApi(TOKEN, username=BOT_USERNAME, first_update_id=20000).start()
    fake.enable_flood_limits()
    binary = None
    try:
        binary = start_bot(fake, workdir, "flood", checks, deadline)
        updates = []
        for index in range(BURST_CHATS):
            if index < BURST_GROUPS:
                chat = group_chat(-(600000 + index))
                sender = {"id": 900000 + index, "is_bot": False, "first_name": "Member"}
                updates.append(fake.make_message_update(chat, "/search nginx", sender=sender))
            else:
                updates.append(fake.make_message_update(private_chat(100000 + index),
                                                        "transferring data with URL syntax"))
        started = time.monotonic()
        fake.push_updates(updates)
        fake.wait_for(lambda api: len(api.sent_messages()) >= BURST_CHATS,
                      deadline.bound(MIN_BURST_SECONDS * 2 + 20))
        sent = fake.sent_messages()
        finished = max((message.time for message in sent), default=started)
        elapsed = finished - started
        rejections = fake.flood_rejections()
        print(f"   burst: {len(sent)} replies in {elapsed:.1f} s; the minimum is "
              f"{MIN_BURST_SECONDS:.1f} s (ratio {elapsed / MIN_BURST_SECONDS:.3f}); "
              f"{len(rejections)} responses were 429", flush=True)
        chats = {message.chat_id for message in sent}
        checks.check(len(sent) == BURST_CHATS and len(chats) == BURST_CHATS,
                     "burst: every chat gets exactly one reply",
                     f"{len(sent)} replies in {len(chats)} chats")
        checks.check(not rejections, "burst: no 429 from the flood-limited server",
                     rejections[:5])
        checks.check(elapsed <= MIN_BURST_SECONDS * 1.25,
                     "burst: finishes within 1.25 times the minimum", f"{elapsed:.1f} s")

        # One user floods; another user's single query must not wait behind them.
        time.sleep(deadline.bound(1.5))
        flooder, bystander = 4100001, 4100002
        flood_updates = [fake.make_message_update(private_chat(flooder), f"nginx {index}")
                         for index in range(30)]
        fake.push_updates(flood_updates)
        fake.wait_for(lambda api: any(r.params.get("chat_id") == flooder
                                      for r in api.requests("sendMessage")), deadline.bound(10))
        fake.push_message(private_chat(bystander), "vi improved editor")
        flood_replies = wait_replies(fake, flooder, USER_QUERY_BURST + 1, 40, deadline)
        bystander_replies = wait_replies(fake, bystander, 1, 5, deadline)
        notices = [m for m in flood_replies if FLOOD_NOTICE_WORDS in m.text]
        checks.check(len(flood_replies) == USER_QUERY_BURST + 1 and len(notices) == 1,
                     f"user flood: 30 queries get {USER_QUERY_BURST} replies and one notice",
                     f"{len(flood_replies)} messages, {len(notices)} notices")
        checks.check(bool(flood_replies) and FLOOD_NOTICE_WORDS in flood_replies[-1].text,
                     "user flood: the notice comes after the accepted replies, in order",
                     [m.text[:40] for m in flood_replies[-2:]])
        checks.check(len(bystander_replies) == 1 and len(flood_replies) >= 4
                     and bystander_replies[0].time < flood_replies[3].time,
                     "user flood: another user's query is answered before the flooder's "
                     "fourth reply", "")
        time.sleep(deadline.bound(1.0))
        checks.check(len(fake.flood_rejections()) == 0, "user flood: still no 429",
                     fake.flood_rejections()[:5])
        stop_bot(binary, checks, deadline, "flood")
        checks.check(not fake.pending_update_ids(), "flood: every update is confirmed",
                     fake.pending_update_ids()[:5])
    finally:
        if binary is not None:
            binary.kill()
        fake.stop()


# ------------------------------------------------------------------------------------------
# Scenario: proxies

def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def proxied_run(name: str, fake: FakeBotApi, proxy: Any, workdir: Path, checks: Checks,
                deadline: Deadline, extra_args: list[str], env: dict[str, str],
                chat_id: int, expect_tunnels: bool) -> None:
    tunnels_before = len(proxy.tunnels())
    connections_before = fake.connection_count()
    api_url = f"http://localhost:{fake.port}"
    binary = start_bot(fake, workdir, name, checks, deadline, extra_args, env, api_url)
    try:
        query_round_trip(fake, chat_id, checks, deadline, name)
        stop_bot(binary, checks, deadline, name)
        time.sleep(deadline.bound(0.3))
        tunnels = proxy.tunnels()[tunnels_before:]
        connections = fake.connection_count() - connections_before
        if expect_tunnels:
            checks.check(len(tunnels) >= 2 and all(t.ok for t in tunnels),
                         f"{name}: the bot connects through the proxy",
                         [(t.target_host, t.error) for t in tunnels])
            checks.check(len(tunnels) == connections,
                         f"{name}: every connection to the Bot API went through the proxy",
                         f"{len(tunnels)} tunnels, {connections} connections")
            checks.check(all(t.target_host == "localhost" for t in tunnels),
                         f"{name}: the proxy gets the host name to resolve",
                         [(t.address_type, t.target_host) for t in tunnels])
            checks.check(all((t.username, t.password) == (PROXY_USER, PROXY_PASSWORD)
                             for t in tunnels), f"{name}: the bot authenticates to the proxy",
                         [t.username for t in tunnels])
        else:
            checks.check(not tunnels and connections >= 2,
                         f"{name}: the bot connects directly", f"{len(tunnels)} tunnels")
    finally:
        binary.kill()


def run_proxies(workdir: Path, checks: Checks, deadline: Deadline) -> None:
    print("== proxies: SOCKS5, HTTP CONNECT, NO_PROXY, dead proxy, bad schemes", flush=True)
    fake = FakeBotApi(TOKEN, username=BOT_USERNAME, first_update_id=30000).start()
    socks = Socks5Proxy(PROXY_USER, PROXY_PASSWORD).start()
    connect = HttpConnectProxy(PROXY_USER, PROXY_PASSWORD).start()
    try:
        socks_url = f"socks5://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{socks.port}"
        proxied_run("socks5 --proxy", fake, socks, workdir, checks, deadline,
                    ["--proxy", socks_url], child_env(TOKEN), 9001, True)
        checks.check(all(t.address_type == "domain" for t in socks.tunnels()),
                     "socks5: the API host is sent as a domain name (ATYP 3)",
                     [t.address_type for t in socks.tunnels()])
        log = (workdir / "socks5 --proxy.stderr").read_text(encoding="utf-8")
        checks.check(f"socks5://{PROXY_USER}:****@127.0.0.1:{socks.port}" in log,
                     "socks5: the log names the proxy with the password masked", log[-400:])

        env = child_env(TOKEN)
        env["http_proxy"] = f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{connect.port}"
        proxied_run("http_proxy", fake, connect, workdir, checks, deadline, [], env, 9002, True)

        env = child_env(TOKEN)
        env["ALL_PROXY"] = socks_url
        env["NO_PROXY"] = "example.org,localhost"
        proxied_run("NO_PROXY", fake, socks, workdir, checks, deadline, [], env, 9003, False)

        # An explicit empty --proxy means no proxy, whatever the environment says.
        env = child_env(TOKEN)
        env["ALL_PROXY"] = socks_url
        env["HTTPS_PROXY"] = socks_url
        env["http_proxy"] = socks_url
        proxied_run("empty --proxy", fake, socks, workdir, checks, deadline, ["--proxy", ""],
                    env, 9004, False)
        log = (workdir / "empty --proxy.stderr").read_text(encoding="utf-8")
        checks.check("--proxy" in log and "directly" in log,
                     "empty --proxy: the log says the bot connects directly because of --proxy",
                     log[-400:])

        # A proxy that is down: errors, retries, and never a direct connection.
        requests_before = len(fake.requests())
        connections_before = fake.connection_count()
        dead = start_bot(fake, workdir, "dead proxy", checks, deadline,
                         ["--proxy", f"socks5://127.0.0.1:{closed_port()}"],
                         wait_for_poll=False)
        time.sleep(deadline.bound(4))
        checks.check(not dead.exited(), "dead proxy: the bot keeps retrying",
                     dead.exit_status())
        checks.check(len(fake.requests()) == requests_before
                     and fake.connection_count() == connections_before,
                     "dead proxy: the bot never connects directly",
                     f"{len(fake.requests()) - requests_before} requests")
        checks.check("failed to connect to proxy socks5://127.0.0.1:" in dead.stderr(),
                     "dead proxy: the error names the proxy", dead.stderr_tail())
        stop_bot(dead, checks, deadline, "dead proxy")

        # A wrong proxy password: a clear error, no request reaches the Bot API.
        wrong = start_bot(fake, workdir, "wrong proxy password", checks, deadline,
                          ["--proxy", f"socks5://{PROXY_USER}:{WRONG_PROXY_PASSWORD}@127.0.0.1:"
                           f"{socks.port}"], wait_for_poll=False)
        time.sleep(deadline.bound(2))
        checks.check("rejected the user name or password" in wrong.stderr()
                     and len(fake.requests()) == requests_before,
                     "wrong proxy password: the error says so and nothing reaches the API",
                     wrong.stderr_tail())
        stop_bot(wrong, checks, deadline, "wrong proxy password")

        for value in ("mtproto://127.0.0.1:443", "socks4://127.0.0.1:1080"):
            rejected = start_bot(fake, workdir, f"proxy {value.split(':')[0]}", checks,
                                 deadline, ["--proxy", value], wait_for_poll=False)
            exit_code = rejected.wait(deadline.bound(10))
            checks.check(exit_code not in (None, 0) and value in rejected.stderr()
                         and "unsupported proxy scheme" in rejected.stderr(),
                         f"{value}: rejected at start-up with the value named",
                         f"{describe_exit(exit_code)};{rejected.stderr_tail()}")
            check_secrets_hidden(rejected, checks, value)
        at_sign_password = "@".join(AT_SIGN_PASSWORD_PARTS)
        for value, words in (
                (f"socks5://{PROXY_USER}:{at_sign_password}@127.0.0.1:1",
                 "percent-encode @ in the password as %40"),
                (f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:abc",
                 "invalid port 'abc'")):
            rejected = start_bot(fake, workdir, f"proxy error {words[:14]}", checks, deadline,
                                 ["--proxy", value], wait_for_poll=False)
            exit_code = rejected.wait(deadline.bound(10))
            checks.check(exit_code not in (None, 0) and words in rejected.stderr()
                         and f"{PROXY_USER}:****@" in rejected.stderr(),
                         f"proxy error: {words!r} is reported with the password masked",
                         f"{describe_exit(exit_code)};{rejected.stderr_tail()}")
            check_secrets_hidden(rejected, checks, f"proxy error {words[:14]}")
        checks.check(len(fake.requests()) == requests_before,
                     "rejected proxies: no request reaches the Bot API", "")
    finally:
        socks.stop()
        connect.stop()
        fake.stop()


# ------------------------------------------------------------------------------------------

SCENARIOS: dict[str, Callable[[Path, Checks, Deadline], None]] = {
    "faults": run_faults, "flood": run_flood, "proxies": run_proxies}
ARGS: argparse.Namespace


def main() -> int:
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True, type=Path, help="path to tgsearch")
    parser.add_argument("--fixtures", required=True, type=Path,
                        help="the tests/fixtures directory")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), action="append",
                        help="scenario to run (repeatable; default: all)")
    ARGS = parser.parse_args()
    ARGS.binary = ARGS.binary.resolve()
    ARGS.fixtures = ARGS.fixtures.resolve()
    names = ARGS.scenario or list(SCENARIOS)

    checks = Checks()
    total = sum(SCENARIO_DEADLINES[name] for name in names)
    deadline = Deadline(total - 5)
    watchdog = start_watchdog(checks, total)
    try:
        if not checks.check(ARGS.binary.is_file() and os.access(ARGS.binary, os.X_OK),
                            "the binary exists and is executable", str(ARGS.binary)):
            return checks.summary()
        with tempfile.TemporaryDirectory(prefix="tgsearch-resilience-") as temp:
            for name in names:
                SCENARIOS[name](Path(temp), checks, deadline)
    except Exception as error:  # an error in the test itself still ends with the summary
        traceback.print_exc()
        checks.check(False, "the test runs without an internal error", repr(error))
    finally:
        for binary in BinaryProcess.running:
            binary.kill()
        watchdog.cancel()
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
