#!/usr/bin/env python3
"""End-to-end test of tgsearch's Telegram mode against the fake Bot API server.

Six runs of the binary, each against its own fake server on 127.0.0.1:
1. token from a 0600 file, --log-level info: 200 messages from 20 chats (private chats, groups
   and supergroups with 64-bit ids, update ids crossing 2^31) pushed in batches. It checks one
   reply per addressed message and none for the others, the right first result for known
   queries, valid HTML within Telegram's limits, per-chat order, request shapes, keep-alive
   and no busy polling. After SIGTERM the bot must exit 0 with every update confirmed, each
   only after its reply.
2. token from TELEGRAM_BOT_TOKEN, --log-level debug, slow sendMessage: SIGTERM while replies
   are queued. Every update the bot received gets its reply and is confirmed before it exits.
3. a token the server does not know: getMe gets 401, the binary exits non-zero with a clear
   message.
4. malformed updates between good ones: the good ones are answered in order.
5. ten queries from one chat, held back by the per-chat flood pacing, the last with invalid
   UTF-8: few getUpdates calls while the replies wait, one log line about the bad update, and
   every query answered. Then the token is revoked: after three 401s from getUpdates the
   binary exits non-zero with a clear message.
6. a second SIGTERM while replies are queued ends the drain, and the log says so.
In every run the token must not appear in the binary's stdout or stderr.

Usage: test_telegram_bot.py --binary build/app/tgsearch --fixtures tests/fixtures
Prints one line per failed check and a final "N passed, N failed"; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import os
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

# Importing the sibling modules must not leave __pycache__ in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_bot_api import (FakeBotApi, SentMessage, group_chat, private_chat,  # noqa: E402
                          supergroup_chat)
# The shared names are imported here too, because test_bot_resilience.py imports them from
# this module.
from harness import (BOT_USERNAME, TOKEN, WRONG_TOKEN, BinaryProcess, Checks,  # noqa: E402,F401
                     Deadline, child_env, describe_exit, redact, start_watchdog)

OVERALL_DEADLINE_SECONDS = 180
# The update types the bot asks getUpdates for.
ALLOWED_UPDATES = ["message", "callback_query", "inline_query"]
POLL_TIMEOUT_SECONDS = 2
SHUTDOWN_TIMEOUT_SECONDS = 10
# Update ids start just below 2^31 so that they cross it during the run.
FIRST_UPDATE_ID = 2**31 - 100

# Queries with one obviously right first result in tests/fixtures/bot_corpus.jsonl. A list
# contains several ids only where the corpus has equivalent documents (the same emoji in three
# languages, or two verses with the same words).
KNOWN_QUERIES: list[tuple[str, list[str]]] = [
    ("nginx reverse proxy", ["debian:en:nginx"]),
    ("distributed revision control system", ["debian:en:git"]),
    ("vi improved editor", ["debian:en:vim"]),
    ("transferring data with URL syntax", ["debian:en:curl"]),
    ("persistent key-value database", ["debian:en:redis-server"]),
    ("ban hosts authentication errors", ["debian:en:fail2ban"]),
    ("HTML5 audio video player", ["debian:en:libjs-mediaelement"]),
    ("convert DOS Unix text files", ["debian:en:tofrodos"]),
    ("Spectre & Meltdown", ["debian:en:spectre-meltdown-checker"]),
    ("crystal mouse cursor theme", ["debian:en:crystalcursors"]),
    ("<chrono> calendars timezones", ["debian:en:libdate-tz3"]),
    ("الحمد لله رب العالمين", ["quran:1:2"]),
    ("قل اعوذ برب الناس", ["quran:114:1"]),
    ("قُلْ أَعُوذُ بِرَبِّ النَّاسِ", ["quran:114:1"]),
    ("اهدنا الصراط المستقيم", ["quran:1:6"]),
    ("الله لا اله الا هو الحي القيوم", ["quran:2:255", "quran:3:2"]),
    ("رب اشرح لي صدري", ["quran:20:25"]),
    ("الإبلاغ عن علة", ["fortune:ar:debian-hints:1"]),
    ("командная оболочка zsh", ["debian:ru:zsh"]),
    ("передача данных с синтаксисом URL", ["debian:ru:curl"]),
    ("Midnight Commander диспетчер файлов", ["debian:ru:mc"]),
    ("😂", ["cldr:en:1F602", "cldr:ar:1F602", "cldr:ru:1F602"]),
    ("face with tears of joy", ["cldr:en:1F602"]),
    ("صاروخ", ["cldr:ar:1F680"]),
]
NO_RESULT_QUERY = "qwxzvplorth zzyzx"
HTML_SPECIALS_QUERY = '<b>x</b> & "q" <i>'
LONG_QUERY = ("nginx reverse proxy " * 250)[:5000]
# Private-chat messages that get a reply whose first result is not checked.
SPECIAL_PRIVATE_TEXTS = ["/start", "/help", "   \n\t ", LONG_QUERY, HTML_SPECIALS_QUERY,
                         NO_RESULT_QUERY, "🔥", "nginx"]
# Group messages that must get no reply.
IGNORED_GROUP_TEXTS = [
    "nginx reverse proxy",
    "/search@OtherBot nginx reverse proxy",
    "has anyone seen the build logs?",
]

PRIVATE_CHAT_IDS = [101, 202020, 777000111, 1234567890, 2147483647, 2147483648, 4294967297,
                    5000000001, 6543210987, 98765432101, 1099511627776, 4503599627370495]
GROUP_CHAT_IDS = [-101, -400000001, -2147483649, -4294967297]
SUPERGROUP_CHAT_IDS = [-1001234567890, -1002147483648, -1004294967297, -1009999999999]
MESSAGES_PER_PRIVATE_CHAT = 12
MESSAGES_PER_GROUP = 7

ENTITY_STRINGS = ("&lt;", "&gt;", "&amp;", "&quot;")


# ------------------------------------------------------------------------------------------
# Corpus and reply reading

class Corpus:
    """The fixture documents, and a way to tell which document a reply lists first."""

    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs: dict[str, dict[str, Any]] = {doc["id"]: doc for doc in docs}
        # Search each title by a prefix long enough to be unique, so a renderer that shortens
        # long titles still matches.
        # When one key is a prefix of another, title_positions() prefers the longer match.
        prefix_counts = collections.Counter(doc["title"][:40] for doc in self.docs.values())
        self.keys: dict[str, str] = {}
        for doc_id, doc in self.docs.items():
            title = doc["title"]
            self.keys[doc_id] = title[:40] if prefix_counts[title[:40]] == 1 else title

    @classmethod
    def load(cls, path: Path) -> "Corpus":
        """Read a JSONL corpus, gzip-compressed or not."""
        opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
        with opener(path, "rt", encoding="utf-8") as corpus_file:
            return cls([json.loads(line) for line in corpus_file if line.strip()])

    def title_positions(self, visible: str) -> list[tuple[int, str]]:
        """Return (position, doc id) of every document title found in `visible`, in order."""
        found = []
        for doc_id, key in self.keys.items():
            position = visible.find(key)
            if position >= 0:
                found.append((position, doc_id))
        found.sort(key=lambda item: (item[0], -len(self.keys[item[1]])))
        return found

    def first_result(self, visible: str,
                     links: list[tuple[int, int, str]] | None = None) -> str | None:
        """Return the id of the first document listed in a reply, or None.

        That is the document whose title comes first in the visible text. When no title is
        found, it is the first link whose URL and anchor text belong to exactly one document.
        """
        positions = self.title_positions(visible)
        if positions:
            return positions[0][1]
        for offset, length, url in links or []:
            anchor = visible[offset:offset + length].rstrip("…. ").strip()
            candidates = [doc_id for doc_id, doc in self.docs.items()
                          if doc["url"] == url and anchor and doc["title"].startswith(anchor)]
            if len(candidates) == 1:
                return candidates[0]
        return None

    def describe(self, doc_id: str | None) -> str:
        if doc_id is None:
            return "no corpus document"
        return f"{doc_id} ({self.docs[doc_id]['title']!r})"


def expected_ids_for(text: str) -> list[str] | None:
    for query, expected in KNOWN_QUERIES:
        if query == text:
            return expected
    return None


def group_query_text(message_text: str) -> str:
    """Strip "/search" or "/search@bot" from a group command."""
    return re.sub(r"^/search(@\w+)?\s+", "", message_text)


# ------------------------------------------------------------------------------------------
# Scenario 1: many chats

class PlannedMessage:
    def __init__(self, chat: dict[str, Any], text: str, expects_reply: bool,
                 query: str | None, sender: dict[str, Any] | None = None) -> None:
        self.chat = chat
        self.sender = sender        # None: the fake's default sender for the chat
        self.text = text
        self.expects_reply = expects_reply
        self.query = query          # the search words, None for /start, /help and ignored ones
        self.update_id = 0
        self.message_id = 0


def plan_messages() -> list[PlannedMessage]:
    """Build the 200 messages in the order they are sent: round-robin over the chats."""
    private_pool = [query for query, _ in KNOWN_QUERIES] + SPECIAL_PRIVATE_TEXTS
    per_chat: list[list[PlannedMessage]] = []
    for index, chat_id in enumerate(PRIVATE_CHAT_IDS):
        chat = private_chat(chat_id, f"User{index}")
        messages = []
        for k in range(MESSAGES_PER_PRIVATE_CHAT):
            text = private_pool[(index * MESSAGES_PER_PRIVATE_CHAT + k) % len(private_pool)]
            query = None if text in ("/start", "/help") else text
            messages.append(PlannedMessage(chat, text, True, query))
        per_chat.append(messages)

    group_chats = ([group_chat(chat_id, f"Group {chat_id}") for chat_id in GROUP_CHAT_IDS]
                   + [supergroup_chat(chat_id, f"Supergroup {chat_id}")
                      for chat_id in SUPERGROUP_CHAT_IDS])
    for index, chat in enumerate(group_chats):
        queries = [KNOWN_QUERIES[(index * 3 + k) % len(KNOWN_QUERIES)][0] for k in range(4)]
        # Each group has its own member, as the bot limits how fast one user may query.
        sender = {"id": 424242001 + index, "is_bot": False, "first_name": f"Member{index}"}
        messages = [
            PlannedMessage(chat, f"/search {queries[0]}", True, queries[0], sender),
            PlannedMessage(chat, IGNORED_GROUP_TEXTS[0], False, None, sender),
            PlannedMessage(chat, f"/search@{BOT_USERNAME} {queries[1]}", True, queries[1],
                           sender),
            PlannedMessage(chat, IGNORED_GROUP_TEXTS[1], False, None, sender),
            PlannedMessage(chat, f"/search {queries[2]}", True, queries[2], sender),
            PlannedMessage(chat, IGNORED_GROUP_TEXTS[2], False, None, sender),
            PlannedMessage(chat, f"/search@{BOT_USERNAME} {queries[3]}", True, queries[3],
                           sender),
        ]
        assert len(messages) == MESSAGES_PER_GROUP
        per_chat.append(messages)

    ordered = []
    for round_index in range(max(len(messages) for messages in per_chat)):
        for messages in per_chat:
            if round_index < len(messages):
                ordered.append(messages[round_index])
    return ordered


def map_replies(plan: list[PlannedMessage], sent: list[SentMessage], checks: Checks
                ) -> dict[int, SentMessage]:
    """Match each reply to the message it replies to; return {update_id: reply}.

    Group replies quote their message. Private replies are matched by position, because the
    bot replies to a private chat in message order.
    """
    by_chat: dict[int, list[SentMessage]] = collections.defaultdict(list)
    for message in sent:
        by_chat[message.chat_id].append(message)
    planned_by_chat: dict[int, list[PlannedMessage]] = collections.defaultdict(list)
    for message in plan:
        planned_by_chat[message.chat["id"]].append(message)

    replies: dict[int, SentMessage] = {}
    unknown_chats = sorted(set(by_chat) - set(planned_by_chat))
    checks.check(not unknown_chats, "replies go only to chats that wrote", unknown_chats)
    for chat_id, planned in planned_by_chat.items():
        chat_type = planned[0].chat["type"]
        expected = [message for message in planned if message.expects_reply]
        got = by_chat.get(chat_id, [])
        checks.check(len(got) == len(expected),
                     f"{chat_type} chat {chat_id} gets one reply per addressed message",
                     f"expected {len(expected)} replies, got {len(got)}")
        if chat_type == "private":
            # Matching by position is only sound when no reply is missing or extra.
            if len(got) == len(expected):
                for message, reply in zip(expected, got):
                    replies[message.update_id] = reply
            continue
        by_message_id = {message.message_id: message for message in planned}
        quoted = [reply.reply_to_message_id for reply in got]
        checks.check(all(reply.reply_parameters is not None for reply in got),
                     f"{chat_type} chat {chat_id} replies carry reply_parameters",
                     [reply.reply_parameters for reply in got])
        checks.check(all((reply.reply_parameters or {}).get("allow_sending_without_reply")
                          is True for reply in got),
                     f"{chat_type} chat {chat_id} replies allow sending without reply",
                     [reply.reply_parameters for reply in got])
        ignored_ids = {message.message_id for message in planned if not message.expects_reply}
        wrongly_answered = [by_message_id[message_id].text for message_id in quoted
                            if message_id in ignored_ids]
        checks.check(not wrongly_answered, f"{chat_type} chat {chat_id} ignores messages not "
                     "addressed to the bot", wrongly_answered)
        expected_ids = [message.message_id for message in expected]
        checks.check(sorted(quoted) == expected_ids,
                     f"{chat_type} chat {chat_id} replies quote each /search once",
                     f"expected {expected_ids}, quoted {quoted}")
        checks.check(quoted == sorted(quoted),
                     f"{chat_type} chat {chat_id} replies arrive in message order", quoted)
        for reply in got:
            message = by_message_id.get(reply.reply_to_message_id)
            if message is not None and message.expects_reply:
                replies[message.update_id] = reply
    return replies


def check_request_shapes(fake: FakeBotApi, checks: Checks, poll_timeout: int) -> None:
    requests = fake.requests()
    checks.check(bool(requests) and requests[0].method == "getMe",
                 "getMe is the first call", [record.method for record in requests[:3]])
    not_post = [(record.method, record.http_method) for record in requests
                if record.http_method != "POST"]
    checks.check(not not_post, "every call uses POST", not_post[:5])
    not_json = [(record.method, record.content_type) for record in requests
                if record.content_type.split(";")[0].strip().lower() != "application/json"]
    checks.check(not not_json, "every call sends application/json", not_json[:5])
    unknown = sorted({record.method for record in requests}
                     - {"getMe", "getWebhookInfo", "setMyCommands", "getUpdates", "sendMessage"})
    checks.check(not unknown, "only getMe, getWebhookInfo, setMyCommands, getUpdates and "
                 "sendMessage are called", unknown)

    polls = fake.requests("getUpdates")
    bad_polls = []
    for record in polls:
        params = record.params
        limit = params.get("limit")
        if (params.get("timeout") not in (poll_timeout, 0)
                or not isinstance(limit, int) or not 1 <= limit <= 100
                or params.get("allowed_updates") != ALLOWED_UPDATES
                or not isinstance(params.get("offset", 0), int)):
            bad_polls.append(params)
    checks.check(not bad_polls, f"getUpdates sends timeout {poll_timeout} or 0, a limit in "
                 f"1..100 and allowed_updates {ALLOWED_UPDATES}", bad_polls[:3])
    long_polls = [record.params for record in polls
                  if record.params.get("timeout") == poll_timeout]
    checks.check(bool(long_polls), f"getUpdates long-polls with --poll-timeout {poll_timeout}",
                 [record.params.get("timeout") for record in polls[:5]])
    checks.check(all(params.get("limit") == 100 for params in long_polls),
                 "long polls ask for 100 updates",
                 [params for params in long_polls if params.get("limit") != 100][:3])

    bad_sends = []
    for record in fake.requests("sendMessage"):
        params = record.params
        if (not isinstance(params.get("chat_id"), int) or params.get("parse_mode") != "HTML"
                or params.get("link_preview_options") != {"is_disabled": True}):
            bad_sends.append({key: params.get(key) for key in
                              ("chat_id", "parse_mode", "link_preview_options")})
    checks.check(not bad_sends, "sendMessage sends an integer chat_id, parse_mode HTML and "
                 "disables link previews", bad_sends[:3])

    errors = [(record.method, record.status, (record.response or {}).get("description"))
              for record in requests if record.status != 200 and not record.abandoned]
    checks.check(not errors, "the server answered every call with 200 (no HTML or other "
                 "400 errors)", errors[:5])


def check_reply_contents(plan: list[PlannedMessage], replies: dict[int, SentMessage],
                         corpus: Corpus, checks: Checks) -> None:
    too_long = [(reply.chat_id, len(reply.text)) for reply in replies.values()
                if len(reply.text) > 4096]
    checks.check(not too_long, "every reply has at most 4096 visible characters", too_long)
    double_escaped = [reply.text[:120] for reply in replies.values()
                      if any(entity in reply.text for entity in ENTITY_STRINGS)]
    checks.check(not double_escaped, "no reply shows an escaped entity such as &amp;",
                 double_escaped[:3])

    # Same query, same reply: a reply that differs from the usual one for its query in a
    # chat means replies in that chat are out of order (the bot's results are deterministic).
    texts_by_query: dict[str, collections.Counter] = collections.defaultdict(
        collections.Counter)
    for message in plan:
        reply = replies.get(message.update_id)
        if reply is not None and message.chat["type"] == "private":
            texts_by_query[message.text][reply.text] += 1
    usual = {text: counter.most_common(1)[0][0] for text, counter in texts_by_query.items()}
    out_of_order: dict[int, list[str]] = collections.defaultdict(list)
    for message in plan:
        reply = replies.get(message.update_id)
        if reply is not None and message.chat["type"] == "private":
            if reply.text != usual[message.text]:
                out_of_order[message.chat["id"]].append(message.text[:40])
    checks.check(not out_of_order, "private chats get replies in message order (the same "
                 "query gets the same reply everywhere)", dict(out_of_order))

    wrong_first: dict[str, list[str]] = collections.defaultdict(list)
    right_first: collections.Counter = collections.Counter()
    for message in plan:
        reply = replies.get(message.update_id)
        expected = expected_ids_for(message.query or "")
        if reply is None or expected is None:
            continue
        first = corpus.first_result(reply.text, reply.links)
        if first in expected:
            right_first[message.query] += 1
            if corpus.docs[first]["url"]:
                first_link = reply.links[0][2] if reply.links else None
                if first_link != corpus.docs[first]["url"]:
                    wrong_first[message.query].append(
                        f"first link is {first_link!r}, expected {corpus.docs[first]['url']!r}")
        else:
            wrong_first[message.query].append(
                f"first result is {corpus.describe(first)}, reply starts "
                f"{reply.text[:160]!r}")
    for query, expected in KNOWN_QUERIES:
        sent_queries = [message for message in plan
                        if message.query == query and message.update_id in replies]
        if not sent_queries:
            continue
        problems = wrong_first.get(query, [])
        checks.check(not problems, f"query {query!r} lists {expected[0]} first",
                     f"{len(problems)} of {len(sent_queries)} replies wrong; "
                     f"{problems[0] if problems else ''}")

    for message in plan:
        reply = replies.get(message.update_id)
        if reply is None or message.chat["type"] != "private":
            continue
        if message.text == NO_RESULT_QUERY:
            listed = corpus.title_positions(reply.text)
            checks.check(not listed, "a query without matches lists no document",
                         [doc_id for _, doc_id in listed])
        elif message.text in ("/start", "/help"):
            listed = corpus.title_positions(reply.text)
            checks.check(not listed, f"{message.text} replies with usage, not results",
                         reply.text[:200])


def check_confirmations(fake: FakeBotApi, plan: list[PlannedMessage],
                        replies: dict[int, SentMessage], checks: Checks) -> None:
    offsets = fake.offsets()
    max_update_id = max(message.update_id for message in plan)
    last_offset = offsets[-1][1] if offsets else None
    checks.check(last_offset == max_update_id + 1,
                 "the last getUpdates confirms every update (offset = max update_id + 1)",
                 f"last offset {last_offset}, max update_id {max_update_id}")
    checks.check(fake.pending_update_ids() == [], "no update is left unconfirmed",
                 fake.pending_update_ids()[:5])
    polls = fake.requests("getUpdates")
    checks.check(bool(polls) and polls[-1].params.get("timeout") == 0,
                 "the final getUpdates uses timeout 0",
                 polls[-1].params if polls else "no getUpdates")

    early = []
    for message in plan:
        reply = replies.get(message.update_id)
        if reply is None:
            continue
        confirming = next((seq for seq, offset in offsets if offset > message.update_id),
                          None)
        if confirming is None or confirming < reply.done_seq:
            early.append((message.update_id, confirming, reply.done_seq))
    checks.check(not early, "no update is confirmed before its reply was sent",
                 f"(update_id, confirming getUpdates event, reply event): {early[:5]}")


def run_many_chats(binary: Path, fixtures: Path, workdir: Path, corpus: Corpus,
                   checks: Checks, deadline: Deadline) -> None:
    print("== run 1: 200 messages from 20 chats, token from a file", flush=True)
    token_file = workdir / "token"
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as token_out:
        token_out.write(TOKEN + "\n")

    fake = FakeBotApi(TOKEN, username=BOT_USERNAME, first_update_id=FIRST_UPDATE_ID).start()
    binary_process = None
    try:
        args = [str(binary), "--corpus", str(fixtures / "bot_corpus.jsonl"),
                "--api-url", fake.url, "--workers", "4",
                "--poll-timeout", str(POLL_TIMEOUT_SECONDS), "--token-file", str(token_file),
                "--shutdown-timeout", str(SHUTDOWN_TIMEOUT_SECONDS), "--log-level", "info"]
        binary_process = BinaryProcess(args, child_env(None), workdir, "many_chats")
        polling = fake.wait_for(lambda api: bool(api.requests("getUpdates"))
                                or binary_process.exited(), deadline.bound(20))
        if not checks.check(polling and not binary_process.exited(),
                            "the bot starts polling within 20 s",
                            f"{binary_process.exit_status()}, requests "
                            f"{[record.method for record in fake.requests()][:5]};"
                            f"{binary_process.stderr_tail()}"):
            return

        plan = plan_messages()
        batch_size = 50
        for start in range(0, len(plan), batch_size):
            for message in plan[start:start + batch_size]:
                update = fake.make_message_update(message.chat, message.text,
                                                  sender=message.sender)
                message.message_id = update["message"]["message_id"]
                message.update_id = fake.push_update(update)
            time.sleep(0.7)
        expected_count = sum(message.expects_reply for message in plan)
        print(f"   pushed {len(plan)} updates, {expected_count} need a reply", flush=True)

        started = time.monotonic()
        fake.wait_for(lambda api: len(api.sent_messages()) >= expected_count
                      or binary_process.exited(), deadline.bound(60))
        elapsed = time.monotonic() - started
        print(f"   {len(fake.sent_messages())} replies after {elapsed:.1f} s", flush=True)
        checks.check(not binary_process.exited(), "the bot keeps running",
                     f"{binary_process.exit_status()};"
                     f"{binary_process.stderr_tail()}")

        # Any reply to an ignored message, or a duplicate, arrives in this window too. The
        # window also shows whether an idle bot long-polls instead of spinning.
        # The first second lets the last confirmations through.
        time.sleep(deadline.bound(1.0))
        idle_window = 2 * POLL_TIMEOUT_SECONDS + 0.5
        polls_before = len(fake.requests("getUpdates"))
        time.sleep(deadline.bound(idle_window))
        idle_polls = len(fake.requests("getUpdates")) - polls_before
        checks.check(idle_polls <= 4, "an idle bot long-polls instead of spinning",
                     f"{idle_polls} getUpdates in {idle_window:.1f} s idle")

        sent = fake.sent_messages()
        checks.check(len(sent) == expected_count, "the bot sends one reply per addressed "
                     "message", f"expected {expected_count}, got {len(sent)}")
        replies = map_replies(plan, sent, checks)
        check_reply_contents(plan, replies, corpus, checks)

        request_count = len(fake.requests())
        connections = fake.connection_count()
        print(f"   {request_count} requests over {connections} connections, "
              f"{len(fake.requests('getUpdates'))} getUpdates", flush=True)
        checks.check(connections * 5 <= request_count,
                     "keep-alive connections carry several requests each",
                     f"{connections} connections for {request_count} requests")
        checks.check(len(fake.requests("getUpdates")) <= 600,
                     "the poller does not busy-poll while replies are in flight",
                     f"{len(fake.requests('getUpdates'))} getUpdates for {len(plan)} updates")

        binary_process.terminate()
        exit_code = binary_process.wait(deadline.bound(SHUTDOWN_TIMEOUT_SECONDS + 5))
        checks.check(exit_code == 0, "SIGTERM stops the bot with exit code 0 within the "
                     "shutdown timeout",
                     f"{describe_exit(exit_code)};{binary_process.stderr_tail()}")
        check_request_shapes(fake, checks, POLL_TIMEOUT_SECONDS)
        check_confirmations(fake, plan, replies, checks)
        check_token_hidden(binary_process, checks, TOKEN, "run 1")
    finally:
        if binary_process is not None:
            binary_process.kill()
        fake.stop()


def check_token_hidden(binary_process: BinaryProcess, checks: Checks, token: str,
                       run_name: str) -> None:
    secret = token.split(":")[1]
    for stream_name, text in (("stdout", binary_process.stdout()),
                              ("stderr", binary_process.stderr())):
        leaked_lines = [index + 1 for index, line in enumerate(text.splitlines())
                        if token in line or secret in line]
        checks.check(not leaked_lines, f"{run_name}: the token is not in {stream_name}",
                     f"found on lines {leaked_lines[:5]}")


# ------------------------------------------------------------------------------------------
# Scenario 2: shutdown with queued replies, debug logging, token from the environment

def run_shutdown_drain(binary: Path, fixtures: Path, workdir: Path, corpus: Corpus,
                       checks: Checks, deadline: Deadline) -> None:
    print("== run 2: SIGTERM with replies queued, token from TELEGRAM_BOT_TOKEN, "
          "--log-level debug", flush=True)
    fake = FakeBotApi(TOKEN, username=BOT_USERNAME, first_update_id=500).start()
    # Slow replies keep work queued when SIGTERM arrives.
    fake.set_delay("sendMessage", 0.25)
    binary_process = None
    try:
        args = [str(binary), "--corpus", str(fixtures / "bot_corpus.jsonl"),
                "--api-url", fake.url, "--workers", "2", "--poll-timeout", "1",
                "--shutdown-timeout", str(SHUTDOWN_TIMEOUT_SECONDS), "--log-level", "debug"]
        binary_process = BinaryProcess(args, child_env(TOKEN), workdir, "shutdown_drain")
        polling = fake.wait_for(lambda api: bool(api.requests("getUpdates"))
                                or binary_process.exited(), deadline.bound(20))
        if not checks.check(polling and not binary_process.exited(),
                            "run 2: the bot starts polling with the token from the "
                            "environment", f"{binary_process.exit_status()};"
                            f"{binary_process.stderr_tail()}"):
            return

        # One atomic push, so that one getUpdates returns all 30 updates.
        updates = []
        for index in range(30):
            chat = private_chat(3000000000 + index % 15, f"Drain{index % 15}")
            query = KNOWN_QUERIES[index % len(KNOWN_QUERIES)][0]
            updates.append(fake.make_message_update(chat, query if index % 7 else "/help"))
        fake.push_updates(updates)

        # The first sendMessage proves that the bot has read the batch, and with 0.25 s per
        # reply most of the batch is still queued.
        replying = fake.wait_for(lambda api: bool(api.requests("sendMessage"))
                                 or binary_process.exited(), deadline.bound(15))
        checks.check(replying and not binary_process.exited(),
                     "run 2: the bot starts replying", binary_process.stderr_tail())
        sends = fake.requests("sendMessage")
        first_send_seq = sends[0].seq if sends else 0
        binary_process.terminate()
        terminated_at = time.monotonic()
        exit_code = binary_process.wait(deadline.bound(SHUTDOWN_TIMEOUT_SECONDS + 5))
        print(f"   exited {time.monotonic() - terminated_at:.1f} s after SIGTERM with "
              f"{len(fake.sent_messages())} replies", flush=True)
        checks.check(exit_code == 0, "run 2: SIGTERM with queued replies exits 0",
                     f"{describe_exit(exit_code)};{binary_process.stderr_tail()}")

        # The bot has read every batch whose response was complete before its first reply.
        delivered_ids = sorted({update_id for record in fake.requests("getUpdates")
                                if record.done_seq and record.done_seq < first_send_seq
                                for update_id in record.delivered_update_ids})
        print(f"   the bot had read {len(delivered_ids)} updates at SIGTERM", flush=True)
        sent = fake.sent_messages()
        checks.check(len(sent) == len(delivered_ids), "run 2: every update the bot received "
                     "is answered before it exits",
                     f"{len(delivered_ids)} delivered, {len(sent)} replies")
        last_offset = fake.offsets()[-1][1] if fake.offsets() else None
        expected_offset = delivered_ids[-1] + 1 if delivered_ids else None
        checks.check(last_offset == expected_offset, "run 2: the final offset confirms every "
                     "answered update", f"last offset {last_offset}, expected "
                     f"{expected_offset}")
        polls = fake.requests("getUpdates")
        checks.check(bool(polls) and polls[-1].params.get("timeout") == 0,
                     "run 2: the final getUpdates uses timeout 0",
                     polls[-1].params if polls else "no getUpdates")
        errors = [(record.method, record.status) for record in fake.requests()
                  if record.status != 200 and not record.abandoned]
        checks.check(not errors, "run 2: the server answered every call with 200", errors[:5])
        checks.check(len(binary_process.stderr().splitlines()) >= 3,
                     "run 2: --log-level debug writes log lines to stderr",
                     f"{len(binary_process.stderr().splitlines())} lines")
        check_token_hidden(binary_process, checks, TOKEN, "run 2 (debug log)")
    finally:
        if binary_process is not None:
            binary_process.kill()
        fake.stop()


# ------------------------------------------------------------------------------------------
# Scenario 3: a token the server rejects

def run_wrong_token(binary: Path, fixtures: Path, workdir: Path, checks: Checks,
                    deadline: Deadline) -> None:
    print("== run 3: a token the server rejects", flush=True)
    fake = FakeBotApi(TOKEN, username=BOT_USERNAME).start()
    binary_process = None
    try:
        args = [str(binary), "--corpus", str(fixtures / "bot_corpus.jsonl"),
                "--api-url", fake.url, "--poll-timeout", "1", "--log-level", "debug"]
        binary_process = BinaryProcess(args, child_env(WRONG_TOKEN), workdir, "wrong_token")
        exit_code = binary_process.wait(deadline.bound(20))
        checks.check(exit_code is not None and exit_code != 0,
                     "a rejected token makes the binary exit non-zero within 20 s",
                     f"{describe_exit(exit_code)}; requests "
                     f"{[(r.method, r.status) for r in fake.requests()][:5]}")
        get_me = fake.requests("getMe")
        checks.check(bool(get_me) and all(record.status == 401 for record in get_me),
                     "the server answered getMe with 401",
                     [(record.method, record.status) for record in fake.requests()][:5])
        checks.check(not fake.requests("getUpdates"), "no getUpdates after getMe failed",
                     len(fake.requests("getUpdates")))
        stderr = binary_process.stderr()
        checks.check(bool(re.search(r"401|unauthori[sz]ed|token", stderr, re.IGNORECASE)),
                     "stderr explains that the token was rejected",
                     binary_process.stderr_tail())
        check_token_hidden(binary_process, checks, WRONG_TOKEN, "run 3")
    finally:
        if binary_process is not None:
            binary_process.kill()
        fake.stop()


# ------------------------------------------------------------------------------------------
# Scenario 4: malformed updates between good ones

def run_malformed_updates(binary: Path, fixtures: Path, workdir: Path, checks: Checks,
                          deadline: Deadline) -> None:
    print("== run 4: malformed updates between good ones", flush=True)
    fake = FakeBotApi(TOKEN, username=BOT_USERNAME, first_update_id=900).start()
    binary_process = None
    try:
        args = [str(binary), "--corpus", str(fixtures / "bot_corpus.jsonl"),
                "--api-url", fake.url, "--workers", "2", "--poll-timeout", "1"]
        binary_process = BinaryProcess(args, child_env(TOKEN), workdir, "malformed")
        polling = fake.wait_for(lambda api: bool(api.requests("getUpdates"))
                                or binary_process.exited(), deadline.bound(20))
        if not checks.check(polling and not binary_process.exited(),
                            "run 4: the bot starts polling", binary_process.stderr_tail()):
            return

        chat = private_chat(7001, "Robust")
        first = fake.make_message_update(chat, "nginx reverse proxy")
        # The byte 0xFF is not valid UTF-8; the whole getUpdates response carries it.
        invalid_utf8 = fake.make_message_update(chat, "nginx \udcff proxy")
        last = fake.make_message_update(chat, "/help")
        malformed = [
            {"message": "not an object"},
            {"message": {"message_id": 1, "date": 0, "text": "no chat"}},
            {"message": {"message_id": 2, "date": 0, "text": "x",
                         "chat": {"id": "not-a-number", "type": "private"}}},
            {"message": {"message_id": 3, "date": 0, "chat": chat,
                         "photo": [{"file_id": "p", "width": 1, "height": 1}]}},
            {"message": {"message_id": 4, "date": 0, "chat": chat, "text": 12345}},
        ]
        update_ids = fake.push_updates([first, *malformed, invalid_utf8, last])
        replied = fake.wait_for(lambda api: len(api.sent_messages()) >= 3
                                or binary_process.exited(), deadline.bound(20))
        sent = fake.sent_messages()
        checks.check(replied and len(sent) == 3,
                     "run 4: the three good updates get replies despite the malformed ones",
                     f"{len(sent)} replies;{binary_process.stderr_tail()}")
        texts = [message.text for message in sent]
        checks.check(len(texts) == 3 and "nginx" in texts[0] and "nginx" in texts[1]
                     and "/search" in texts[2],
                     "run 4: the replies come in message order", texts)

        binary_process.terminate()
        exit_code = binary_process.wait(deadline.bound(SHUTDOWN_TIMEOUT_SECONDS + 5))
        checks.check(exit_code == 0, "run 4: the bot exits 0 after malformed updates",
                     f"{describe_exit(exit_code)};{binary_process.stderr_tail()}")
        checks.check(fake.confirmed_offset == update_ids[-1] + 1,
                     "run 4: the malformed updates are confirmed too",
                     f"confirmed {fake.confirmed_offset}, last update {update_ids[-1]}")
        stderr = binary_process.stderr()
        checks.check("skipped update" in stderr,
                     "run 4: the malformed updates are logged", binary_process.stderr_tail())
    finally:
        if binary_process is not None:
            binary_process.kill()
        fake.stop()


# ------------------------------------------------------------------------------------------
# Scenario 5: replies held back by flood pacing, then a revoked token

# The bot's per-chat pacing: a burst of 3 replies, then 1 per second.
PACED_QUERIES = 10
PACED_WINDOW_SECONDS = 7
# A re-poll every 100 ms made about 70 getUpdates calls in this window. A pause that grows to
# 1 s while no new update arrives keeps it near one call per reply.
MAX_PACED_POLLS = 15
UNAUTHORIZED_POLLS_BEFORE_EXIT = 3


def run_paced_then_revoked(binary: Path, fixtures: Path, workdir: Path, checks: Checks,
                           deadline: Deadline) -> None:
    print("== run 5: replies held back by per-chat pacing, then a revoked token", flush=True)
    fake = FakeBotApi(TOKEN, username=BOT_USERNAME, first_update_id=1200).start()
    binary_process = None
    try:
        args = [str(binary), "--corpus", str(fixtures / "bot_corpus.jsonl"),
                "--api-url", fake.url, "--workers", "2", "--poll-timeout", "1"]
        binary_process = BinaryProcess(args, child_env(TOKEN), workdir, "paced")
        polling = fake.wait_for(lambda api: bool(api.requests("getUpdates"))
                                or binary_process.exited(), deadline.bound(20))
        if not checks.check(polling and not binary_process.exited(),
                            "run 5: the bot starts polling", binary_process.stderr_tail()):
            return

        chat = private_chat(7101, "Paced")
        updates = [fake.make_message_update(chat, KNOWN_QUERIES[index % len(KNOWN_QUERIES)][0])
                   for index in range(PACED_QUERIES - 1)]
        # The last reply waits longest, so its update comes back with every poll until then.
        updates.append(fake.make_message_update(chat, "nginx \udcff proxy"))
        started = time.monotonic()
        fake.push_updates(updates)
        time.sleep(deadline.bound(PACED_WINDOW_SECONDS))
        polls = [record for record in fake.requests("getUpdates")
                 if started <= record.time_received <= started + PACED_WINDOW_SECONDS]
        answered = fake.wait_for(lambda api: len(api.sent_messages()) >= PACED_QUERIES,
                                 deadline.bound(10))
        print(f"   {len(polls)} getUpdates calls in the first {PACED_WINDOW_SECONDS} s while "
              f"{PACED_QUERIES} replies were paced", flush=True)
        checks.check(answered and len(fake.sent_messages()) == PACED_QUERIES,
                     "run 5: every paced query is answered",
                     f"{len(fake.sent_messages())} replies")
        checks.check(len(polls) < MAX_PACED_POLLS,
                     f"run 5: fewer than {MAX_PACED_POLLS} getUpdates calls while replies wait "
                     "for pacing", f"{len(polls)} calls")
        utf8_lines = [line for line in binary_process.stderr().splitlines()
                      if "invalid UTF-8" in line]
        checks.check(len(utf8_lines) == 1,
                     "run 5: the update with invalid UTF-8 is logged once, not per poll",
                     utf8_lines[:3])

        fake.revoke_token()
        revoked_at = time.monotonic()
        exit_code = binary_process.wait(deadline.bound(15))
        print(f"   exited {time.monotonic() - revoked_at:.1f} s after the token was revoked",
              flush=True)
        checks.check(exit_code is not None and exit_code != 0,
                     "run 5: a token revoked while running makes the binary exit non-zero",
                     f"{describe_exit(exit_code)};{binary_process.stderr_tail()}")
        rejected = [record for record in fake.requests("getUpdates") if record.status == 401]
        checks.check(len(rejected) == UNAUTHORIZED_POLLS_BEFORE_EXIT,
                     f"run 5: the bot stops after {UNAUTHORIZED_POLLS_BEFORE_EXIT} rejected "
                     "polls", f"{len(rejected)} polls got 401")
        checks.check("the Bot API rejected the token (401 Unauthorized): check the token or "
                     "create a new one with @BotFather" in binary_process.stderr(),
                     "run 5: the log says the token was rejected and what to do",
                     binary_process.stderr_tail())
        check_token_hidden(binary_process, checks, TOKEN, "run 5")
    finally:
        if binary_process is not None:
            binary_process.kill()
        fake.stop()


# ------------------------------------------------------------------------------------------
# Scenario 6: a second signal during the shutdown drain

def run_second_signal(binary: Path, fixtures: Path, workdir: Path, checks: Checks,
                      deadline: Deadline) -> None:
    print("== run 6: a second SIGTERM ends the shutdown drain", flush=True)
    fake = FakeBotApi(TOKEN, username=BOT_USERNAME, first_update_id=1400).start()
    # Slow replies keep work queued through both signals.
    fake.set_delay("sendMessage", 0.5)
    binary_process = None
    try:
        args = [str(binary), "--corpus", str(fixtures / "bot_corpus.jsonl"),
                "--api-url", fake.url, "--workers", "2", "--poll-timeout", "1",
                "--shutdown-timeout", "60"]
        binary_process = BinaryProcess(args, child_env(TOKEN), workdir, "second_signal")
        polling = fake.wait_for(lambda api: bool(api.requests("getUpdates"))
                                or binary_process.exited(), deadline.bound(20))
        if not checks.check(polling and not binary_process.exited(),
                            "run 6: the bot starts polling", binary_process.stderr_tail()):
            return
        updates = [fake.make_message_update(private_chat(3100000000 + index), "nginx")
                   for index in range(20)]
        fake.push_updates(updates)
        fake.wait_for(lambda api: bool(api.requests("sendMessage")) or binary_process.exited(),
                      deadline.bound(15))
        binary_process.terminate()
        time.sleep(deadline.bound(0.5))
        binary_process.terminate()
        exit_code = binary_process.wait(deadline.bound(15))
        checks.check(exit_code == 0, "run 6: the second SIGTERM stops the bot with exit code 0",
                     f"{describe_exit(exit_code)};{binary_process.stderr_tail()}")
        stderr = binary_process.stderr()
        checks.check("stopped by a second signal with" in stderr
                     and "shutdown deadline" not in stderr,
                     "run 6: the log says that the second signal ended the drain",
                     binary_process.stderr_tail())
        checks.check(len(fake.sent_messages()) < len(updates),
                     "run 6: the drain ended before every reply was sent",
                     f"{len(fake.sent_messages())} of {len(updates)} sent")
        check_token_hidden(binary_process, checks, TOKEN, "run 6")
    finally:
        if binary_process is not None:
            binary_process.kill()
        fake.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True, type=Path, help="path to tgsearch")
    parser.add_argument("--fixtures", required=True, type=Path,
                        help="the tests/fixtures directory")
    args = parser.parse_args()
    # The binary runs in a temporary directory, so relative paths must be resolved first.
    args.binary = args.binary.resolve()
    args.fixtures = args.fixtures.resolve()

    checks = Checks()
    deadline = Deadline(OVERALL_DEADLINE_SECONDS - 5)
    watchdog = start_watchdog(checks, OVERALL_DEADLINE_SECONDS)
    try:
        if not checks.check(args.binary.is_file() and os.access(args.binary, os.X_OK),
                            "the binary exists and is executable", str(args.binary)):
            return checks.summary()
        corpus = Corpus.load(args.fixtures / "bot_corpus.jsonl")
        for _, expected in KNOWN_QUERIES:
            for doc_id in expected:
                assert doc_id in corpus.docs, f"{doc_id} is missing from the fixture corpus"
        with tempfile.TemporaryDirectory(prefix="tgsearch-bot-test-") as temp:
            workdir = Path(temp)
            runs: list[Callable[[], None]] = [
                lambda: run_many_chats(args.binary, args.fixtures, workdir, corpus, checks,
                                       deadline),
                lambda: run_shutdown_drain(args.binary, args.fixtures, workdir, corpus, checks,
                                           deadline),
                lambda: run_wrong_token(args.binary, args.fixtures, workdir, checks, deadline),
                lambda: run_malformed_updates(args.binary, args.fixtures, workdir, checks,
                                              deadline),
                lambda: run_paced_then_revoked(args.binary, args.fixtures, workdir, checks,
                                               deadline),
                lambda: run_second_signal(args.binary, args.fixtures, workdir, checks,
                                          deadline),
            ]
            for run in runs:
                run()
    except Exception as error:  # an error in the test itself still ends with the summary
        traceback.print_exc()
        checks.check(False, "the test runs without an internal error", repr(error))
    finally:
        for binary_process in BinaryProcess.running:
            binary_process.kill()
        watchdog.cancel()
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
