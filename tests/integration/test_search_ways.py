#!/usr/bin/env python3
"""End-to-end test of every way users search, against the fake Bot API server.

The binary searches a corpus that the test writes into a temporary directory. Two runs:
1. --page-size 20: setMyCommands is sent once with search, help and about. In a supergroup
   the bot replies to /search with and without its username, to a reply to its message and
   to /help and /about. It ignores /search@OtherBot, chatter and a reply to another member,
   and a bare /search gets a usage hint. A reply of 15 long results is split into messages that arrive in order.
   A search with 45 results gets page buttons that edit the message forward and back; a
   button pressed twice is answered without a change, and every press is answered once.
   Inline queries page through next_offset, match a word typed letter by letter, and an
   empty one is answered at once, also while 30 chat replies wait for flood pacing.
2. --page-expiry 2s: a button pressed after its search expired gets "This search has
   expired" and no edit.

Usage: test_search_ways.py --binary build/app/tgsearch
Prints one line per failed check and a final "N passed, N failed"; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

# Importing the sibling modules must not leave __pycache__ in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_bot_api import (FakeBotApi, SentMessage, private_chat,  # noqa: E402
                          supergroup_chat)
from harness import (BOT_USERNAME, TOKEN, BinaryProcess, Checks, Deadline,  # noqa: E402
                     child_env, describe_exit, start_watchdog)

OVERALL_DEADLINE_SECONDS = 110
POLL_TIMEOUT_SECONDS = 2
PAGE_SIZE = 20
EXPIRED_TEXT = "This search has expired, send it again."
# The whole corpus has this many documents; /about must report it.
LONG_DOCS = 15        # "zephyr": one page of long results, split into several messages
PAGED_DOCS = 45       # "quasar": three pages of 20, 20 and 5
INLINE_DOCS = 120     # "nebula": inline pages of 50, 50 and 20
TYPED_WORD = "xylophonist"


def write_corpus(path: Path) -> int:
    """Write the test corpus as JSONL and return its document count."""
    docs: list[dict[str, str]] = []
    filler = " ".join(f"zephyr wind blows over hill number {n}" for n in range(40))
    for i in range(LONG_DOCS):
        docs.append({"id": f"long:{i}", "title": f"Zephyr manual {i} " + "w" * 140,
                     "text": filler, "url": f"https://example.org/zephyr/{i}"})
    for i in range(PAGED_DOCS):
        docs.append({"id": f"paged:{i}", "title": f"Quasar catalogue entry {i}",
                     "text": f"quasar observed with redshift {i} & more <data>", "url": ""})
    for i in range(INLINE_DOCS):
        docs.append({"id": f"inline:{i}", "title": f"Nebula survey {i}",
                     "text": f"nebula gas cloud sample {i}",
                     "url": f"https://example.org/nebula/{i}"})
    docs.append({"id": "typed", "title": "Xylophonist handbook",
                 "text": "how a xylophonist practises scales", "url": ""})
    docs.append({"id": "web", "title": "nginx web server",
                 "text": "nginx is a web server and reverse proxy", "url": "https://nginx.org/"})
    with open(path, "w", encoding="utf-8") as corpus:
        for doc in docs:
            corpus.write(json.dumps(doc, ensure_ascii=False) + "\n")
    return len(docs)


def start_bot(binary: Path, corpus: Path, fake: FakeBotApi, workdir: Path, name: str,
              extra: list[str], checks: Checks, deadline: Deadline) -> BinaryProcess | None:
    args = [str(binary), "--corpus", str(corpus), "--api-url", fake.url, "--workers", "2",
            "--poll-timeout", str(POLL_TIMEOUT_SECONDS), "--shutdown-timeout", "5",
            "--log-level", "info", *extra]
    binary_process = BinaryProcess(args, child_env(TOKEN), workdir, name)
    polling = fake.wait_for(lambda api: bool(api.requests("getUpdates"))
                            or binary_process.exited(), deadline.bound(20))
    if not checks.check(polling and not binary_process.exited(),
                        f"{name}: the bot starts polling within 20 s",
                        f"{binary_process.exit_status()};{binary_process.stderr_tail()}"):
        return None
    return binary_process


def stop_bot(binary_process: BinaryProcess, checks: Checks, deadline: Deadline,
             name: str) -> None:
    binary_process.terminate()
    exit_code = binary_process.wait(deadline.bound(10))
    checks.check(exit_code == 0, f"{name}: SIGTERM stops the bot with exit code 0",
                 f"{describe_exit(exit_code)};{binary_process.stderr_tail()}")
    secret = TOKEN.split(":")[1]
    checks.check(secret not in binary_process.stdout() + binary_process.stderr(),
                 f"{name}: the token never appears in the output", "")


def replies_in(fake: FakeBotApi, chat_id: int) -> list[SentMessage]:
    return [message for message in fake.sent_messages() if message.chat_id == chat_id]


def wait_replies(fake: FakeBotApi, chat_id: int, count: int, seconds: float,
                 deadline: Deadline) -> list[SentMessage]:
    fake.wait_for(lambda api: len(replies_in(api, chat_id)) >= count, deadline.bound(seconds))
    return replies_in(fake, chat_id)


def buttons_of(message_markup: dict[str, Any] | None) -> list[dict[str, str]]:
    if not message_markup:
        return []
    return [button for row in message_markup["inline_keyboard"] for button in row]


def button(markup: dict[str, Any] | None, text: str) -> dict[str, str] | None:
    for item in buttons_of(markup):
        if item["text"] == text:
            return item
    return None


def member(index: int) -> dict[str, Any]:
    """A distinct group member, so that no user reaches the per-user query limit."""
    return {"id": 424242100 + index, "is_bot": False, "first_name": f"Member{index}"}


# ------------------------------------------------------------------------------------------
# Run 1

def check_commands(fake: FakeBotApi, checks: Checks, deadline: Deadline) -> None:
    fake.wait_for(lambda api: bool(api.commands()), deadline.bound(5))
    commands = fake.commands()
    checks.check(len(fake.requests("setMyCommands")) == 1 and len(commands) == 1,
                 "setMyCommands is sent once at start-up",
                 [record.params for record in fake.requests("setMyCommands")])
    names = [command["command"] for command in commands[0]] if commands else []
    checks.check(names == ["search", "help", "about"],
                 "the commands are search, help and about", names)


def check_groups(fake: FakeBotApi, checks: Checks, deadline: Deadline, doc_count: int) -> None:
    group = supergroup_chat(-1001234567890, "Search ways")
    expected: dict[int, str] = {}    # message_id -> a text its reply must contain
    ignored: list[int] = []
    sender_index = 0

    def push(text: str, expect: str | None) -> dict[str, Any]:
        nonlocal sender_index
        sender_index += 1
        update = fake.push_message(group, text, sender=member(sender_index))
        message_id = update["message"]["message_id"]
        if expect is None:
            ignored.append(message_id)
        else:
            expected[message_id] = expect
        return update

    push("/search nginx", "nginx web server")
    push(f"/search@{BOT_USERNAME.upper()} nginx", "nginx web server")
    push("/search@OtherBot nginx", None)
    push("has anyone tried nginx?", None)
    push("/search", "Usage")
    push(f"/help@{BOT_USERNAME}", f"@{BOT_USERNAME} words")
    push("/about", f"{doc_count} documents")
    replies = wait_replies(fake, group["id"], len(expected), 20, deadline)

    # A reply to one of the bot's messages is a query; a reply to a member's message is not.
    if replies:
        fake.push_reply(group, "nginx", replies[0], sender=member(50))
        update = fake.make_message_update(group, "nginx", sender=member(51))
        update["message"]["reply_to_message"] = {
            "message_id": replies[0].reply_to_message_id or 1, "from": member(52),
            "chat": group, "date": int(time.time()), "text": "question"}
        fake.push_update(update)
        replies = wait_replies(fake, group["id"], len(expected) + 1, 15, deadline)
    # Any reply to an ignored message would arrive within this pause.
    time.sleep(deadline.bound(2.5))
    replies = replies_in(fake, group["id"])

    by_quote = {reply.reply_to_message_id: reply for reply in replies}
    for message_id, text in expected.items():
        reply = by_quote.get(message_id)
        checks.check(reply is not None and text in reply.text,
                     f"group: message {message_id} gets a reply containing {text!r}",
                     reply.text[:200] if reply else "no reply")
    for message_id in ignored:
        checks.check(message_id not in by_quote, f"group: message {message_id} is ignored",
                     by_quote.get(message_id))
    checks.check(len(replies) == len(expected) + 1,
                 "group: the reply to the bot is answered and the reply to a member is not",
                 [(reply.reply_to_message_id, reply.text[:40]) for reply in replies])
    about = next((reply for reply in replies
                  if re.search(r"tgsearch \d+\.\d+\.\d+", reply.text)), None)
    checks.check(about is not None and f"{doc_count} documents" in about.text,
                 "group: /about names the project, its version and the corpus size",
                 [reply.text[:60] for reply in replies])


def check_long_reply(fake: FakeBotApi, checks: Checks, deadline: Deadline) -> None:
    chat = private_chat(5000000101, "Long")
    fake.push_message(chat, "zephyr")
    # Telegram's per-chat pacing sends the parts about a second apart.
    fake.wait_for(lambda api: len(replies_in(api, chat["id"])) >= 2
                  and "15. Zephyr" in "".join(m.text for m in replies_in(api, chat["id"])),
                  deadline.bound(15))
    time.sleep(deadline.bound(1.5))
    parts = replies_in(fake, chat["id"])
    checks.check(len(parts) >= 2, "long reply: 15 long results are split into messages",
                 f"{len(parts)} messages")
    checks.check(all(len(part.text) <= 4096 for part in parts),
                 "long reply: every part has at most 4096 characters",
                 [len(part.text) for part in parts])
    checks.check([part.request_seq for part in parts] == sorted(part.request_seq
                                                                for part in parts)
                 and [part.message_id for part in parts] == sorted(part.message_id
                                                                   for part in parts),
                 "long reply: the parts arrive in order", [part.message_id for part in parts])
    joined = "".join(part.text for part in parts)
    positions = [joined.find(f"{rank}. Zephyr manual") for rank in range(1, LONG_DOCS + 1)]
    checks.check(all(position >= 0 for position in positions) and positions == sorted(positions),
                 "long reply: the joined parts list all 15 results in order", positions)
    checks.check(all(not part.reply_markup for part in parts),
                 "long reply: a single page has no buttons", [p.reply_markup for p in parts])


def check_pagination(fake: FakeBotApi, checks: Checks, deadline: Deadline) -> None:
    chat = private_chat(5000000202, "Pager")
    fake.push_message(chat, "quasar")
    replies = wait_replies(fake, chat["id"], 1, 10, deadline)
    if not checks.check(len(replies) == 1, "pages: the search gets one message",
                        f"{len(replies)} messages"):
        return
    first = replies[0]
    labels = [item["text"] for item in buttons_of(first.reply_markup)]
    checks.check(labels == ["page 1/3", "▶"], "pages: page 1 has a label and ▶ only", labels)
    checks.check(all(len(item["callback_data"].encode()) <= 64
                     for item in buttons_of(first.reply_markup)),
                 "pages: callback_data is at most 64 bytes", first.reply_markup)
    checks.check("1. Quasar" in first.text and "20. Quasar" in first.text
                  and "21. Quasar" not in first.text, "pages: page 1 lists results 1 to 20",
                  first.text[-200:])

    def press(data: str, expect_edits: int) -> str:
        query_id = fake.push_callback_query(chat, first.message_id, data)
        fake.wait_for(lambda api: any(answer.query_id == query_id
                                      for answer in api.callback_answers())
                      and len(api.edits()) >= expect_edits, deadline.bound(10))
        return query_id

    forward = button(first.reply_markup, "▶")
    if not checks.check(forward is not None, "pages: ▶ exists", first.reply_markup):
        return
    press(forward["callback_data"], 1)
    edits = fake.edits()
    checks.check(len(edits) == 1 and edits[-1].message_id == first.message_id
                 and "21. Quasar" in edits[-1].text and "40. Quasar" in edits[-1].text
                 and "41. Quasar" not in edits[-1].text,
                 "pages: ▶ edits the message in place to results 21 to 40",
                 edits[-1].text[:200] if edits else "no edit")
    second_markup = edits[-1].reply_markup if edits else None
    labels = [item["text"] for item in buttons_of(second_markup)]
    checks.check(labels == ["◀", "page 2/3", "▶"], "pages: page 2 has ◀, label and ▶", labels)

    # The same ▶ pressed again asks for the page the message already shows.
    twice = press(forward["callback_data"], 1)
    time.sleep(deadline.bound(0.5))
    checks.check(len(fake.edits()) == 1, "pages: a button pressed twice changes nothing",
                 f"{len(fake.edits())} edits")
    not_modified = [record for record in fake.requests("editMessageText")
                    if record.status == 400]
    checks.check(len(not_modified) == 1 and "message is not modified" in
                 (not_modified[0].response or {}).get("description", ""),
                 "pages: the second press got 'message is not modified'",
                 [record.response for record in not_modified])
    answer = next((a for a in fake.callback_answers() if a.query_id == twice), None)
    checks.check(answer is not None and not answer.params.get("text"),
                 "pages: the second press is answered as a success",
                 answer.params if answer else "no answer")

    back = button(second_markup, "◀")
    if back is not None:
        press(back["callback_data"], 2)
    edits = fake.edits()
    checks.check(len(edits) == 2 and edits[-1].text == first.text
                 and [item["text"] for item in buttons_of(edits[-1].reply_markup)]
                 == ["page 1/3", "▶"], "pages: ◀ goes back to page 1",
                 edits[-1].text[:100] if edits else "no edit")

    last = button(second_markup, "▶")
    if last is not None:
        press(last["callback_data"], 3)
    edits = fake.edits()
    checks.check(len(edits) == 3 and "45. Quasar" in edits[-1].text
                 and [item["text"] for item in buttons_of(edits[-1].reply_markup)]
                 == ["◀", "page 3/3"], "pages: the last page has no ▶",
                 edits[-1].text[-100:] if edits else "no edit")

    presses = [record for record in fake.requests("answerCallbackQuery")]
    ids = [record.params.get("callback_query_id") for record in presses]
    checks.check(len(ids) == 4 and len(set(ids)) == 4,
                 "pages: each of the 4 presses is answered exactly once", ids)


def check_inline(fake: FakeBotApi, checks: Checks, deadline: Deadline) -> None:
    def ask(query: str, offset: str = "") -> dict[str, Any] | None:
        query_id = fake.push_inline_query(query, offset)
        fake.wait_for(lambda api: any(answer.query_id == query_id
                                      for answer in api.inline_answers()), deadline.bound(10))
        for answer in fake.inline_answers():
            if answer.query_id == query_id:
                return {"params": answer.params, "latency": answer.time - answer.query_time}
        return None

    offset = ""
    pages: list[tuple[int, str]] = []
    titles: list[str] = []
    for _ in range(4):
        answer = ask("nebula", offset)
        if answer is None:
            break
        params = answer["params"]
        pages.append((len(params["results"]), params.get("next_offset", "")))
        titles += [result["title"] for result in params["results"]]
        offset = params.get("next_offset", "")
        if not offset:
            break
    checks.check(pages == [(50, "50"), (50, "100"), (20, "")],
                 "inline: 120 results come in pages of 50 through next_offset", pages)
    checks.check(len(set(titles)) == INLINE_DOCS, "inline: the pages do not overlap",
                 f"{len(set(titles))} distinct titles")

    answer = ask("nebula")
    if answer is not None:
        params = answer["params"]
        checks.check(params.get("cache_time") == 300 and params.get("is_personal") is False,
                     "inline: answers set cache_time 300 and is_personal false",
                     {key: params.get(key) for key in ("cache_time", "is_personal")})
        first = params["results"][0] if params["results"] else {}
        content = first.get("input_message_content", {})
        checks.check(content.get("parse_mode") == "HTML"
                     and '<a href="https://example.org/nebula/' in content.get("message_text", "")
                     and first.get("url", "").startswith("https://example.org/nebula/")
                     and bool(first.get("description")),
                     "inline: an article has a description and an HTML message with its link",
                     first)

    # Typed letter by letter: from four letters on, the document is found by prefix.
    typed: list[tuple[str, bool]] = []
    for length in range(1, len(TYPED_WORD) + 1):
        answer = ask(TYPED_WORD[:length])
        found = answer is not None and any(result["title"] == "Xylophonist handbook"
                                           for result in answer["params"]["results"])
        typed.append((TYPED_WORD[:length], found))
    checks.check(all(found for prefix, found in typed if len(prefix) >= 4),
                 "inline: every prefix of 4 or more letters finds the typed word", typed)

    answer = ask("")
    checks.check(answer is not None and answer["params"]["results"] == []
                 and answer["params"].get("next_offset", "") == "" and answer["latency"] < 1.0,
                 "inline: an empty query gets no results within a second",
                 answer and {"latency": answer["latency"], "results": answer["params"]["results"]})


def check_inline_under_load(fake: FakeBotApi, checks: Checks, deadline: Deadline) -> None:
    # Three chats with ten queries each: per-chat pacing spreads their replies over ~10 s.
    chats = [private_chat(5000000300 + index, f"Busy{index}") for index in range(3)]
    for round_index in range(10):
        for chat in chats:
            fake.push_message(chat, f"nebula {round_index}")
    fake.wait_for(lambda api: len(replies_in(api, chats[0]["id"])) >= 2, deadline.bound(10))
    query_id = fake.push_inline_query("quasar")
    fake.wait_for(lambda api: any(answer.query_id == query_id
                                  for answer in api.inline_answers()), deadline.bound(10))
    answer = next((a for a in fake.inline_answers() if a.query_id == query_id), None)
    waiting = sum(10 - len(replies_in(fake, chat["id"])) for chat in chats)
    if answer is not None:
        print(f"   inline answer after {answer.time - answer.query_time:.3f} s while {waiting} "
              "chat replies waited for pacing", flush=True)
    checks.check(answer is not None and answer.time - answer.query_time < 1.0,
                 "inline: a query is answered within a second while chat replies wait",
                 f"latency {answer.time - answer.query_time:.2f} s, {waiting} replies waiting"
                 if answer else "no answer")
    checks.check(waiting > 0, "inline: chat replies were still waiting for pacing",
                 f"{waiting} waiting")
    fake.wait_for(lambda api: all(len(replies_in(api, chat["id"])) >= 10 for chat in chats),
                  deadline.bound(20))


def check_no_errors(fake: FakeBotApi, checks: Checks) -> None:
    errors = [(record.method, record.status, (record.response or {}).get("description"))
              for record in fake.requests() if record.status not in (0, 200)
              and not (record.method == "editMessageText" and "not modified" in
                       (record.response or {}).get("description", ""))]
    checks.check(not errors, "every other call succeeded", errors[:5])


def run_search_ways(binary: Path, workdir: Path, checks: Checks, deadline: Deadline) -> None:
    print("== run 1: groups, long replies, pages, inline mode, commands", flush=True)
    corpus = workdir / "corpus.jsonl"
    doc_count = write_corpus(corpus)
    fake = FakeBotApi(TOKEN, username=BOT_USERNAME).start()
    binary_process = None
    try:
        binary_process = start_bot(binary, corpus, fake, workdir, "search_ways",
                                   ["--page-size", str(PAGE_SIZE)], checks, deadline)
        if binary_process is None:
            return
        check_commands(fake, checks, deadline)
        check_groups(fake, checks, deadline, doc_count)
        check_long_reply(fake, checks, deadline)
        check_pagination(fake, checks, deadline)
        check_inline(fake, checks, deadline)
        check_inline_under_load(fake, checks, deadline)
        check_no_errors(fake, checks)
        stop_bot(binary_process, checks, deadline, "run 1")
        checks.check(len(fake.requests("setMyCommands")) == 1,
                     "setMyCommands was sent once in the whole run",
                     len(fake.requests("setMyCommands")))
    finally:
        if binary_process is not None:
            binary_process.kill()
        fake.stop()


def run_expired_page(binary: Path, workdir: Path, checks: Checks, deadline: Deadline) -> None:
    print("== run 2: a button on an expired page", flush=True)
    corpus = workdir / "corpus.jsonl"
    fake = FakeBotApi(TOKEN, username=BOT_USERNAME).start()
    binary_process = None
    try:
        binary_process = start_bot(binary, corpus, fake, workdir, "expired_page",
                                   ["--page-expiry", "2s"], checks, deadline)
        if binary_process is None:
            return
        chat = private_chat(5000000404, "Late")
        fake.push_message(chat, "quasar")
        replies = wait_replies(fake, chat["id"], 1, 10, deadline)
        forward = button(replies[0].reply_markup, "▶") if replies else None
        if not checks.check(forward is not None, "expiry: the reply has ▶",
                            replies[0].reply_markup if replies else "no reply"):
            return
        time.sleep(deadline.bound(3.0))
        query_id = fake.push_callback_query(chat, replies[0].message_id,
                                            forward["callback_data"])
        fake.wait_for(lambda api: bool(api.callback_answers()), deadline.bound(10))
        answers = fake.callback_answers()
        checks.check(len(answers) == 1 and answers[0].query_id == query_id
                     and answers[0].params.get("text") == EXPIRED_TEXT,
                     "expiry: the press is answered with 'This search has expired'",
                     [answer.params for answer in answers])
        checks.check(not fake.requests("editMessageText"), "expiry: the message is not edited",
                     len(fake.requests("editMessageText")))
        stop_bot(binary_process, checks, deadline, "run 2")
    finally:
        if binary_process is not None:
            binary_process.kill()
        fake.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True, type=Path, help="path to tgsearch")
    args = parser.parse_args()
    args.binary = args.binary.resolve()

    checks = Checks()
    deadline = Deadline(OVERALL_DEADLINE_SECONDS - 5)
    watchdog = start_watchdog(checks, OVERALL_DEADLINE_SECONDS)
    try:
        if not checks.check(args.binary.is_file() and os.access(args.binary, os.X_OK),
                            "the binary exists and is executable", str(args.binary)):
            return checks.summary()
        with tempfile.TemporaryDirectory(prefix="tgsearch-ways-test-") as temp:
            workdir = Path(temp)
            run_search_ways(args.binary, workdir, checks, deadline)
            run_expired_page(args.binary, workdir, checks, deadline)
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
