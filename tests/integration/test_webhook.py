#!/usr/bin/env python3
"""End-to-end test of webhook mode against the fake Bot API server, which posts updates to the
bot's webhook server the way Telegram does.

1. Webhook mode (--webhook-url http://127.0.0.1:PORT/telegram --listen 127.0.0.1:PORT):
   setWebhook is called once with the URL, a 43-character secret token, allowed_updates and
   without dropping pending updates. Messages posted with the secret get 200 and a reply in
   their chat. Requests without the secret, with a wrong one or with one of another length get
   401 and no reply. A GET gets 405, another path 404 and a body that is not JSON 400. An
   inline query and a page button delivered by webhook get their answers. The bot never calls
   getUpdates, exits 0 on SIGTERM, and prints neither the secret nor the token.
2. Back to polling: the same fake still has the webhook set. A message pushed while no bot
   runs waits, and the bot started without --webhook-url calls getWebhookInfo and
   deleteWebhook (keeping pending updates) before its first getUpdates, meets no 409, and
   answers that message.
3. Getting out of webhook mode when getWebhookInfo and deleteWebhook each fail once with 500:
   both are called again, and getUpdates never meets a 409.
4. Invalid flags: a plain-http URL to another host, --webhook-url without --listen, --listen
   alone and a port over 65535 each fail with a message that names the value, before the
   corpus is read and before any Bot API call.
5. Start-up failures: a --listen port in use fails before setWebhook, and a URL that
   setWebhook rejects fails after one call, both with a non-zero exit code.

Usage: test_webhook.py --binary build/app/tgsearch
Prints one line per failed check and a final "N passed, N failed"; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import socket
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

# Importing the sibling modules must not leave __pycache__ in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_bot_api import (FakeBotApi, SentMessage, group_chat, private_chat)  # noqa: E402
from harness import (BOT_USERNAME, TOKEN, BinaryProcess, Checks, Deadline,  # noqa: E402
                     child_env, describe_exit, start_watchdog)

OVERALL_DEADLINE_SECONDS = 100
POLL_TIMEOUT_SECONDS = 2
PAGE_SIZE = 5
WEBHOOK_PATH = "/telegram"
ALLOWED_UPDATES = ["message", "callback_query", "inline_query"]
# make_webhook_secret() encodes 32 random bytes as base64url without padding.
SECRET_RE = re.compile(r"[A-Za-z0-9_-]{43}")
PAGED_DOCS = 12       # "quasar": pages of 5, 5 and 2


def write_corpus(path: Path) -> None:
    docs: list[dict[str, str]] = []
    for i in range(PAGED_DOCS):
        docs.append({"id": f"paged:{i}", "title": f"Quasar catalogue entry {i}",
                     "text": f"quasar observed with redshift {i}", "url": ""})
    for i in range(3):
        docs.append({"id": f"nebula:{i}", "title": f"Nebula survey {i}",
                     "text": f"nebula gas cloud sample {i}",
                     "url": f"https://example.org/nebula/{i}"})
    docs.append({"id": "pulsar", "title": "Pulsar timing notes",
                 "text": "a pulsar is a rotating neutron star", "url": ""})
    with open(path, "w", encoding="utf-8") as corpus:
        for doc in docs:
            corpus.write(json.dumps(doc) + "\n")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def replies_in(fake: FakeBotApi, chat_id: int) -> list[SentMessage]:
    return [message for message in fake.sent_messages() if message.chat_id == chat_id]


def wait_reply(fake: FakeBotApi, chat_id: int, deadline: Deadline) -> SentMessage | None:
    fake.wait_for(lambda api: bool(replies_in(api, chat_id)), deadline.bound(10))
    replies = replies_in(fake, chat_id)
    return replies[0] if replies else None


def start_bot(binary: Path, corpus: Path, fake: FakeBotApi, workdir: Path, name: str,
              extra: list[str]) -> BinaryProcess:
    args = [str(binary), "--corpus", str(corpus), "--api-url", fake.url, "--workers", "2",
            "--poll-timeout", str(POLL_TIMEOUT_SECONDS), "--shutdown-timeout", "5",
            "--page-size", str(PAGE_SIZE), "--log-level", "info", *extra]
    return BinaryProcess(args, child_env(TOKEN), workdir, name)


def stop_bot(binary_process: BinaryProcess, checks: Checks, deadline: Deadline,
             name: str) -> None:
    binary_process.terminate()
    exit_code = binary_process.wait(deadline.bound(10))
    checks.check(exit_code == 0, f"{name}: SIGTERM stops the bot with exit code 0",
                 f"{describe_exit(exit_code)};{binary_process.stderr_tail()}")
    if exit_code is None:
        binary_process.kill()


def failed_calls(fake: FakeBotApi) -> list[tuple[str, int, Any]]:
    return [(record.method, record.status, (record.response or {}).get("description"))
            for record in fake.requests() if record.status not in (0, 200)]


# ------------------------------------------------------------------------------------------
# Run 1: webhook mode

def check_registration(fake: FakeBotApi, url: str, checks: Checks) -> str:
    """Check the setWebhook call and return the secret token it registered."""
    calls = fake.requests("setWebhook")
    checks.check(len(calls) == 1, "webhook: setWebhook is called once",
                 f"{len(calls)} calls")
    params = calls[0].params if calls else {}
    checks.check(params.get("url") == url, "webhook: setWebhook registers --webhook-url",
                 params.get("url"))
    secret = params.get("secret_token")
    checks.check(isinstance(secret, str) and SECRET_RE.fullmatch(secret) is not None,
                 "webhook: the secret token has 43 characters of A-Z, a-z, 0-9, _ and -",
                 f"{len(secret) if isinstance(secret, str) else secret!r} characters")
    checks.check(params.get("allowed_updates") == ALLOWED_UPDATES,
                 f"webhook: setWebhook asks for {ALLOWED_UPDATES}",
                 params.get("allowed_updates"))
    checks.check(params.get("drop_pending_updates") in (None, False),
                 "webhook: setWebhook keeps pending updates",
                 params.get("drop_pending_updates"))
    checks.check(calls[0].status == 200 if calls else False,
                 "webhook: the fake accepts setWebhook",
                 calls[0].response if calls else "no call")
    info = fake.webhook()
    checks.check(info is not None and info["url"] == url, "webhook: the fake has the webhook set",
                 info and info["url"])
    return secret if isinstance(secret, str) else ""


def check_messages(fake: FakeBotApi, checks: Checks, deadline: Deadline) -> None:
    """Updates posted with the right secret are taken with 200 and answered in their chat."""
    private = private_chat(5100000001, "Hook")
    group = group_chat(-5100000002, "Hook group")
    private_update = fake.push_message(private, "pulsar")
    group_update = fake.push_message(group, f"/search@{BOT_USERNAME} nebula")
    private_reply = wait_reply(fake, private["id"], deadline)
    group_reply = wait_reply(fake, group["id"], deadline)

    checks.check(private_reply is not None and "Pulsar timing notes" in private_reply.text,
                 "webhook: a private message gets its search results",
                 private_reply.text[:200] if private_reply else "no reply")
    checks.check(group_reply is not None and "Nebula survey" in group_reply.text
                 and group_reply.reply_to_message_id
                 == group_update["message"]["message_id"],
                 "webhook: a group /search gets a reply that quotes it",
                 group_reply.text[:200] if group_reply else "no reply")
    # The bot answers a webhook request once the update is done, so the 200 comes after the
    # reply and may still be on its way.
    ids = {private_update["update_id"], group_update["update_id"]}

    def statuses() -> list[int]:
        return [delivery.status for delivery in fake.webhook_deliveries()
                if delivery.update_id in ids]

    fake.wait_for(lambda api: len(statuses()) >= 2, deadline.bound(10))
    checks.check(statuses() == [200, 200], "webhook: each update gets 200 once it is answered",
                 statuses())


def check_rejected_requests(fake: FakeBotApi, secret: str, checks: Checks,
                            deadline: Deadline) -> None:
    """Requests that fail a check get their status and never reach the search."""
    cases: list[tuple[str, dict[str, Any], int]] = [
        ("a POST without the secret", {"secret": None}, 401),
        ("a POST with a wrong secret of the same length",
         {"secret": ("A" if secret[0] != "A" else "B") + secret[1:]}, 401),
        ("a POST with a secret of another length", {"secret": secret + "x"}, 401),
        ("a POST with a secret cut short", {"secret": secret[:-1]}, 401),
        ("a GET", {"http_method": "GET"}, 405),
        ("a POST to another path", {"path": WEBHOOK_PATH + "/other"}, 404),
        ("a body that is not JSON", {"body": b"chat_id=1&text=pulsar"}, 400),
        ("a JSON array body", {"body": b"[1, 2]"}, 400),
    ]
    quiet_chats: list[int] = []
    for index, (name, options, expected) in enumerate(cases):
        chat = private_chat(5100000100 + index, f"Rejected{index}")
        fake.add_chat(chat)
        quiet_chats.append(chat["id"])
        update = fake.make_message_update(chat, "pulsar")
        update["update_id"] = 900000 + index
        body = options.pop("body", update)
        try:
            status, headers, _ = fake.post_to_webhook(body, **options)
        except OSError as error:
            checks.check(False, f"webhook: {name} gets a response", str(error))
            continue
        checks.check(status == expected, f"webhook: {name} gets {expected}", status)
        if expected == 405:
            checks.check(headers.get("allow") == "POST", "webhook: 405 names POST in Allow",
                         headers)

    # An update posted after the rejected ones is answered, so by then the rejected ones
    # would have been answered too; the pause covers replies still being sent.
    marker = private_chat(5100000200, "Marker")
    fake.push_message(marker, "pulsar")
    checks.check(wait_reply(fake, marker["id"], deadline) is not None,
                 "webhook: a message after the rejected requests is answered", "no reply")
    time.sleep(deadline.bound(0.5))
    answered = [chat_id for chat_id in quiet_chats if replies_in(fake, chat_id)]
    checks.check(not answered, "webhook: rejected requests get no reply", answered)


def check_queries(fake: FakeBotApi, checks: Checks, deadline: Deadline) -> None:
    """An inline query and a page button delivered by webhook are answered."""
    inline_id = fake.push_inline_query("nebula")
    fake.wait_for(lambda api: any(answer.query_id == inline_id
                                  for answer in api.inline_answers()), deadline.bound(10))
    answer = next((item for item in fake.inline_answers() if item.query_id == inline_id), None)
    results = answer.params.get("results", []) if answer else []
    checks.check(len(results) == 3, "webhook: an inline query is answered with 3 results",
                 answer.params if answer else "no answer")

    chat = private_chat(5100000300, "Pager")
    fake.push_message(chat, "quasar")
    first = wait_reply(fake, chat["id"], deadline)
    markup = first.reply_markup if first else None
    buttons = [item for row in (markup or {}).get("inline_keyboard", []) for item in row]
    forward = next((item for item in buttons if item["text"] == "▶"), None)
    if not checks.check(forward is not None, "webhook: a search of 12 results has a ▶ button",
                        markup):
        return
    query_id = fake.push_callback_query(chat, first.message_id, forward["callback_data"])
    fake.wait_for(lambda api: any(item.query_id == query_id for item in api.callback_answers())
                  and bool(api.edits()), deadline.bound(10))
    checks.check(any(item.query_id == query_id for item in fake.callback_answers()),
                 "webhook: a button press is answered", "no answerCallbackQuery")
    edits = fake.edits()
    checks.check(len(edits) == 1 and edits[0].message_id == first.message_id
                 and "6. Quasar" in edits[0].text and "11. Quasar" not in edits[0].text,
                 "webhook: ▶ edits the message to results 6 to 10",
                 edits[0].text[:200] if edits else "no edit")


def run_webhook_mode(binary: Path, corpus: Path, fake: FakeBotApi, workdir: Path,
                     checks: Checks, deadline: Deadline) -> None:
    print("== run 1: webhook mode", flush=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
    bot = start_bot(binary, corpus, fake, workdir, "webhook",
                    ["--webhook-url", url, "--listen", f"127.0.0.1:{port}"])
    try:
        registered = fake.wait_for(lambda api: bool(api.requests("setWebhook"))
                                   or bot.exited(), deadline.bound(20))
        if not checks.check(registered and not bot.exited(),
                            "webhook: the bot calls setWebhook within 20 s",
                            f"{bot.exit_status()};{bot.stderr_tail()}"):
            return
        secret = check_registration(fake, url, checks)
        if not secret:
            return
        check_messages(fake, checks, deadline)
        check_rejected_requests(fake, secret, checks, deadline)
        check_queries(fake, checks, deadline)

        checks.check(not fake.requests("getUpdates"), "webhook: getUpdates is never called",
                     f"{len(fake.requests('getUpdates'))} calls")
        failed = [(delivery.update_id, delivery.status, delivery.error)
                  for delivery in fake.webhook_deliveries()
                  if delivery.automatic and delivery.status != 200]
        checks.check(not failed, "webhook: every delivered update got 200", failed[:5])
        checks.check(not failed_calls(fake), "webhook: every Bot API call succeeded",
                     failed_calls(fake)[:5])
    finally:
        stop_bot(bot, checks, deadline, "webhook")
    output = bot.stdout() + bot.stderr()
    checks.check(secret not in output, "webhook: the secret token never appears in the output",
                 "")
    checks.check(TOKEN.split(":")[1] not in output,
                 "webhook: the bot token never appears in the output", "")
    checks.check(fake.webhook() is not None and fake.webhook()["url"] == url,
                 "webhook: the webhook stays set after the bot stops", fake.webhook())


def run_stop_with_updates_waiting(binary: Path, corpus: Path, fake: FakeBotApi,
                                  workdir: Path, checks: Checks, deadline: Deadline) -> None:
    """SIGTERM while replies are slower than the shutdown timeout, then a restart: the bot
    answers a webhook request only once its update is done, so Telegram sends the unfinished
    ones again and none is lost."""
    print("== run 6: SIGTERM with updates waiting, then a restart", flush=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
    chats = [private_chat(5200000001 + i, f"Stop {i}") for i in range(10)]
    # Each reply takes longer than the bot's 5 s shutdown timeout, and there are more chats
    # than the bot's 4 send connections, so some replies have not even started at SIGTERM.
    fake.set_delay("sendMessage", 6.0)
    first = start_bot(binary, corpus, fake, workdir, "stop-1",
                      ["--webhook-url", url, "--listen", f"127.0.0.1:{port}"])
    second = None
    try:
        before = len(fake.requests("setWebhook"))
        fake.wait_for(lambda api: len(api.requests("setWebhook")) > before, deadline.bound(20))
        sent_before = len(fake.requests("sendMessage"))
        for chat in chats:
            fake.push_message(chat, "pulsar")
        # SIGTERM once the first reply is on its way, slowed down by the fake.
        fake.wait_for(lambda api: len(api.requests("sendMessage")) > sent_before,
                      deadline.bound(10))
        time.sleep(0.5)
        first.terminate()
        first.wait(deadline.bound(20))
        fake.set_delay("sendMessage", 0.0)
        before = len(fake.requests("setWebhook"))
        second = start_bot(binary, corpus, fake, workdir, "stop-2",
                           ["--webhook-url", url, "--listen", f"127.0.0.1:{port}"])
        fake.wait_for(lambda api: len(api.requests("setWebhook")) > before, deadline.bound(20))
        answered = fake.wait_for(lambda api: all(replies_in(api, chat["id"]) for chat in chats),
                                 deadline.bound(30))
        checks.check(answered, "stop: every update is answered after the restart",
                     [len(replies_in(fake, chat["id"])) for chat in chats])
    finally:
        fake.set_delay("sendMessage", 0.0)
        if second is not None:
            stop_bot(second, checks, deadline, "stop-2")
        first.kill()


# ------------------------------------------------------------------------------------------
# Run 2: back to polling with the webhook still set

def run_back_to_polling(binary: Path, corpus: Path, fake: FakeBotApi, workdir: Path,
                        checks: Checks, deadline: Deadline) -> None:
    print("== run 2: polling after webhook mode", flush=True)
    if fake.webhook() is None:
        checks.check(False, "polling: run 1 left a webhook set", "no webhook")
        return
    chat = private_chat(5200000001, "Waiting")
    waiting = fake.push_message(chat, "pulsar")
    # No bot listens now, so the fake's deliveries fail and the update stays pending.
    fake.wait_for(lambda api: any(delivery.update_id == waiting["update_id"]
                                  for delivery in api.webhook_deliveries()),
                  deadline.bound(5))
    refused = [delivery for delivery in fake.webhook_deliveries()
               if delivery.update_id == waiting["update_id"]]
    checks.check(bool(refused) and all(delivery.status == 0 for delivery in refused),
                 "polling: the fake cannot deliver while no bot runs",
                 [(delivery.status, delivery.error) for delivery in refused])
    requests_before = len(fake.requests())

    bot = start_bot(binary, corpus, fake, workdir, "polling", [])
    try:
        polling = fake.wait_for(lambda api: bool(api.requests("getUpdates")) or bot.exited(),
                                deadline.bound(20))
        if not checks.check(polling and not bot.exited(),
                            "polling: the bot polls within 20 s",
                            f"{bot.exit_status()};{bot.stderr_tail()}"):
            return
        calls = fake.requests()[requests_before:]
        methods = [record.method for record in calls]
        first_poll = methods.index("getUpdates")
        checks.check("getWebhookInfo" in methods[:first_poll]
                     and "deleteWebhook" in methods[:first_poll]
                     and methods.index("getWebhookInfo") < methods.index("deleteWebhook"),
                     "polling: getWebhookInfo, then deleteWebhook, before the first getUpdates",
                     methods[:first_poll + 1])
        deletes = [record for record in calls if record.method == "deleteWebhook"]
        checks.check(len(deletes) == 1
                     and deletes[0].params.get("drop_pending_updates") in (None, False),
                     "polling: deleteWebhook is called once and keeps pending updates",
                     [record.params for record in deletes])
        checks.check(fake.webhook() is None, "polling: the webhook is deleted", fake.webhook())

        reply = wait_reply(fake, chat["id"], deadline)
        checks.check(reply is not None and "Pulsar timing notes" in reply.text,
                     "polling: the message pushed while no bot ran is answered",
                     reply.text[:200] if reply else "no reply")
        conflicts = [record.seq for record in fake.requests("getUpdates")
                     if record.status == 409]
        checks.check(not conflicts, "polling: getUpdates never gets 409", conflicts)
    finally:
        stop_bot(bot, checks, deadline, "polling")
    checks.check(TOKEN.split(":")[1] not in bot.stdout() + bot.stderr(),
                 "polling: the bot token never appears in the output", "")


def set_webhook_directly(fake: FakeBotApi, url: str) -> int:
    """Call setWebhook on the fake as an earlier run in webhook mode would; return the status."""
    connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=10)
    try:
        connection.request("POST", f"/bot{TOKEN}/setWebhook",
                           body=json.dumps({"url": url, "secret_token": "earlier_run"}),
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def run_failed_removal(binary: Path, corpus: Path, fake: FakeBotApi, workdir: Path,
                       checks: Checks, deadline: Deadline) -> None:
    """getWebhookInfo and deleteWebhook that fail once with 500 are called again."""
    print("== run 3: polling after getWebhookInfo and deleteWebhook fail once", flush=True)
    status = set_webhook_directly(fake, f"http://127.0.0.1:{free_port()}{WEBHOOK_PATH}")
    if not checks.check(status == 200, "retry: the fake takes setWebhook", status):
        return
    fake.fail_next("getWebhookInfo", 500, "Internal Server Error")
    fake.fail_next("deleteWebhook", 500, "Internal Server Error")
    chat = private_chat(5300000001, "Retry")
    fake.push_message(chat, "pulsar")
    requests_before = len(fake.requests())

    bot = start_bot(binary, corpus, fake, workdir, "retry", [])
    try:
        fake.wait_for(lambda api: bool(replies_in(api, chat["id"])) or bot.exited(),
                      deadline.bound(15))
        calls = [(record.method, record.status) for record in fake.requests()[requests_before:]
                 if record.method in ("getWebhookInfo", "deleteWebhook", "getUpdates")]
        expected = [("getWebhookInfo", 500), ("getWebhookInfo", 200), ("deleteWebhook", 500),
                    ("deleteWebhook", 200)]
        checks.check(calls[:4] == expected,
                     "retry: failed getWebhookInfo and deleteWebhook are called again before "
                     "getUpdates", calls[:6])
        checks.check(bool(replies_in(fake, chat["id"])),
                     "retry: the waiting message is answered", bot.stderr_tail())
        conflicts = [record.seq for record in fake.requests("getUpdates")
                     if record.status == 409]
        checks.check(not conflicts, "retry: getUpdates never gets 409", conflicts)
    finally:
        stop_bot(bot, checks, deadline, "retry")


# ------------------------------------------------------------------------------------------
# Run 4: invalid flags

def run_flag_errors(binary: Path, fake: FakeBotApi, workdir: Path, checks: Checks,
                    deadline: Deadline) -> None:
    print("== run 4: invalid webhook flags", flush=True)
    # A corpus that does not exist, so a run that got as far as loading it would log its path.
    missing_corpus = workdir / "never-read.jsonl"
    cases = [
        ("plain http to another host",
         ["--webhook-url", "http://example.org/x", "--listen", "127.0.0.1:1"],
         "http://example.org/x"),
        ("--webhook-url without --listen", ["--webhook-url", "https://127.0.0.1/x"],
         "https://127.0.0.1/x"),
        ("--listen without --webhook-url", ["--listen", "127.0.0.1:8443"], "127.0.0.1:8443"),
        ("--listen with port 99999",
         ["--webhook-url", "https://127.0.0.1/x", "--listen", "127.0.0.1:99999"],
         "127.0.0.1:99999"),
    ]
    requests_before = len(fake.requests())
    for index, (name, flags, value) in enumerate(cases):
        args = [str(binary), "--corpus", str(missing_corpus), "--api-url", fake.url, *flags]
        bot = BinaryProcess(args, child_env(TOKEN), workdir, f"flags{index}")
        exit_code = bot.wait(deadline.bound(10))
        if exit_code is None:
            bot.kill()
        output = bot.stdout() + bot.stderr()
        checks.check(exit_code not in (None, 0), f"flags: {name} exits non-zero",
                     describe_exit(exit_code))
        checks.check(value in output, f"flags: {name} names {value}", bot.stderr_tail())
        checks.check(str(missing_corpus) not in output,
                     f"flags: {name} fails before the corpus is read", bot.stderr_tail())
    checks.check(len(fake.requests()) == requests_before,
                 "flags: invalid flags make no Bot API call",
                 [record.method for record in fake.requests()[requests_before:]])


# ------------------------------------------------------------------------------------------
# Run 5: start-up failures in webhook mode

def run_start_failures(binary: Path, corpus: Path, fake: FakeBotApi, workdir: Path,
                       checks: Checks, deadline: Deadline) -> None:
    print("== run 5: webhook start-up failures", flush=True)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        calls_before = len(fake.requests("setWebhook"))
        bot = start_bot(binary, corpus, fake, workdir, "port-in-use",
                        ["--webhook-url", f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
                         "--listen", f"127.0.0.1:{port}"])
        exit_code = bot.wait(deadline.bound(15))
        if exit_code is None:
            bot.kill()
    checks.check(exit_code not in (None, 0), "start: a --listen port in use exits non-zero",
                 describe_exit(exit_code))
    checks.check(f"127.0.0.1:{port}" in bot.stderr(),
                 "start: the port-in-use error names the address", bot.stderr_tail())
    checks.check(len(fake.requests("setWebhook")) == calls_before,
                 "start: no setWebhook without a listening server",
                 f"{len(fake.requests('setWebhook')) - calls_before} calls")

    # The bot accepts http://localhost for tests, but the fake, like Telegram, rejects it.
    port = free_port()
    url = f"http://localhost:{port}{WEBHOOK_PATH}"
    calls_before = len(fake.requests("setWebhook"))
    bot = start_bot(binary, corpus, fake, workdir, "rejected-url",
                    ["--webhook-url", url, "--listen", f"127.0.0.1:{port}"])
    exit_code = bot.wait(deadline.bound(15))
    if exit_code is None:
        bot.kill()
    checks.check(exit_code not in (None, 0), "start: a URL that setWebhook rejects exits "
                 "non-zero", describe_exit(exit_code))
    checks.check(len(fake.requests("setWebhook")) == calls_before + 1,
                 "start: a rejected setWebhook is not repeated",
                 f"{len(fake.requests('setWebhook')) - calls_before} calls")
    checks.check(url in bot.stderr() and "An HTTPS URL must be provided" in bot.stderr(),
                 "start: the setWebhook error names the URL and Telegram's reason",
                 bot.stderr_tail())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True, type=Path)
    args = parser.parse_args()
    # The binary runs in a temporary directory, so a relative path would not find it.
    binary = args.binary.resolve()
    checks = Checks()
    watchdog = start_watchdog(checks, OVERALL_DEADLINE_SECONDS)
    deadline = Deadline(OVERALL_DEADLINE_SECONDS - 5)
    started = time.monotonic()
    fake = FakeBotApi(TOKEN, username=BOT_USERNAME).start()
    try:
        with tempfile.TemporaryDirectory(prefix="tgsearch-webhook-") as temp:
            workdir = Path(temp)
            corpus = workdir / "corpus.jsonl"
            write_corpus(corpus)
            run_webhook_mode(binary, corpus, fake, workdir, checks, deadline)
            run_back_to_polling(binary, corpus, fake, workdir, checks, deadline)
            run_failed_removal(binary, corpus, fake, workdir, checks, deadline)
            run_flag_errors(binary, fake, workdir, checks, deadline)
            run_start_failures(binary, corpus, fake, workdir, checks, deadline)
            run_stop_with_updates_waiting(binary, corpus, fake, workdir, checks, deadline)
    except Exception:
        checks.check(False, "the test ran without an exception", traceback.format_exc())
    finally:
        for binary in BinaryProcess.running:
            binary.kill()
        fake.stop()
        watchdog.cancel()
    print(f"took {time.monotonic() - started:.1f} s", flush=True)
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
