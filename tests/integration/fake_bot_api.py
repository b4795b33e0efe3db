#!/usr/bin/env python3
"""A fake Telegram Bot API server for tests, standard library only.

It serves /bot<token>/<method> over HTTP/1.1 with keep-alive on 127.0.0.1 and implements the
parts of the Bot API that tgsearch calls, with Telegram's semantics and validation:

* getMe returns a configurable bot user.
* getUpdates long-polls: `offset` confirms (drops) every update with a smaller id, `limit` is
  clamped to 1..100 and `timeout` to 0..50 seconds, and a second getUpdates made while one is
  waiting makes the waiting one fail with 409 Conflict.
* sendMessage checks chat_id, text, reply_parameters and reply_markup. It parses parse_mode
  HTML as strictly as Telegram documents it. Only Telegram's tags and the entities &lt; &gt;
  &amp; &quot; and &#N; are allowed, and any other "<" or "&" is an error. The visible text
  must be 1..4096 code points. An inline keyboard's buttons need a text and 1..64 bytes of
  callback_data (or a url).
* editMessageText changes a message the bot sent, with the same checks, and answers 400
  "message is not modified" when the text, its entities and the keyboard stay the same.
* answerCallbackQuery and answerInlineQuery accept each pushed query once; an inline query
  must be answered within 10 s. answerInlineQuery takes at most 50 results with unique ids,
  checks InlineQueryResultArticle fields and parses each message_text like sendMessage.
* setMyCommands checks and records the command list.
* setWebhook checks the URL (https on ports 443, 80, 88 or 8443, or http://127.0.0.1 for tests),
  the secret token, max_connections and allowed_updates, and stores the webhook.
  deleteWebhook removes it, and getWebhookInfo returns it with the pending update count and
  the last delivery error. While a webhook is set, getUpdates fails with 409 Conflict.
* A delivery thread posts pending updates to an http://127.0.0.1 webhook one at a time, in
  update_id order, with the secret token header. It repeats a request that got no 2xx
  status after a short delay, before any later update, and records every attempt
  (webhook_deliveries()). post_to_webhook() sends one request of the test's choice.

Tests use it in-process (FakeBotApi.start()/stop(), push_update(), push_callback_query(),
push_inline_query(), the recorded requests, sent messages, edits and answers); by hand it runs as `python3 fake_bot_api.py --port 8081 --interactive`, and
`python3 fake_bot_api.py --self-test` checks the fake itself.

Fault knobs: fail_next() makes the next calls of a method (optionally for one chat) fail with
a chosen error, such as 429 with retry_after, 409, 403, 400 or 500. reset_next() cuts the
connection with a TCP reset halfway through the response, hang_next() reads a request and
never answers, and respond_raw_next() sends a body of the test's choice, such as malformed
JSON. set_delay() slows a method down. revoke_token() makes every later call fail with 401
Unauthorized, as after a token is revoked with @BotFather. enable_flood_limits() makes sendMessage enforce
Telegram's flood limits and count the 429s it sends.

Socks5Proxy and HttpConnectProxy are proxies for tests (127.0.0.1, any free port) that record
every tunnel they open.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import base64
import collections
import select
import socket
import struct
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

# Telegram's limits, from https://core.telegram.org/bots/api (getUpdates, sendMessage).
MAX_POLL_TIMEOUT_SECONDS = 50
MAX_UPDATES_PER_POLL = 100
MAX_MESSAGE_CHARS = 4096
# The fake rejects a raw text parameter longer than this many UTF-8 bytes.
# NOTE: Telegram documents no limit on the raw text before parsing; this is the bound that
# tgsearch's renderer is meant to stay under.
MAX_RAW_TEXT_BYTES = 32768
# The fake rejects request bodies larger than this, so a broken client cannot exhaust memory.
MAX_REQUEST_BODY_BYTES = 1 << 20
# Telegram's limits on inline keyboards, inline answers and commands, from the same page
# (InlineKeyboardButton, answerInlineQuery, answerCallbackQuery, BotCommand).
MAX_CALLBACK_DATA_BYTES = 64
MAX_INLINE_RESULTS = 50
MAX_INLINE_RESULT_ID_BYTES = 64
MAX_NEXT_OFFSET_BYTES = 64
MAX_CALLBACK_TEXT_CHARS = 200
MAX_COMMANDS = 100
MAX_COMMAND_CHARS = 32
MAX_COMMAND_DESCRIPTION_CHARS = 256
# An inline query answered later than this after it was sent gets "query is too old".
# NOTE: Telegram does not document this window; 10 s is the value bot authors report.
INLINE_QUERY_TIMEOUT_SECONDS = 10.0

QUERY_TOO_OLD_DESCRIPTION = ("Bad Request: query is too old and response timeout expired or "
                             "query ID is invalid")
NOT_MODIFIED_DESCRIPTION = ("Bad Request: message is not modified: specified new message "
                            "content and reply markup are exactly the same as a current "
                            "content and reply markup of the message")

# How often a waiting getUpdates checks whether its client has gone away.
DISCONNECT_CHECK_SECONDS = 0.2

CONFLICT_DESCRIPTION = ("Conflict: terminated by other getUpdates request; make sure that only "
                        "one bot instance is running")
WEBHOOK_CONFLICT_DESCRIPTION = ("Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")

# setWebhook's limits, from https://core.telegram.org/bots/api#setwebhook: the secret token has
# 1..256 characters of A-Z, a-z, 0-9, "_" and "-", max_connections is 1..100 (default 40), and
# an https URL may use only ports 443, 80, 88 and 8443.
MAX_SECRET_TOKEN_CHARS = 256
SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,%d}" % MAX_SECRET_TOKEN_CHARS)
MAX_WEBHOOK_CONNECTIONS = 100
DEFAULT_WEBHOOK_CONNECTIONS = 40
WEBHOOK_PORTS = (443, 80, 88, 8443)
SECRET_TOKEN_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Pause before the fake posts an update again after a failed webhook request.
# NOTE: Telegram documents only that it repeats a request that got no 2xx status and gives up
# "after a reasonable number of attempts". This delay and the unlimited attempts are the fake's.
DEFAULT_WEBHOOK_RETRY_SECONDS = 0.2
# Bound on one webhook request, connect included.
WEBHOOK_REQUEST_TIMEOUT_SECONDS = 10.0
# post_to_webhook()'s default: send the secret token that setWebhook registered.
REGISTERED_SECRET: Any = object()


class ApiError(Exception):
    """An error response in Telegram's shape: {"ok":false,"error_code":..,"description":..}."""

    def __init__(self, error_code: int, description: str,
                 parameters: dict[str, Any] | None = None, http_status: int | None = None):
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters
        self.http_status = http_status or error_code

    def body(self) -> dict[str, Any]:
        result: dict[str, Any] = {"ok": False, "error_code": self.error_code,
                                  "description": self.description}
        if self.parameters:
            result["parameters"] = self.parameters
        return result


class ClientGone(Exception):
    """The client closed its connection while its request was waiting."""


# ------------------------------------------------------------------------------------------
# HTML parse mode

class HtmlParseError(Exception):
    pass


# Telegram's HTML tags (https://core.telegram.org/bots/api#html-style) and the entity type each
# one produces.
_TAG_ENTITY_TYPES = {
    "b": "bold", "strong": "bold",
    "i": "italic", "em": "italic",
    "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "span": "spoiler", "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}

_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(?:(lt|gt|amp|quot)|#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,7}));")


@dataclass
class ParsedHtml:
    """The visible text of an HTML message and its entities.

    `entities` use Telegram's UTF-16 offsets; `links` repeat the text links with code point
    offsets into `text`, which is what Python tests index with.
    """
    text: str
    entities: list[dict[str, Any]]
    links: list[tuple[int, int, str]]


def _byte_offset(html: str, index: int) -> int:
    return len(html[:index].encode("utf-8"))


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _decode_entity(html: str, index: int) -> tuple[str, int]:
    """Decode the entity at html[index] == "&"; return (character, index after it)."""
    match = _ENTITY_RE.match(html, index)
    if match is None:
        raise HtmlParseError(
            f'Character "&" is reserved and must be escaped as "&amp;" at byte offset '
            f'{_byte_offset(html, index)}')
    if match.group(1):
        return _NAMED_ENTITIES[match.group(1)], match.end()
    code = int(match.group(2)) if match.group(2) else int(match.group(3), 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise HtmlParseError(
            f"Invalid numeric HTML entity at byte offset {_byte_offset(html, index)}")
    return chr(code), match.end()


def _parse_attributes(html: str, index: int, tag: str, tag_offset: int
                      ) -> tuple[dict[str, str], int]:
    """Parse the attributes of a start tag from html[index]; return them and the index after
    the closing ">"."""
    attributes: dict[str, str] = {}
    length = len(html)
    while True:
        while index < length and html[index].isspace():
            index += 1
        if index >= length:
            raise HtmlParseError(f"Unclosed start tag at byte offset {tag_offset}")
        if html[index] == ">":
            return attributes, index + 1
        name_begin = index
        while index < length and not html[index].isspace() and html[index] not in "=>":
            index += 1
        name = html[name_begin:index].lower()
        if not name or not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
            raise HtmlParseError(
                f'Invalid attribute name in the tag "{tag}" at byte offset {tag_offset}')
        while index < length and html[index].isspace():
            index += 1
        if index >= length:
            raise HtmlParseError(f"Unclosed start tag at byte offset {tag_offset}")
        if html[index] != "=":
            attributes[name] = ""
            continue
        index += 1
        while index < length and html[index].isspace():
            index += 1
        if index >= length:
            raise HtmlParseError(f"Unclosed start tag at byte offset {tag_offset}")
        value_chars: list[str] = []
        quote = html[index]
        if quote in "\"'":
            index += 1
            while True:
                if index >= length:
                    raise HtmlParseError(
                        f'Unclosed attribute value in the tag "{tag}" at byte offset '
                        f'{tag_offset}')
                char = html[index]
                if char == quote:
                    index += 1
                    break
                if char == "&":
                    decoded, index = _decode_entity(html, index)
                    value_chars.append(decoded)
                    continue
                if char == "<":
                    raise HtmlParseError(
                        f'Character "<" in an attribute value of the tag "{tag}" at byte '
                        f'offset {_byte_offset(html, index)}')
                value_chars.append(char)
                index += 1
        else:
            while index < length and not html[index].isspace() and html[index] != ">":
                char = html[index]
                if char in "\"'<=`":
                    raise HtmlParseError(
                        f'Invalid unquoted attribute value in the tag "{tag}" at byte offset '
                        f'{tag_offset}')
                if char == "&":
                    decoded, index = _decode_entity(html, index)
                    value_chars.append(decoded)
                    continue
                value_chars.append(char)
                index += 1
        attributes[name] = "".join(value_chars)


def parse_telegram_html(html: str) -> ParsedHtml:
    """Parse `html` the way Telegram's HTML parse mode does, but stricter about "&".

    Raises HtmlParseError with a message in Telegram's style ("Unsupported start tag ... at
    byte offset N") for an unknown tag, a bare "<" or "&", an unknown named entity, a
    mismatched or unclosed tag, or a span without class "tg-spoiler". Telegram itself keeps a
    bare "&" as text, but its documentation requires escaping it, so the fake rejects it.
    """
    out: list[str] = []
    out_utf16 = 0          # length of "".join(out) in UTF-16 code units
    out_chars = 0          # ... and in code points
    # Each open tag: (name, attributes, UTF-16 start, code point start).
    stack: list[tuple[str, dict[str, str], int, int]] = []
    entities: list[dict[str, Any]] = []
    links: list[tuple[int, int, str]] = []
    index = 0
    length = len(html)

    def append(text: str) -> None:
        nonlocal out_utf16, out_chars
        out.append(text)
        out_utf16 += _utf16_length(text)
        out_chars += len(text)

    while index < length:
        char = html[index]
        if char == "&":
            decoded, index = _decode_entity(html, index)
            append(decoded)
            continue
        if char != "<":
            next_special = index + 1
            while next_special < length and html[next_special] not in "<&":
                next_special += 1
            append(html[index:next_special])
            index = next_special
            continue

        tag_offset = _byte_offset(html, index)
        index += 1
        if index < length and html[index] == "/":
            index += 1
            name_begin = index
            while index < length and not html[index].isspace() and html[index] != ">":
                index += 1
            name = html[name_begin:index].lower()
            while index < length and html[index].isspace():
                index += 1
            if index >= length or html[index] != ">":
                raise HtmlParseError(f"Unclosed end tag at byte offset {tag_offset}")
            index += 1
            if not stack:
                raise HtmlParseError(f'Unexpected end tag "{name}" at byte offset {tag_offset}')
            open_name, attributes, start_utf16, start_chars = stack.pop()
            if name != open_name:
                raise HtmlParseError(
                    f'Unmatched end tag at byte offset {tag_offset}, expected "</{open_name}>", '
                    f'found "</{name}>"')
            entity: dict[str, Any] = {"type": _TAG_ENTITY_TYPES[open_name],
                                      "offset": start_utf16, "length": out_utf16 - start_utf16}
            if open_name == "a":
                entity["url"] = attributes.get("href", "")
                links.append((start_chars, out_chars - start_chars, entity["url"]))
            elif open_name == "pre" and attributes.get("language"):
                entity["language"] = attributes["language"]
            elif open_name == "blockquote" and "expandable" in attributes:
                entity["type"] = "expandable_blockquote"
            elif open_name == "tg-emoji":
                entity["custom_emoji_id"] = attributes["emoji-id"]
            if entity["length"] > 0:
                entities.append(entity)
            continue

        name_begin = index
        while index < length and not html[index].isspace() and html[index] not in ">/":
            index += 1
        if index >= length:
            raise HtmlParseError(f"Unclosed start tag at byte offset {tag_offset}")
        name = html[name_begin:index].lower()
        if name not in _TAG_ENTITY_TYPES:
            raise HtmlParseError(f'Unsupported start tag "{name}" at byte offset {tag_offset}')
        attributes, index = _parse_attributes(html, index, name, tag_offset)
        if name == "span" and attributes.get("class") != "tg-spoiler":
            raise HtmlParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {tag_offset}')
        if name == "tg-emoji" and not attributes.get("emoji-id", "").isdigit():
            raise HtmlParseError(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {tag_offset}')
        if name == "code" and stack and stack[-1][0] == "pre":
            language = attributes.get("class", "")
            if language.startswith("language-"):
                stack[-1][1]["language"] = language[len("language-"):]
        stack.append((name, attributes, out_utf16, out_chars))

    if stack:
        raise HtmlParseError(
            f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda item: (item["offset"], -item["length"]))
    return ParsedHtml("".join(out), entities, links)


# ------------------------------------------------------------------------------------------
# Recorded state

@dataclass
class RequestRecord:
    """One HTTP request the fake received and the response it sent.

    `seq` and `done_seq` come from one counter that ticks on every request arrival and every
    response, so comparing them orders events across connections without clock skew.
    """
    seq: int
    method: str                       # Bot API method as written in the path, "" if none
    http_method: str
    content_type: str
    params: dict[str, Any]
    connection_id: int
    time_received: float              # time.monotonic()
    token_ok: bool = False
    status: int = 0                   # HTTP status sent, 0 while pending or when abandoned
    response: dict[str, Any] | None = None
    done_seq: int = 0
    time_done: float = 0.0
    abandoned: bool = False           # the client went away before the response
    fault: str = ""                   # the injected fault that produced the response, if any
    delivered_update_ids: list[int] = field(default_factory=list)
    sent_index: int | None = None     # index into sent_messages() for an accepted sendMessage


@dataclass
class SentMessage:
    """A message that sendMessage accepted."""
    chat_id: int
    message_id: int
    html: str                         # the raw text parameter
    parse_mode: str
    text: str                         # visible text after parsing
    entities: list[dict[str, Any]]
    links: list[tuple[int, int, str]]
    reply_to_message_id: int | None
    reply_parameters: dict[str, Any] | None
    link_preview_options: dict[str, Any] | None
    request_seq: int
    done_seq: int
    time: float
    reply_markup: dict[str, Any] | None = None


@dataclass
class EditedMessage:
    """An editMessageText that changed a message."""
    chat_id: int
    message_id: int
    html: str
    text: str                         # visible text after parsing
    reply_markup: dict[str, Any] | None
    request_seq: int
    time: float


@dataclass
class QueryAnswer:
    """An accepted answerCallbackQuery or answerInlineQuery."""
    query_id: str
    params: dict[str, Any]
    request_seq: int
    time: float
    query_time: float                 # when the query was pushed (time.monotonic())


@dataclass
class WebhookDelivery:
    """One HTTP request that the fake made to the webhook URL, or failed to make."""
    update_id: int | None             # None for a post_to_webhook() body without update_id
    attempt: int                      # 1 for the first request with this update
    http_method: str
    path: str
    secret: str | None                # the secret token header sent, None when left out
    status: int                       # HTTP status received, 0 when no response arrived
    error: str                        # why no response arrived, "" when one did
    retry_after: str | None           # the Retry-After header of the response
    time: float                       # time.monotonic() when the response or error came
    automatic: bool                   # sent by the delivery thread, not by post_to_webhook()


@dataclass
class _Fault:
    method: str
    times: int
    action: str                       # "error", "reset", "hang" or "raw"
    error: ApiError | None = None
    raw_body: bytes = b""
    raw_status: int = 200
    chat_id: int | None = None        # only calls with this chat_id, when set


@dataclass
class FloodLimits:
    """The limits flood-limit mode enforces on sendMessage.

    The per-chat burst and the overall burst are the short bursts Telegram tolerates; they
    also absorb jitter in network delay. Groups (negative chat ids) get at most
    `group_messages` in any sliding `group_window_seconds`.
    """
    messages_per_second: float = 30.0
    burst: float = 30.0
    chat_messages_per_second: float = 1.0
    chat_burst: float = 5.0
    group_messages: int = 20
    group_window_seconds: float = 60.0


class _Bucket:
    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.last = now

    def take(self, now: float) -> float:
        """Take one token; return 0 when there was one, else the seconds until there is."""
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class FakeBotApi:
    """The fake server and its recorded state. Every public method is thread-safe."""

    def __init__(self, token: str, *, username: str = "tgsearch_test_bot",
                 bot_id: int | None = None, first_name: str = "tgsearch test bot",
                 host: str = "127.0.0.1", port: int = 0, first_update_id: int = 1000,
                 verbose: bool = False, supports_inline_queries: bool = True):
        self.token = token
        token_prefix = token.split(":")[0]
        if bot_id is None:
            bot_id = int(token_prefix) if token_prefix.isdigit() else 7000000001
        self.bot_user = {"id": bot_id,
                         "is_bot": True, "first_name": first_name, "username": username,
                         "can_join_groups": True, "can_read_all_group_messages": False,
                         "supports_inline_queries": supports_inline_queries}
        self.verbose = verbose
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._event_counter = 0
        self._next_update_id = first_update_id
        self._pending: list[dict[str, Any]] = []     # unconfirmed updates, by update_id
        self._confirmed_offset = 0
        self._allowed_updates: list[str] | None = None
        self._poll_generation = 0
        self._chats: dict[int, dict[str, Any]] = {}
        self._message_ids: dict[int, set[int]] = {}
        self._next_message_id: dict[int, int] = {}
        self._requests: list[RequestRecord] = []
        self._sent: list[SentMessage] = []
        self._offsets: list[tuple[int, int]] = []    # (request seq, offset)
        self._faults: list[_Fault] = []
        self._delays: dict[str, float] = {}
        self._flood: FloodLimits | None = None
        self._flood_overall: _Bucket | None = None
        self._flood_chats: dict[int, _Bucket] = {}
        self._flood_groups: dict[int, collections.deque] = {}
        self._flood_rejections: list[tuple[int, float]] = []   # (chat_id, retry_after)
        self._always_delivered: set[int] = set()
        # Messages the bot sent: (chat_id, message_id) -> (text, entities, reply_markup).
        self._bot_messages: dict[tuple[int, int], tuple[str, list[dict[str, Any]],
                                                        dict[str, Any] | None]] = {}
        self._edits: list[EditedMessage] = []
        # Pushed queries by id: (time pushed, answered).
        self._callback_queries: dict[str, list[Any]] = {}
        self._inline_queries: dict[str, list[Any]] = {}
        self._next_query_id = 1
        self._callback_answers: list[QueryAnswer] = []
        self._inline_answers: list[QueryAnswer] = []
        self._commands: list[list[dict[str, str]]] = []
        self._token_revoked = False
        # The webhook that setWebhook registered: url, secret_token, max_connections and
        # allowed_updates. None while updates are to be polled with getUpdates.
        self._webhook: dict[str, Any] | None = None
        self._webhook_deliveries: list[WebhookDelivery] = []
        self._webhook_attempts: dict[int, int] = {}    # update_id -> failed requests so far
        self._next_delivery_time = 0.0
        self._webhook_retry_seconds = DEFAULT_WEBHOOK_RETRY_SECONDS
        self._webhook_max_attempts: int | None = None
        self._secret_override: tuple[str | None] | None = None
        self._last_webhook_error: tuple[int, str] | None = None    # (unix time, message)
        self._delivery_thread: threading.Thread | None = None
        self._connections: dict[int, socket.socket] = {}
        self._next_connection_id = 1
        self._stopping = False
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> "FakeBotApi":
        fake = self

        class Handler(_BotApiHandler):
            api = fake

        server = ThreadingHTTPServer((self._host, self._port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="fake-bot-api",
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        self._delivery_thread = threading.Thread(target=self._deliver_webhook_updates,
                                                 name="fake-bot-api-webhook", daemon=True)
        self._delivery_thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake every waiting getUpdates and close open connections."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            connections = list(self._connections.values())
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._delivery_thread is not None:
            self._delivery_thread.join(timeout=WEBHOOK_REQUEST_TIMEOUT_SECONDS + 1)

    def __enter__(self) -> "FakeBotApi":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the fake first"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- updates -------------------------------------------------------------------------

    def push_update(self, update: dict[str, Any], *, ignore_allowed_updates: bool = False) -> int:
        """Queue `update` for getUpdates, giving it the next update_id unless it has one.

        Returns the update_id. Ids must increase, as Telegram's do. With
        `ignore_allowed_updates` the update is delivered even when the bot's allowed_updates
        excludes its type, which is how a test sends an update type the bot never asked for.
        """
        with self._cond:
            update_id = self._push_locked(update)
            if ignore_allowed_updates:
                self._always_delivered.add(update_id)
            return update_id

    def add_chat(self, chat: dict[str, Any]) -> None:
        """Make `chat` known to sendMessage without a message from it (a migrated supergroup)."""
        with self._lock:
            self._chats.setdefault(chat["id"], dict(chat))

    def push_updates(self, updates: list[dict[str, Any]]) -> list[int]:
        """Queue several updates at once, so that one getUpdates can return them all."""
        with self._cond:
            return [self._push_locked(update) for update in updates]

    def _push_locked(self, update: dict[str, Any]) -> int:
        if "update_id" not in update:
            update["update_id"] = self._next_update_id
        update_id = update["update_id"]
        if self._pending and update_id <= self._pending[-1]["update_id"]:
            raise ValueError(f"update_id {update_id} does not increase")
        self._next_update_id = update_id + 1
        message = update.get("message")
        # Tests also push malformed messages, which have no chat to remember.
        if isinstance(message, dict) and isinstance(message.get("chat"), dict) \
                and "message_id" in message:
            chat = message["chat"]
            self._chats.setdefault(chat["id"], dict(chat))
            self._message_ids.setdefault(chat["id"], set()).add(message["message_id"])
        self._pending.append(update)
        self._cond.notify_all()
        return update_id

    def next_message_id(self, chat_id: int) -> int:
        """Allocate a message id in `chat_id` for a user's message; bot messages share it."""
        with self._lock:
            return self._allocate_message_id(chat_id)

    def make_message_update(self, chat: dict[str, Any], text: str,
                            sender: dict[str, Any] | None = None,
                            date: int | None = None) -> dict[str, Any]:
        """Build a message update like Telegram's, with bot_command entities for commands."""
        if sender is None:
            if chat["type"] == "private":
                sender = {"id": chat["id"], "is_bot": False,
                          "first_name": chat.get("first_name", "User")}
            else:
                sender = {"id": 424242001, "is_bot": False, "first_name": "Member"}
        message: dict[str, Any] = {
            "message_id": self.next_message_id(chat["id"]),
            "from": sender,
            "chat": chat,
            "date": date if date is not None else int(time.time()),
            "text": text,
        }
        entities = command_entities(text)
        if entities:
            message["entities"] = entities
        return {"message": message}

    def push_message(self, chat: dict[str, Any], text: str, **kwargs: Any) -> dict[str, Any]:
        update = self.make_message_update(chat, text, **kwargs)
        self.push_update(update)
        return update

    def push_reply(self, chat: dict[str, Any], text: str, replied: SentMessage,
                   sender: dict[str, Any] | None = None) -> dict[str, Any]:
        """Push a message that replies to the bot's message `replied`."""
        update = self.make_message_update(chat, text, sender=sender)
        update["message"]["reply_to_message"] = {
            "message_id": replied.message_id,
            "from": {key: self.bot_user[key] for key in ("id", "is_bot", "first_name",
                                                         "username")},
            "chat": chat, "date": int(time.time()), "text": replied.text}
        self.push_update(update)
        return update

    def push_callback_query(self, chat: dict[str, Any], message_id: int, data: str,
                            sender: dict[str, Any] | None = None) -> str:
        """Push a press of the button with `data` under the bot's message `message_id` in
        `chat`, as Telegram sends it, and return the callback query id."""
        if sender is None:
            sender = {"id": chat["id"] if chat["type"] == "private" else 424242001,
                      "is_bot": False, "first_name": "Presser"}
        with self._cond:
            query_id = f"cb{self._next_query_id}"
            self._next_query_id += 1
            text, entities, markup = self._bot_messages.get((chat["id"], message_id),
                                                            ("", [], None))
            message: dict[str, Any] = {
                "message_id": message_id,
                "from": {key: self.bot_user[key] for key in ("id", "is_bot", "first_name",
                                                             "username")},
                "chat": chat, "date": int(time.time()), "text": text}
            if entities:
                message["entities"] = entities
            if markup is not None:
                message["reply_markup"] = markup
            self._callback_queries[query_id] = [time.monotonic(), False]
            self._push_locked({"callback_query": {
                "id": query_id, "from": sender, "message": message,
                "chat_instance": str(chat["id"] * 7), "data": data}})
        return query_id

    def push_inline_query(self, query: str, offset: str = "",
                          sender: dict[str, Any] | None = None) -> str:
        """Push an inline query ("@bot query" typed in some chat) and return its id."""
        if sender is None:
            sender = {"id": 5000000001, "is_bot": False, "first_name": "Typist"}
        with self._cond:
            query_id = f"iq{self._next_query_id}"
            self._next_query_id += 1
            self._inline_queries[query_id] = [time.monotonic(), False]
            self._push_locked({"inline_query": {
                "id": query_id, "from": sender, "query": query, "offset": offset,
                "chat_type": "sender"}})
        return query_id

    # --- recorded state ------------------------------------------------------------------

    def requests(self, method: str | None = None) -> list[RequestRecord]:
        with self._lock:
            return [record for record in self._requests
                    if method is None or record.method == method]

    def sent_messages(self) -> list[SentMessage]:
        with self._lock:
            return list(self._sent)

    def edits(self) -> list[EditedMessage]:
        """Every editMessageText that changed a message, in order."""
        with self._lock:
            return list(self._edits)

    def callback_answers(self) -> list[QueryAnswer]:
        with self._lock:
            return list(self._callback_answers)

    def inline_answers(self) -> list[QueryAnswer]:
        with self._lock:
            return list(self._inline_answers)

    def commands(self) -> list[list[dict[str, str]]]:
        """The command list of every accepted setMyCommands, in order."""
        with self._lock:
            return [list(commands) for commands in self._commands]

    def message_text(self, chat_id: int, message_id: int) -> str | None:
        """The current visible text of a message the bot sent, or None."""
        with self._lock:
            stored = self._bot_messages.get((chat_id, message_id))
            return None if stored is None else stored[0]

    def offsets(self) -> list[tuple[int, int]]:
        """Every offset received by getUpdates, as (request seq, offset) in arrival order."""
        with self._lock:
            return list(self._offsets)

    @property
    def confirmed_offset(self) -> int:
        """The highest offset received: updates below it are confirmed and dropped."""
        with self._lock:
            return self._confirmed_offset

    def pending_update_ids(self) -> list[int]:
        with self._lock:
            return [update["update_id"] for update in self._pending]

    def connection_count(self) -> int:
        """How many TCP connections have been accepted so far."""
        with self._lock:
            return self._next_connection_id - 1

    def wait_for(self, predicate: Callable[["FakeBotApi"], bool], timeout: float) -> bool:
        """Wait until predicate(self) is true or `timeout` seconds pass; return its value.

        The predicate runs without the lock held, after every recorded request.
        """
        deadline = time.monotonic() + timeout
        while True:
            if predicate(self):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._cond:
                self._cond.wait(min(remaining, 0.25))

    # --- fault knobs ---------------------------------------------------------------------

    def fail_next(self, method: str, error_code: int, description: str, *, times: int = 1,
                  parameters: dict[str, Any] | None = None, chat_id: int | None = None) -> None:
        """Make the next `times` calls of `method` fail with `error_code` and `description`
        (e.g. 429 with parameters {"retry_after": 3}, or 502). With `chat_id`, only calls
        for that chat fail."""
        with self._lock:
            self._faults.append(_Fault(method, times, "error",
                                       error=ApiError(error_code, description, parameters),
                                       chat_id=chat_id))

    def reset_next(self, method: str, *, times: int = 1, chat_id: int | None = None) -> None:
        """Respond to the next `times` calls of `method` with half a response, then a TCP reset.

        The call has no effect: a sendMessage cut this way sends nothing."""
        with self._lock:
            self._faults.append(_Fault(method, times, "reset", chat_id=chat_id))

    def hang_next(self, method: str, *, times: int = 1) -> None:
        """Read the next `times` calls of `method` and never respond. The connection stays
        open until the client closes it or the fake stops."""
        with self._lock:
            self._faults.append(_Fault(method, times, "hang"))

    def respond_raw_next(self, method: str, body: bytes, *, status: int = 200,
                         times: int = 1) -> None:
        """Answer the next `times` calls of `method` with `body` as it is (e.g. invalid
        JSON), with Content-Type application/json."""
        with self._lock:
            self._faults.append(_Fault(method, times, "raw", raw_body=body, raw_status=status))

    def pending_faults(self) -> int:
        """How many injected faults have not fired yet."""
        with self._lock:
            return sum(fault.times for fault in self._faults)

    def enable_flood_limits(self, limits: FloodLimits | None = None) -> None:
        """Make sendMessage answer 429 with retry_after whenever a flood limit is exceeded."""
        with self._lock:
            self._flood = limits or FloodLimits()
            self._flood_overall = _Bucket(self._flood.messages_per_second, self._flood.burst,
                                          time.monotonic())
            self._flood_chats.clear()
            self._flood_groups.clear()

    def flood_rejections(self) -> list[tuple[int, float]]:
        """Every 429 that flood-limit mode sent, as (chat_id, retry_after)."""
        with self._lock:
            return list(self._flood_rejections)

    def revoke_token(self) -> None:
        """Answer every later call with 401 Unauthorized, as Telegram does for a revoked token."""
        with self._lock:
            self._token_revoked = True

    def token_accepted(self, token: str) -> bool:
        with self._lock:
            return token == self.token and not self._token_revoked

    def set_delay(self, method: str, seconds: float) -> None:
        """Delay every response to `method` by `seconds` (0 removes the delay)."""
        with self._lock:
            self._delays[method] = seconds

    # --- webhook -------------------------------------------------------------------------

    def webhook(self) -> dict[str, Any] | None:
        """The webhook that setWebhook registered (url, secret_token, max_connections,
        allowed_updates), or None when none is set."""
        with self._lock:
            return None if self._webhook is None else dict(self._webhook)

    def webhook_deliveries(self) -> list[WebhookDelivery]:
        """Every request made to the webhook URL, automatic or not, in order."""
        with self._lock:
            return list(self._webhook_deliveries)

    def set_webhook_retry(self, seconds: float, max_attempts: int | None = None) -> None:
        """Wait `seconds` before posting an update again after a failed request, and drop the
        update after `max_attempts` failed requests (None: retry until the webhook is
        deleted or changed)."""
        with self._cond:
            self._webhook_retry_seconds = seconds
            self._webhook_max_attempts = max_attempts
            self._cond.notify_all()

    def override_delivery_secret(self, secret: str | None) -> None:
        """Make automatic deliveries send `secret` instead of the registered secret token;
        None leaves the header out."""
        with self._cond:
            self._secret_override = (secret,)
            self._cond.notify_all()

    def restore_delivery_secret(self) -> None:
        """Make automatic deliveries send the registered secret token again."""
        with self._cond:
            self._secret_override = None
            self._cond.notify_all()

    def post_to_webhook(self, body: dict[str, Any] | bytes, *,
                        secret: str | None = REGISTERED_SECRET,
                        http_method: str = "POST", path: str | None = None,
                        content_type: str = "application/json"
                        ) -> tuple[int, dict[str, str], bytes]:
        """Send one request to the registered webhook and return its status, headers (names
        in lower case) and body.

        By default the registered secret token is sent. A `secret` of None leaves the header
        out, and a string is sent as it is. `path` replaces the path of the webhook URL. The
        request is recorded in webhook_deliveries() but does not touch the pending updates.
        Raises OSError when no response arrives.
        """
        with self._lock:
            webhook = None if self._webhook is None else dict(self._webhook)
        if webhook is None:
            raise RuntimeError("post_to_webhook needs a webhook set with setWebhook")
        target = _local_webhook_target(webhook["url"])
        if target is None:
            raise RuntimeError("the fake posts only to http://127.0.0.1 webhook URLs")
        host, port, url_path = target
        sent_secret = webhook["secret_token"] if secret is REGISTERED_SECRET else secret
        data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        update_id = body.get("update_id") if isinstance(body, dict) else None
        connection = http.client.HTTPConnection(host, port,
                                                timeout=WEBHOOK_REQUEST_TIMEOUT_SECONDS)
        try:
            status, headers, response = _webhook_request(
                connection, http_method, path or url_path, data, sent_secret, content_type)
        except OSError as error:
            self._record_delivery(WebhookDelivery(
                update_id, 1, http_method, path or url_path, sent_secret, 0, str(error), None,
                time.monotonic(), automatic=False))
            raise
        finally:
            connection.close()
        self._record_delivery(WebhookDelivery(
            update_id, 1, http_method, path or url_path, sent_secret, status, "",
            headers.get("retry-after"), time.monotonic(), automatic=False))
        return status, headers, response

    def _record_delivery(self, delivery: WebhookDelivery) -> None:
        with self._cond:
            self._webhook_deliveries.append(delivery)
            self._cond.notify_all()

    def _next_delivery_locked(self) -> tuple[dict[str, Any], dict[str, Any], int] | None:
        """Return the webhook, the first pending update it takes and that update's attempt
        number, or None when nothing is to be posted now."""
        if self._webhook is None or _local_webhook_target(self._webhook["url"]) is None:
            return None
        if time.monotonic() < self._next_delivery_time:
            return None
        for update in self._pending:
            if self._is_allowed(update):
                attempt = self._webhook_attempts.get(update["update_id"], 0) + 1
                return dict(self._webhook), update, attempt
        return None

    def _deliver_webhook_updates(self) -> None:
        """Post pending updates to the webhook one at a time, in update_id order, as long as
        one is set. A failed request is repeated after the retry delay before any later
        update is posted, which keeps the order of updates in every chat."""
        connection: http.client.HTTPConnection | None = None
        connection_target: tuple[str, int] | None = None
        while True:
            with self._cond:
                job = None
                while not self._stopping:
                    job = self._next_delivery_locked()
                    if job is not None:
                        break
                    wait = 0.25
                    if self._next_delivery_time > time.monotonic():
                        wait = min(wait, self._next_delivery_time - time.monotonic())
                    self._cond.wait(wait)
                if self._stopping or job is None:
                    break
                webhook, update, attempt = job
                secret = webhook["secret_token"] if self._secret_override is None \
                    else self._secret_override[0]
            target = _local_webhook_target(webhook["url"])
            assert target is not None
            host, port, path = target
            if connection is None or connection_target != (host, port):
                if connection is not None:
                    connection.close()
                connection = http.client.HTTPConnection(
                    host, port, timeout=WEBHOOK_REQUEST_TIMEOUT_SECONDS)
                connection_target = (host, port)
            data = json.dumps(update, ensure_ascii=False).encode("utf-8", "surrogateescape")
            status, error, retry_after = 0, "", None
            try:
                status, headers, _ = _webhook_request(connection, "POST", path, data, secret,
                                                      "application/json")
                retry_after = headers.get("retry-after")
                if headers.get("connection", "").lower() == "close":
                    connection.close()
            except OSError as failure:
                error = str(failure) or type(failure).__name__
                connection.close()
            except http.client.HTTPException as failure:
                error = f"invalid HTTP response: {failure!r}"
                connection.close()
            self._finish_delivery(webhook, update["update_id"], attempt, path, secret, status,
                                  error, retry_after)
        if connection is not None:
            connection.close()

    def _finish_delivery(self, webhook: dict[str, Any], update_id: int, attempt: int,
                         path: str, secret: str | None, status: int, error: str,
                         retry_after: str | None) -> None:
        """Record one automatic delivery, and drop the update when it was taken or has
        failed too often; otherwise schedule the next attempt."""
        with self._cond:
            self._webhook_deliveries.append(WebhookDelivery(
                update_id, attempt, "POST", path, secret, status, error, retry_after,
                time.monotonic(), automatic=True))
            delivered = 200 <= status < 300
            if not delivered:
                message = error or f"Wrong response from the webhook: {status} " \
                                   f"{http.client.responses.get(status, '')}".rstrip()
                self._last_webhook_error = (int(time.time()), message)
                self._webhook_attempts[update_id] = attempt
                self._next_delivery_time = time.monotonic() + self._webhook_retry_seconds
            gave_up = not delivered and self._webhook_max_attempts is not None \
                and attempt >= self._webhook_max_attempts
            if delivered or gave_up:
                self._webhook_attempts.pop(update_id, None)
                self._pending = [update for update in self._pending
                                 if update["update_id"] != update_id]
            self._cond.notify_all()

    # --- internals used by the handler ---------------------------------------------------

    def _tick(self) -> int:
        self._event_counter += 1
        return self._event_counter

    def _allocate_message_id(self, chat_id: int) -> int:
        message_id = self._next_message_id.get(chat_id, 100)
        self._next_message_id[chat_id] = message_id + 1
        return message_id

    def _register_connection(self, connection: socket.socket) -> int:
        with self._lock:
            connection_id = self._next_connection_id
            self._next_connection_id += 1
            self._connections[connection_id] = connection
            return connection_id

    def _unregister_connection(self, connection_id: int) -> None:
        with self._lock:
            self._connections.pop(connection_id, None)

    def _begin(self, method: str, http_method: str, content_type: str,
               params: dict[str, Any], connection_id: int, token_ok: bool) -> RequestRecord:
        with self._cond:
            record = RequestRecord(seq=self._tick(), method=method, http_method=http_method,
                                   content_type=content_type, params=params,
                                   connection_id=connection_id,
                                   time_received=time.monotonic(), token_ok=token_ok)
            self._requests.append(record)
            self._cond.notify_all()
            return record

    def _finish(self, record: RequestRecord, status: int, response: dict[str, Any] | None,
                abandoned: bool = False) -> None:
        with self._cond:
            record.status = 0 if abandoned else status
            record.response = response
            record.abandoned = abandoned
            record.done_seq = self._tick()
            record.time_done = time.monotonic()
            if record.sent_index is not None:
                self._sent[record.sent_index].done_seq = record.done_seq
            self._cond.notify_all()

    def _take_fault(self, method: str, params: dict[str, Any]) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method != method or fault.times <= 0:
                    continue
                if fault.chat_id is not None and params.get("chat_id") != fault.chat_id:
                    continue
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
                return fault
            return None

    def _delay_for(self, method: str) -> float:
        with self._lock:
            return self._delays.get(method, 0.0)

    def _check_flood(self, chat_id: int, now: float) -> ApiError | None:
        """Return a 429 error when flood-limit mode is on and a limit is exceeded.

        A rejected message still counts against the overall and per-chat budgets, as a
        request that Telegram had to turn down does.
        """
        with self._lock:
            limits = self._flood
            if limits is None or self._flood_overall is None:
                return None
            waits = [self._flood_overall.take(now)]
            chat_bucket = self._flood_chats.setdefault(
                chat_id, _Bucket(limits.chat_messages_per_second, limits.chat_burst, now))
            waits.append(chat_bucket.take(now))
            if chat_id < 0:
                sends = self._flood_groups.setdefault(chat_id, collections.deque())
                while sends and sends[0] <= now - limits.group_window_seconds:
                    sends.popleft()
                if len(sends) >= limits.group_messages:
                    waits.append(sends[0] + limits.group_window_seconds - now)
                else:
                    sends.append(now)
            wait = max(waits)
            if wait <= 0:
                return None
            retry_after = max(1, int(wait + 0.999))
            self._flood_rejections.append((chat_id, retry_after))
        return ApiError(429, f"Too Many Requests: retry after {retry_after}",
                        {"retry_after": retry_after})

    # --- methods -------------------------------------------------------------------------

    def _api_get_me(self, record: RequestRecord, params: dict[str, Any],
                    is_gone: Callable[[], bool]) -> Any:
        return dict(self.bot_user)

    def _api_get_updates(self, record: RequestRecord, params: dict[str, Any],
                         is_gone: Callable[[], bool]) -> Any:
        offset = _int_param(params, "offset", 0)
        limit = min(max(_int_param(params, "limit", MAX_UPDATES_PER_POLL), 1),
                    MAX_UPDATES_PER_POLL)
        timeout = min(max(_int_param(params, "timeout", 0), 0), MAX_POLL_TIMEOUT_SECONDS)
        allowed = _allowed_updates_param(params)

        with self._cond:
            if self._webhook is not None:
                raise ApiError(409, WEBHOOK_CONFLICT_DESCRIPTION)
            self._poll_generation += 1
            generation = self._poll_generation
            self._cond.notify_all()
            if allowed is not None:
                self._allowed_updates = allowed
            self._offsets.append((record.seq, offset))
            if offset < 0:
                # A negative offset keeps the last -offset updates and drops the rest.
                keep = self._pending[offset:] if -offset < len(self._pending) else self._pending
                if keep:
                    self._confirmed_offset = max(self._confirmed_offset, keep[0]["update_id"])
                self._pending = list(keep)
            elif offset > 0:
                self._confirmed_offset = max(self._confirmed_offset, offset)
                self._pending = [update for update in self._pending
                                 if update["update_id"] >= offset]
            deadline = time.monotonic() + timeout
            while True:
                if generation != self._poll_generation:
                    if is_gone():
                        raise ClientGone()
                    if self._webhook is not None:
                        raise ApiError(409, WEBHOOK_CONFLICT_DESCRIPTION)
                    raise ApiError(409, CONFLICT_DESCRIPTION)
                ready = [update for update in self._pending if self._is_allowed(update)]
                if ready or self._stopping:
                    batch = ready[:limit]
                    record.delivered_update_ids = [update["update_id"] for update in batch]
                    return batch
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._cond.wait(min(remaining, DISCONNECT_CHECK_SECONDS))
                if is_gone():
                    raise ClientGone()

    def _is_allowed(self, update: dict[str, Any]) -> bool:
        allowed = self._allowed_updates
        if not allowed or update["update_id"] in self._always_delivered:
            return True
        return any(kind in update for kind in allowed)

    def _api_send_message(self, record: RequestRecord, params: dict[str, Any],
                          is_gone: Callable[[], bool]) -> Any:
        chat_id = _chat_id_param(params.get("chat_id"))
        with self._lock:
            chat = self._chats.get(chat_id)
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")

        text, parse_mode, parsed = _message_text_params(params.get("text"),
                                                        params.get("parse_mode"))
        reply_markup = _reply_markup_param(params)

        reply_parameters = _json_object_param(params, "reply_parameters")
        reply_to = None
        if reply_parameters is not None:
            reply_to = _int_value(reply_parameters.get("message_id"),
                                  "reply_parameters.message_id")
            allow_without = bool(reply_parameters.get("allow_sending_without_reply", False))
        elif "reply_to_message_id" in params:
            reply_to = _int_param(params, "reply_to_message_id", 0)
            allow_without = _bool_value(params.get("allow_sending_without_reply", False))
        if reply_to is not None:
            with self._lock:
                known = reply_to in self._message_ids.get(chat_id, set())
            if not known and not allow_without:
                raise ApiError(400, "Bad Request: message to be replied not found")
        link_preview_options = _json_object_param(params, "link_preview_options")

        flood_error = self._check_flood(chat_id, time.monotonic())
        if flood_error is not None:
            raise flood_error

        with self._cond:
            message_id = self._allocate_message_id(chat_id)
            self._message_ids.setdefault(chat_id, set()).add(message_id)
            self._sent.append(SentMessage(
                chat_id=chat_id, message_id=message_id, html=text, parse_mode=parse_mode,
                text=parsed.text, entities=parsed.entities, links=parsed.links,
                reply_to_message_id=reply_to, reply_parameters=reply_parameters,
                link_preview_options=link_preview_options, request_seq=record.seq,
                done_seq=0, time=time.monotonic(), reply_markup=reply_markup))
            record.sent_index = len(self._sent) - 1
            self._bot_messages[(chat_id, message_id)] = (parsed.text, parsed.entities,
                                                         reply_markup)
            self._cond.notify_all()
        result: dict[str, Any] = {
            "message_id": message_id,
            "from": {key: self.bot_user[key] for key in ("id", "is_bot", "first_name",
                                                         "username")},
            "chat": chat,
            "date": int(time.time()),
            "text": parsed.text,
        }
        if parsed.entities:
            result["entities"] = parsed.entities
        if reply_markup is not None:
            result["reply_markup"] = reply_markup
        return result

    def _api_edit_message_text(self, record: RequestRecord, params: dict[str, Any],
                               is_gone: Callable[[], bool]) -> Any:
        if params.get("inline_message_id") not in (None, ""):
            # NOTE: the fake does not keep messages sent in inline mode.
            raise ApiError(400, "Bad Request: inline_message_id is not supported by the fake")
        chat_id = _chat_id_param(params.get("chat_id"))
        message_id = _int_value(params.get("message_id"), "message_id")
        text, _, parsed = _message_text_params(params.get("text"), params.get("parse_mode"))
        reply_markup = _reply_markup_param(params)
        with self._cond:
            chat = self._chats.get(chat_id)
            if chat is None:
                raise ApiError(400, "Bad Request: chat not found")
            current = self._bot_messages.get((chat_id, message_id))
            if current is None:
                raise ApiError(400, "Bad Request: message to edit not found")
            if current == (parsed.text, parsed.entities, reply_markup):
                raise ApiError(400, NOT_MODIFIED_DESCRIPTION)
            self._bot_messages[(chat_id, message_id)] = (parsed.text, parsed.entities,
                                                         reply_markup)
            self._edits.append(EditedMessage(
                chat_id=chat_id, message_id=message_id, html=text, text=parsed.text,
                reply_markup=reply_markup, request_seq=record.seq, time=time.monotonic()))
            self._cond.notify_all()
        result: dict[str, Any] = {
            "message_id": message_id,
            "from": {key: self.bot_user[key] for key in ("id", "is_bot", "first_name",
                                                         "username")},
            "chat": chat, "date": int(time.time()), "edit_date": int(time.time()),
            "text": parsed.text}
        if parsed.entities:
            result["entities"] = parsed.entities
        if reply_markup is not None:
            result["reply_markup"] = reply_markup
        return result

    def _take_query(self, queries: dict[str, list[Any]], query_id: Any,
                    timeout: float | None) -> float:
        """Mark a pushed query answered and return when it was pushed.

        Raises Telegram's error for an unknown or already answered query, and with `timeout`
        for one pushed longer ago than that.
        """
        if not isinstance(query_id, str) or not query_id:
            raise ApiError(400, "Bad Request: query_id is empty")
        with self._lock:
            entry = queries.get(query_id)
            if entry is None or entry[1]:
                raise ApiError(400, QUERY_TOO_OLD_DESCRIPTION)
            if timeout is not None and time.monotonic() - entry[0] > timeout:
                raise ApiError(400, QUERY_TOO_OLD_DESCRIPTION)
            entry[1] = True
            return entry[0]

    def _api_answer_callback_query(self, record: RequestRecord, params: dict[str, Any],
                                   is_gone: Callable[[], bool]) -> Any:
        text = params.get("text")
        if text is not None and (not isinstance(text, str)
                                 or len(text) > MAX_CALLBACK_TEXT_CHARS):
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        pushed = self._take_query(self._callback_queries, params.get("callback_query_id"), None)
        with self._cond:
            self._callback_answers.append(QueryAnswer(
                query_id=params["callback_query_id"], params=dict(params), request_seq=record.seq,
                time=time.monotonic(), query_time=pushed))
            self._cond.notify_all()
        return True

    def _api_answer_inline_query(self, record: RequestRecord, params: dict[str, Any],
                                 is_gone: Callable[[], bool]) -> Any:
        results = params.get("results")
        if isinstance(results, str):
            try:
                results = json.loads(results)
            except ValueError:
                raise ApiError(400, "Bad Request: can't parse inline query results JSON array")
        if not isinstance(results, list):
            raise ApiError(400, "Bad Request: results must be an array")
        if len(results) > MAX_INLINE_RESULTS:
            raise ApiError(400, "Bad Request: RESULTS_TOO_MUCH")
        seen_ids: set[str] = set()
        for index, result in enumerate(results):
            _check_inline_result(result, index, seen_ids)
        next_offset = params.get("next_offset", "")
        if not isinstance(next_offset, str) or len(next_offset.encode("utf-8")) > \
                MAX_NEXT_OFFSET_BYTES:
            raise ApiError(400, "Bad Request: NEXT_OFFSET_INVALID")
        cache_time = params.get("cache_time", 300)
        if isinstance(cache_time, bool) or not isinstance(cache_time, int) or cache_time < 0:
            raise ApiError(400, "Bad Request: invalid cache_time")
        pushed = self._take_query(self._inline_queries, params.get("inline_query_id"),
                                  INLINE_QUERY_TIMEOUT_SECONDS)
        with self._cond:
            self._inline_answers.append(QueryAnswer(
                query_id=params["inline_query_id"], params=dict(params, results=results),
                request_seq=record.seq, time=time.monotonic(), query_time=pushed))
            self._cond.notify_all()
        return True

    def _api_set_my_commands(self, record: RequestRecord, params: dict[str, Any],
                             is_gone: Callable[[], bool]) -> Any:
        commands = params.get("commands")
        if isinstance(commands, str):
            try:
                commands = json.loads(commands)
            except ValueError:
                raise ApiError(400, "Bad Request: can't parse commands JSON array")
        if not isinstance(commands, list) or len(commands) > MAX_COMMANDS:
            raise ApiError(400, "Bad Request: commands must be an array of at most 100 "
                           "BotCommand")
        for command in commands:
            name = command.get("command") if isinstance(command, dict) else None
            description = command.get("description") if isinstance(command, dict) else None
            if not isinstance(name, str) or not re.fullmatch(
                    rf"[a-z0-9_]{{1,{MAX_COMMAND_CHARS}}}", name):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not \
                    1 <= len(description.strip()) <= MAX_COMMAND_DESCRIPTION_CHARS:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        with self._cond:
            self._commands.append([dict(command) for command in commands])
            self._cond.notify_all()
        return True


    def _api_set_webhook(self, record: RequestRecord, params: dict[str, Any],
                         is_gone: Callable[[], bool]) -> Any:
        url = params.get("url")
        if not isinstance(url, str):
            raise ApiError(400, "Bad Request: url must be a string")
        if url == "":
            # An empty URL removes the webhook, as deleteWebhook does.
            return self._api_delete_webhook(record, params, is_gone)
        _check_webhook_url(url)
        secret = params.get("secret_token", "")
        if not isinstance(secret, str) or (secret and not SECRET_TOKEN_RE.fullmatch(secret)):
            raise ApiError(400, "Bad Request: invalid secret_token: expected 1 to "
                           f"{MAX_SECRET_TOKEN_CHARS} characters of A-Z, a-z, 0-9, _ and -")
        max_connections = _int_param(params, "max_connections", DEFAULT_WEBHOOK_CONNECTIONS)
        if not 1 <= max_connections <= MAX_WEBHOOK_CONNECTIONS:
            raise ApiError(400, "Bad Request: invalid max_connections: expected 1 to "
                           f"{MAX_WEBHOOK_CONNECTIONS}")
        allowed = _allowed_updates_param(params)
        with self._cond:
            if allowed is not None:
                self._allowed_updates = allowed
            if _bool_value(params.get("drop_pending_updates", False)):
                self._pending = []
            self._webhook = {"url": url, "secret_token": secret,
                             "max_connections": max_connections,
                             "allowed_updates": list(self._allowed_updates or [])}
            self._webhook_attempts.clear()
            self._next_delivery_time = 0.0
            self._last_webhook_error = None
            # A getUpdates that waits now fails with 409, as it would at Telegram.
            self._poll_generation += 1
            self._cond.notify_all()
        return True

    def _api_delete_webhook(self, record: RequestRecord, params: dict[str, Any],
                            is_gone: Callable[[], bool]) -> Any:
        with self._cond:
            if _bool_value(params.get("drop_pending_updates", False)):
                self._pending = []
            self._webhook = None
            self._webhook_attempts.clear()
            self._last_webhook_error = None
            self._cond.notify_all()
        return True

    def _api_get_webhook_info(self, record: RequestRecord, params: dict[str, Any],
                              is_gone: Callable[[], bool]) -> Any:
        with self._lock:
            info: dict[str, Any] = {"url": "", "has_custom_certificate": False,
                                    "pending_update_count": len(self._pending)}
            if self._webhook is not None:
                info["url"] = self._webhook["url"]
                info["max_connections"] = self._webhook["max_connections"]
                if self._webhook["allowed_updates"]:
                    info["allowed_updates"] = list(self._webhook["allowed_updates"])
                if _local_webhook_target(self._webhook["url"]) is not None:
                    info["ip_address"] = "127.0.0.1"
            if self._last_webhook_error is not None:
                info["last_error_date"], info["last_error_message"] = self._last_webhook_error
            return info


def _allowed_updates_param(params: dict[str, Any]) -> list[str] | None:
    """Return allowed_updates of getUpdates or setWebhook (a JSON array, also as a string),
    or None when it is absent."""
    allowed = params.get("allowed_updates")
    if isinstance(allowed, str):
        try:
            allowed = json.loads(allowed)
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse allowed_updates JSON array")
    if allowed is not None and not (isinstance(allowed, list)
                                    and all(isinstance(item, str) for item in allowed)):
        raise ApiError(400, "Bad Request: allowed_updates must be an array of strings")
    return allowed


def _check_webhook_url(url: str) -> None:
    """Raise setWebhook's error unless `url` is an https URL on a port Telegram posts to, or,
    for tests only, an http URL on 127.0.0.1."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise ApiError(400, "Bad Request: bad webhook: invalid URL")
    if not parts.hostname:
        raise ApiError(400, "Bad Request: bad webhook: invalid URL")
    if parts.scheme == "http" and parts.hostname == "127.0.0.1":
        return
    if parts.scheme != "https":
        raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for "
                       "webhook")
    if port is not None and port not in WEBHOOK_PORTS:
        raise ApiError(400, "Bad Request: bad webhook: Webhook can be set up only on ports "
                       "80, 88, 443 or 8443")


def _local_webhook_target(url: str) -> tuple[str, int, str] | None:
    """Return host, port and path of an http://127.0.0.1 webhook URL, the only kind the
    fake posts to, or None for any other URL."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or parts.hostname != "127.0.0.1":
        return None
    return "127.0.0.1", parts.port or 80, parts.path or "/"


def _webhook_request(connection: http.client.HTTPConnection, http_method: str, path: str,
                     data: bytes, secret: str | None, content_type: str
                     ) -> tuple[int, dict[str, str], bytes]:
    """Make one request as Telegram's webhook requests look, and return the status, the
    headers with lower-case names and the body."""
    headers = {"Content-Type": content_type}
    if secret is not None:
        headers[SECRET_TOKEN_HEADER] = secret
    connection.request(http_method, path, body=data if http_method == "POST" else None,
                       headers=headers)
    response = connection.getresponse()
    body = response.read()
    return response.status, {name.lower(): value for name, value in response.getheaders()}, body


def _message_text_params(text: Any, parse_mode: Any) -> tuple[str, str, ParsedHtml]:
    """Check a message text and its parse_mode as sendMessage and editMessageText do, and
    return the text, the parse mode and the parsed text."""
    if text is None or text == "":
        raise ApiError(400, "Bad Request: message text is empty")
    if not isinstance(text, str):
        raise ApiError(400, "Bad Request: text must be a string")
    try:
        raw_bytes = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise ApiError(400, "Bad Request: text must be encoded in UTF-8")
    if raw_bytes > MAX_RAW_TEXT_BYTES:
        raise ApiError(400, "Bad Request: message is too long")

    parse_mode = parse_mode or ""
    if not isinstance(parse_mode, str):
        raise ApiError(400, "Bad Request: unsupported parse_mode")
    if parse_mode.lower() == "html":
        try:
            parsed = parse_telegram_html(text)
        except HtmlParseError as error:
            raise ApiError(400, f"Bad Request: can't parse entities: {error}")
    elif parse_mode == "":
        parsed = ParsedHtml(text, [], [])
    else:
        # NOTE: the fake does not implement Markdown or MarkdownV2.
        raise ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode!r} in the fake")
    if not parsed.text.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if len(parsed.text) > MAX_MESSAGE_CHARS:
        raise ApiError(400, "Bad Request: message is too long")
    return text, parse_mode, parsed


def _reply_markup_param(params: dict[str, Any]) -> dict[str, Any] | None:
    """Check an inline keyboard reply_markup. Other keyboard kinds are rejected, because
    tgsearch does not send them."""
    markup = _json_object_param(params, "reply_markup")
    if markup is None:
        return None
    rows = markup.get("inline_keyboard")
    if not isinstance(rows, list) or set(markup) != {"inline_keyboard"}:
        raise ApiError(400, "Bad Request: the fake accepts only inline_keyboard reply markup")
    for row in rows:
        if not isinstance(row, list):
            raise ApiError(400, "Bad Request: inline keyboard rows must be arrays")
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str) \
                    or not button["text"].strip():
                raise ApiError(400, "Bad Request: BUTTON_TEXT_INVALID")
            actions = [key for key in button if key != "text"]
            if len(actions) != 1:
                raise ApiError(400, "Bad Request: a button needs exactly one action")
            if actions[0] == "callback_data":
                data = button["callback_data"]
                if not isinstance(data, str) or not \
                        1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            elif actions[0] == "url":
                if not isinstance(button["url"], str) or not re.match(r"https?://|tg://",
                                                                      button["url"]):
                    raise ApiError(400, "Bad Request: BUTTON_URL_INVALID")
            else:
                raise ApiError(400, f"Bad Request: button action {actions[0]!r} is not "
                               "supported by the fake")
    return markup


def _check_inline_result(result: Any, index: int, seen_ids: set[str]) -> None:
    """Check one InlineQueryResultArticle of answerInlineQuery."""
    if not isinstance(result, dict) or result.get("type") != "article":
        raise ApiError(400, f"Bad Request: result {index}: only type \"article\" is supported "
                       "by the fake")
    result_id = result.get("id")
    if not isinstance(result_id, str) or not \
            1 <= len(result_id.encode("utf-8")) <= MAX_INLINE_RESULT_ID_BYTES:
        raise ApiError(400, "Bad Request: RESULT_ID_INVALID")
    if result_id in seen_ids:
        raise ApiError(400, "Bad Request: RESULT_ID_DUPLICATE")
    seen_ids.add(result_id)
    title = result.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ApiError(400, f"Bad Request: result {index}: RESULT_TITLE_EMPTY")
    if "description" in result and not isinstance(result["description"], str):
        raise ApiError(400, f"Bad Request: result {index}: description must be a string")
    if "url" in result and (not isinstance(result["url"], str)
                            or not re.match(r"https?://", result["url"])):
        raise ApiError(400, f"Bad Request: result {index}: invalid url")
    content = result.get("input_message_content")
    if not isinstance(content, dict):
        raise ApiError(400, f"Bad Request: result {index}: input_message_content is missing")
    try:
        _message_text_params(content.get("message_text"), content.get("parse_mode"))
    except ApiError as error:
        raise ApiError(400, f"{error.description} in result {index}")


_METHODS = {
    "getme": ("getMe", FakeBotApi._api_get_me),
    "getupdates": ("getUpdates", FakeBotApi._api_get_updates),
    "sendmessage": ("sendMessage", FakeBotApi._api_send_message),
    "editmessagetext": ("editMessageText", FakeBotApi._api_edit_message_text),
    "answercallbackquery": ("answerCallbackQuery", FakeBotApi._api_answer_callback_query),
    "answerinlinequery": ("answerInlineQuery", FakeBotApi._api_answer_inline_query),
    "setmycommands": ("setMyCommands", FakeBotApi._api_set_my_commands),
    "setwebhook": ("setWebhook", FakeBotApi._api_set_webhook),
    "deletewebhook": ("deleteWebhook", FakeBotApi._api_delete_webhook),
    "getwebhookinfo": ("getWebhookInfo", FakeBotApi._api_get_webhook_info),
}


def command_entities(text: str) -> list[dict[str, Any]]:
    """Return the bot_command entity Telegram attaches to a message that starts with a
    command such as "/search" or "/search@SomeBot"."""
    match = re.match(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?=\s|$)", text)
    if not match:
        return []
    return [{"type": "bot_command", "offset": 0, "length": _utf16_length(match.group(0))}]


def private_chat(chat_id: int, first_name: str = "User") -> dict[str, Any]:
    return {"id": chat_id, "type": "private", "first_name": first_name}


def group_chat(chat_id: int, title: str = "Test group") -> dict[str, Any]:
    if chat_id >= 0:
        raise ValueError("group chat ids are negative")
    return {"id": chat_id, "type": "group", "title": title,
            "all_members_are_administrators": True}


def supergroup_chat(chat_id: int, title: str = "Test supergroup") -> dict[str, Any]:
    if not str(chat_id).startswith("-100"):
        raise ValueError("supergroup chat ids look like -100xxxxxxxxxx")
    return {"id": chat_id, "type": "supergroup", "title": title}


def _int_value(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise ApiError(400, f"Bad Request: invalid {name}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,19}", value.strip()):
        return int(value)
    raise ApiError(400, f"Bad Request: invalid {name}")


def _int_param(params: dict[str, Any], name: str, default: int) -> int:
    value = params.get(name)
    if value is None or value == "":
        return default
    return _int_value(value, name)


def _bool_value(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("true", "1")
    return bool(value)


def _chat_id_param(value: Any) -> int:
    if value is None or value == "":
        raise ApiError(400, "Bad Request: chat_id is empty")
    if isinstance(value, str) and value.startswith("@"):
        raise ApiError(400, "Bad Request: chat not found")
    if isinstance(value, float):
        # A JSON number with a fraction or exponent: a client that lost 64-bit precision.
        raise ApiError(400, "Bad Request: chat not found")
    return _int_value(value, "chat_id")


def _json_object_param(params: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ApiError(400, f"Bad Request: can't parse {name} JSON object")
    if not isinstance(value, dict):
        raise ApiError(400, f"Bad Request: {name} must be a JSON object")
    return value


# ------------------------------------------------------------------------------------------
# HTTP

class _BotApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-bot-api/1"
    # Bounds how long an idle keep-alive connection keeps its thread.
    timeout = 120
    api: FakeBotApi

    def setup(self) -> None:
        super().setup()
        self.connection_id = self.api._register_connection(self.connection)

    def finish(self) -> None:
        self.api._unregister_connection(self.connection_id)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        if self.api.verbose:
            # The request path contains the token, so print it redacted.
            sys.stderr.write(f"fake-bot-api: {self.command} {_redact(self.path, self.api.token)}"
                             f" -> {args[1] if len(args) > 1 else ''}\n")

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _client_gone(self) -> bool:
        """Return True when the client has closed the connection (EOF is readable)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            total = 0
            while True:
                size_line = self.rfile.readline(1024)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_REQUEST_BODY_BYTES:
                    raise ApiError(413, "Request Entity Too Large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BODY_BYTES:
            raise ApiError(413, "Request Entity Too Large")
        return self.rfile.read(length) if length > 0 else b""

    def _parse_params(self, body: bytes, query: str) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for key, values in urllib.parse.parse_qs(query, keep_blank_values=True).items():
            params[key] = values[-1]
        if not body:
            return params
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "Bad Request: request body must be encoded in UTF-8")
        if content_type == "application/json":
            try:
                decoded = json.loads(text)
            except ValueError as error:
                raise ApiError(400, f"Bad Request: can't parse JSON body: {error}")
            if not isinstance(decoded, dict):
                raise ApiError(400, "Bad Request: the JSON body must be an object")
            params.update(decoded)
        elif content_type == "application/x-www-form-urlencoded":
            for key, values in urllib.parse.parse_qs(text, keep_blank_values=True).items():
                params[key] = values[-1]
        else:
            raise ApiError(400, f"Bad Request: unsupported Content-Type {content_type!r}")
        return params

    def _handle(self) -> None:
        api = self.api
        parsed_url = urllib.parse.urlsplit(self.path)
        match = re.fullmatch(r"/bot([^/]*)/([A-Za-z_]*)", parsed_url.path)
        method_key = match.group(2).lower() if match else ""
        method_name, method_impl = _METHODS.get(method_key, (match.group(2) if match else "",
                                                             None))
        token_ok = bool(match) and api.token_accepted(match.group(1))
        content_type = self.headers.get("Content-Type", "")
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        except ApiError as error:
            self._respond(error.http_status, error.body())
            self.close_connection = True
            return

        params: dict[str, Any] = {}
        error: ApiError | None = None
        try:
            params = self._parse_params(body, parsed_url.query)
        except ApiError as parse_error:
            error = parse_error
        record = api._begin(method_name, self.command, content_type, params,
                            self.connection_id, token_ok)

        status = 200
        response: dict[str, Any]
        try:
            if not match:
                raise ApiError(404, "Not Found")
            if not token_ok:
                raise ApiError(401, "Unauthorized")
            if method_impl is None:
                raise ApiError(404, "Not Found: method not found")
            if error is not None:
                raise error
            delay = api._delay_for(method_name)
            if delay > 0:
                time.sleep(delay)
            fault = api._take_fault(method_name, params)
            if fault is not None:
                if fault.action == "error":
                    assert fault.error is not None
                    record.fault = "error"
                    raise fault.error
                self._inject(record, fault)
                return
            result = method_impl(api, record, params, self._client_gone)
            response = {"ok": True, "result": result}
        except ClientGone:
            api._finish(record, 0, None, abandoned=True)
            self.close_connection = True
            return
        except ApiError as api_error:
            status = api_error.http_status
            response = api_error.body()
        api._finish(record, status, response)
        self._respond(status, response)

    def _inject(self, record: RequestRecord, fault: _Fault) -> None:
        """Answer `record` with a transport-level fault instead of a Bot API response."""
        api = self.api
        record.fault = fault.action
        if fault.action == "raw":
            api._finish(record, fault.raw_status, None)
            self._respond_bytes(fault.raw_status, fault.raw_body)
            return
        self.close_connection = True
        if fault.action == "reset":
            api._finish(record, 0, None, abandoned=True)
            try:
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: 200\r\n\r\n{\"ok\":true,\"res")
                self.wfile.flush()
                # A zero linger time turns close() into a TCP reset.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            except OSError:
                pass
            return
        # "hang": hold the connection without a word until the client or the fake gives up.
        while not self._client_gone():
            with api._cond:
                if api._stopping:
                    break
                api._cond.wait(DISCONNECT_CHECK_SECONDS)
        api._finish(record, 0, None, abandoned=True)

    def _respond_bytes(self, status: int, data: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _respond(self, status: int, payload: dict[str, Any]) -> None:
        # surrogateescape turns a lone surrogate such as "\udcff" back into the raw byte 0xFF,
        # which lets a test put invalid UTF-8 on the wire.
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8", "surrogateescape")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True


def _redact(text: str, token: str) -> str:
    return text.replace(token, "<token>") if token else text


# ------------------------------------------------------------------------------------------
# Proxies for tests

@dataclass
class TunnelRecord:
    """One tunnel a test proxy opened (or refused)."""
    target_host: str
    target_port: int
    address_type: str = ""            # SOCKS5: "domain", "ipv4" or "ipv6"; HTTP: "connect"
    username: str = ""
    password: str = ""
    ok: bool = False
    error: str = ""
    bytes_up: int = 0
    bytes_down: int = 0


class _TestProxy:
    """A threaded TCP proxy on 127.0.0.1 that records its tunnels.

    It connects only to 127.0.0.1: a tunnel to any other host is refused, as is one to a
    host name other than "localhost", so a test can never reach beyond this machine.
    """

    def __init__(self, username: str = "", password: str = "") -> None:
        self.username = username
        self.password = password
        self._lock = threading.Lock()
        self._tunnels: list[TunnelRecord] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._stopping = False
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    def start(self) -> "_TestProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping = True
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1]

    def tunnels(self) -> list[TunnelRecord]:
        with self._lock:
            return list(self._tunnels)

    def _accept_loop(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._sockets.append(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        record = TunnelRecord("", 0)
        upstream = None
        try:
            client.settimeout(10)
            upstream = self._handshake(client, record)
            if upstream is not None:
                client.settimeout(None)
                self._relay(client, upstream, record)
        except (OSError, ValueError) as error:
            record.error = record.error or repr(error)
        finally:
            with self._lock:
                self._tunnels.append(record)
            for sock in (client, upstream):
                if sock is not None:
                    try:
                        sock.close()
                    except OSError:
                        pass

    def _open_upstream(self, host: str, port: int, record: TunnelRecord) -> socket.socket | None:
        if host not in ("127.0.0.1", "localhost"):
            record.error = f"refused to tunnel to {host}"
            return None
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError as error:
            record.error = f"connect failed: {error}"
            return None

    def _relay(self, client: socket.socket, upstream: socket.socket,
               record: TunnelRecord) -> None:
        with self._lock:
            self._sockets.append(upstream)
        sockets = [client, upstream]
        while True:
            readable, _, _ = select.select(sockets, [], [], 1.0)
            if self._stopping:
                return
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                if sock is client:
                    upstream.sendall(data)
                    record.bytes_up += len(data)
                else:
                    client.sendall(data)
                    record.bytes_down += len(data)

    def _handshake(self, client: socket.socket, record: TunnelRecord) -> socket.socket | None:
        raise NotImplementedError


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ValueError("the client closed the connection during the handshake")
        data += chunk
    return data


class Socks5Proxy(_TestProxy):
    """SOCKS5 (RFC 1928) with optional username/password authentication (RFC 1929).

    Only CONNECT is supported. A refused tunnel gets reply code 4 (host unreachable) or 5
    (connection refused); wrong credentials get status 1 and the connection is closed.
    """

    def _handshake(self, client: socket.socket, record: TunnelRecord) -> socket.socket | None:
        version, method_count = _recv_exact(client, 2)
        if version != 5:
            raise ValueError(f"not SOCKS5: version {version}")
        methods = _recv_exact(client, method_count)
        required_method = 2 if self.username else 0
        if required_method not in methods:
            client.sendall(b"\x05\xff")
            record.error = f"no acceptable method in {list(methods)}"
            return None
        client.sendall(bytes([5, required_method]))

        if required_method == 2:
            sub_version, user_length = _recv_exact(client, 2)
            record.username = _recv_exact(client, user_length).decode("utf-8", "replace")
            (password_length,) = _recv_exact(client, 1)
            record.password = _recv_exact(client, password_length).decode("utf-8", "replace")
            if sub_version != 1 or record.username != self.username \
                    or record.password != self.password:
                client.sendall(b"\x01\x01")
                record.error = "authentication failed"
                return None
            client.sendall(b"\x01\x00")

        version, command, _, address_type = _recv_exact(client, 4)
        if address_type == 1:
            record.address_type = "ipv4"
            record.target_host = socket.inet_ntop(socket.AF_INET, _recv_exact(client, 4))
        elif address_type == 3:
            record.address_type = "domain"
            (length,) = _recv_exact(client, 1)
            record.target_host = _recv_exact(client, length).decode("ascii", "replace")
        elif address_type == 4:
            record.address_type = "ipv6"
            record.target_host = socket.inet_ntop(socket.AF_INET6, _recv_exact(client, 16))
        else:
            client.sendall(b"\x05\x08\x00\x01\x00\x00\x00\x00\x00\x00")
            record.error = f"address type {address_type}"
            return None
        (record.target_port,) = struct.unpack("!H", _recv_exact(client, 2))

        if version != 5 or command != 1:
            client.sendall(b"\x05\x07\x00\x01\x00\x00\x00\x00\x00\x00")
            record.error = f"command {command}"
            return None
        upstream = self._open_upstream(record.target_host, record.target_port, record)
        if upstream is None:
            code = 4 if record.error.startswith("refused") else 5
            client.sendall(bytes([5, code]) + b"\x00\x01\x00\x00\x00\x00\x00\x00")
            return None

        # The bound address: a domain name, to exercise the client's ATYP 3 reply parsing.
        bound = b"proxy.test"
        client.sendall(b"\x05\x00\x00\x03" + bytes([len(bound)]) + bound
                       + struct.pack("!H", upstream.getsockname()[1]))
        record.ok = True
        return upstream


class HttpConnectProxy(_TestProxy):
    """An HTTP proxy that supports CONNECT only, with optional Basic authentication."""

    def _handshake(self, client: socket.socket, record: TunnelRecord) -> socket.socket | None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                raise ValueError("the client closed the connection before the request ended")
            head += chunk
            if len(head) > 16384:
                raise ValueError("request head too long")
        lines = head.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
        method, authority, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        record.address_type = "connect"
        host, _, port = authority.rpartition(":")
        record.target_host = host.strip("[]")
        record.target_port = int(port) if port.isdigit() else 0
        if method != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            record.error = f"method {method}"
            return None
        credentials = headers.get("proxy-authorization", "")
        if credentials.startswith("Basic "):
            decoded = base64.b64decode(credentials[6:]).decode("utf-8", "replace")
            record.username, _, record.password = decoded.partition(":")
        if self.username and (record.username, record.password) != (self.username,
                                                                     self.password):
            client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                           b"Proxy-Authenticate: Basic realm=\"test\"\r\n"
                           b"Content-Length: 0\r\n\r\n")
            record.error = "authentication failed"
            return None
        upstream = self._open_upstream(record.target_host, record.target_port, record)
        if upstream is None:
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return None
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        record.ok = True
        return upstream


# ------------------------------------------------------------------------------------------
# Self-test

def _self_test() -> int:
    token = "123456:SELF-test_token"
    failures: list[str] = []
    passed = 0

    def check(condition: bool, name: str, detail: Any = "") -> None:
        nonlocal passed
        if condition:
            passed += 1
        else:
            failures.append(f"{name}: {detail}")
            print(f"FAIL {name}: {detail}")

    def call(connection: http.client.HTTPConnection, method: str, body: Any,
             token_in_path: str = token, content_type: str = "application/json"
             ) -> tuple[int, dict[str, Any]]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        connection.request("POST", f"/bot{token_in_path}/{method}", body=data,
                           headers={"Content-Type": content_type})
        response = connection.getresponse()
        return response.status, json.loads(response.read())

    with FakeBotApi(token) as fake:
        connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=10)
        status, body = call(connection, "getMe", {})
        check(status == 200 and body["result"]["username"] == "tgsearch_test_bot",
              "getMe returns the bot", body)
        status, body = call(connection, "getMe", {}, token_in_path="123456:wrong")
        check(status == 401 and body == {"ok": False, "error_code": 401,
                                         "description": "Unauthorized"},
              "wrong token gets 401", body)
        status, body = call(connection, "noSuchMethod", {})
        check(status == 404 and body["description"] == "Not Found: method not found",
              "unknown method gets 404", body)
        status, body = call(connection, "getUpdates", {"offset": 0, "timeout": 0})
        check(status == 200 and body["result"] == [], "empty getUpdates returns []", body)

        # Long poll: a waiting getUpdates returns as soon as an update is pushed.
        chat = private_chat(5000000001, "Amal")
        pusher = threading.Timer(0.3, lambda: fake.push_message(chat, "/start"))
        started = time.monotonic()
        pusher.start()
        status, body = call(connection, "getUpdates",
                            {"offset": 0, "timeout": 5, "limit": 100,
                             "allowed_updates": ["message"]})
        elapsed = time.monotonic() - started
        check(status == 200 and len(body["result"]) == 1, "long poll gets the update", body)
        check(0.2 < elapsed < 2.0, "long poll wakes up on push", f"{elapsed:.2f} s")
        update = body["result"][0]
        check(update["message"]["entities"] == [{"type": "bot_command", "offset": 0,
                                                 "length": 6}],
              "commands carry a bot_command entity", update)
        first_id = update["update_id"]

        # Unconfirmed updates come back; an offset confirms them.
        status, body = call(connection, "getUpdates", {"offset": 0, "timeout": 0})
        check([item["update_id"] for item in body["result"]] == [first_id],
              "unconfirmed update is delivered again", body)
        for index in range(150):
            fake.push_message(chat, f"message {index}")
        status, body = call(connection, "getUpdates", {"offset": first_id + 1, "limit": 500})
        ids = [item["update_id"] for item in body["result"]]
        check(ids == list(range(first_id + 1, first_id + 101)),
              "limit is clamped to 100 and updates are in order", ids[:3])
        check(fake.confirmed_offset == first_id + 1, "offset is recorded",
              fake.confirmed_offset)
        status, body = call(connection, "getUpdates", {"offset": first_id + 151, "timeout": 0})
        check(body["result"] == [] and fake.pending_update_ids() == [],
              "offset past the last update confirms all", fake.pending_update_ids())
        check(fake.connection_count() == 1, "one keep-alive connection served every call",
              fake.connection_count())

        # A second getUpdates while one waits makes the first return 409.
        other = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=10)
        results: dict[str, Any] = {}

        def long_poll() -> None:
            results["first"] = call(other, "getUpdates", {"timeout": 5})

        poller = threading.Thread(target=long_poll)
        poller.start()
        time.sleep(0.3)
        status, body = call(connection, "getUpdates", {"timeout": 0})
        poller.join(timeout=10)
        first_status, first_body = results.get("first", (0, {}))
        check(first_status == 409 and first_body.get("description") == CONFLICT_DESCRIPTION,
              "older getUpdates gets 409", results)
        check(status == 200, "newer getUpdates succeeds", body)
        other.close()

        # A client that closes its connection during a long poll gets no 409 recorded.
        raw = socket.create_connection(("127.0.0.1", fake.port), timeout=5)
        request_body = b'{"timeout": 5}'
        raw.sendall(f"POST /bot{token}/getUpdates HTTP/1.1\r\nHost: x\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(request_body)}"
                    f"\r\n\r\n".encode() + request_body)
        time.sleep(0.3)
        raw.close()
        status, body = call(connection, "getUpdates", {"timeout": 0})
        fake.wait_for(lambda api: api.requests("getUpdates")[-2].done_seq > 0, 2)
        abandoned = fake.requests("getUpdates")[-2]
        check(status == 200 and abandoned.abandoned and abandoned.status == 0,
              "a poll whose client left is abandoned, not answered", abandoned)

        # sendMessage validation.
        def send(text: str, **extra: Any) -> tuple[int, dict[str, Any]]:
            return call(connection, "sendMessage",
                        {"chat_id": chat["id"], "text": text, "parse_mode": "HTML", **extra})

        accepted = [
            "<b>bold</b> &lt;tag&gt; &amp; &quot;q&quot; &#128512; &#x1F600; a > b",
            '<a href="https://example.org/?a=1&amp;b=2">link</a>',
            "<i><b>nested</b></i> <s>x</s> <u>y</u> <code>z</code> <pre>p</pre>",
            '<pre><code class="language-cpp">int x;</code></pre>',
            '<span class="tg-spoiler">s</span> <tg-spoiler>t</tg-spoiler>',
            "<blockquote expandable>quote</blockquote> <B>upper</B>",
            '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>',
            "x" * MAX_MESSAGE_CHARS,
            "<b>" + "é" * MAX_MESSAGE_CHARS + "</b>",
        ]
        for text in accepted:
            status, body = send(text)
            check(status == 200, f"accepts {text[:40]!r}", body)
        status, body = send('<a href="https://example.org/">link</a> <b>x</b>')
        entities = body.get("result", {}).get("entities", [])
        check(body.get("result", {}).get("text") == "link x", "returns the visible text", body)
        check(entities == [{"type": "text_link", "offset": 0, "length": 4,
                            "url": "https://example.org/"},
                           {"type": "bold", "offset": 5, "length": 1}],
              "returns entities", entities)
        status, body = send("😀<b>é</b>")
        check(body.get("result", {}).get("entities") == [{"type": "bold", "offset": 2,
                                                          "length": 1}],
              "entity offsets count UTF-16 units", body)

        rejected = [
            ("a < b", "Unsupported start tag"),
            ("a & b", "must be escaped"),
            ("&nbsp;", "must be escaped"),
            ("&apos;", "must be escaped"),
            ("<b>open", "Can't find end tag"),
            ("<b>x</i>", "Unmatched end tag"),
            ("x</b>", "Unexpected end tag"),
            ("<br/>", "Unsupported start tag"),
            ("<span>x</span>", "must have class"),
            ('<a href="x&y">l</a>', "must be escaped"),
            ("<b", "Unclosed start tag"),
            ("<b>x</b", "Unclosed end tag"),
            ("&#0;", "Invalid numeric HTML entity"),
        ]
        for text, reason in rejected:
            status, body = send(text)
            description = body.get("description", "")
            check(status == 400 and description.startswith("Bad Request: can't parse entities:")
                  and reason in description, f"rejects {text!r}", body)
        status, body = send("x" * (MAX_MESSAGE_CHARS + 1))
        check(status == 400 and body["description"] == "Bad Request: message is too long",
              "rejects 4097 characters", body)
        status, body = send("&lt;" * 8193)
        check(status == 400 and body["description"] == "Bad Request: message is too long",
              "rejects a raw text over 32768 bytes", body)
        status, body = send("<b> </b>\n")
        check(status == 400 and body["description"] == "Bad Request: message text is empty",
              "rejects whitespace-only text", body)
        status, body = call(connection, "sendMessage", {"chat_id": 42, "text": "x"})
        check(status == 400 and body["description"] == "Bad Request: chat not found",
              "rejects an unknown chat", body)
        status, body = send("x", reply_parameters={"message_id": 999999})
        check(status == 400 and "replied not found" in body["description"],
              "rejects a reply to an unknown message", body)
        status, body = send("x", reply_parameters={"message_id": 999999,
                                                   "allow_sending_without_reply": True})
        check(status == 200, "allows sending without reply", body)
        status, body = call(connection, "sendMessage",
                            f"chat_id={chat['id']}&text=%3Cb%3Eform%3C%2Fb%3E&parse_mode=HTML"
                            .encode(), content_type="application/x-www-form-urlencoded")
        check(status == 200 and body["result"]["text"] == "form", "accepts form bodies", body)

        fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 3",
                       parameters={"retry_after": 3})
        status, body = send("x")
        check(status == 429 and body.get("parameters") == {"retry_after": 3},
              "fail_next injects an error", body)
        status, body = send("x")
        check(status == 200, "fail_next affects one call only", body)
        sent = fake.sent_messages()
        check(len(sent) == len(accepted) + 5, "records accepted messages only", len(sent))

        # Inline keyboards.
        keyboard = {"inline_keyboard": [[{"text": "◀", "callback_data": "p:1"},
                                         {"text": "▶", "callback_data": "d" * 64}]]}
        status, body = send("<b>page 1</b>", reply_markup=keyboard)
        check(status == 200 and body["result"].get("reply_markup") == keyboard,
              "accepts an inline keyboard", body)
        page_message_id = body.get("result", {}).get("message_id")
        check(fake.sent_messages()[-1].reply_markup == keyboard, "records the keyboard",
              fake.sent_messages()[-1].reply_markup)
        for markup, reason in (
                ({"inline_keyboard": [[{"text": "x", "callback_data": "d" * 65}]]},
                 "BUTTON_DATA_INVALID"),
                ({"inline_keyboard": [[{"text": "x", "callback_data": "é" * 33}]]},
                 "BUTTON_DATA_INVALID"),
                ({"inline_keyboard": [[{"text": "x", "callback_data": ""}]]},
                 "BUTTON_DATA_INVALID"),
                ({"inline_keyboard": [[{"text": "", "callback_data": "x"}]]},
                 "BUTTON_TEXT_INVALID"),
                ({"inline_keyboard": [[{"text": "x"}]]}, "exactly one action"),
                ({"inline_keyboard": [{"text": "x", "callback_data": "x"}]}, "rows must be"),
                ({"keyboard": [["x"]]}, "only inline_keyboard")):
            status, body = send("x", reply_markup=markup)
            check(status == 400 and reason in body.get("description", ""),
                  f"rejects reply markup with {reason}", body)

        # editMessageText.
        def edit(message_id: Any, text: str, markup: Any = None) -> tuple[int, dict[str, Any]]:
            params: dict[str, Any] = {"chat_id": chat["id"], "message_id": message_id,
                                      "text": text, "parse_mode": "HTML"}
            if markup is not None:
                params["reply_markup"] = markup
            return call(connection, "editMessageText", params)

        status, body = edit(page_message_id, "<b>page 1</b>", keyboard)
        check(status == 400 and body.get("description") == NOT_MODIFIED_DESCRIPTION,
              "an unchanged edit is not modified", body)
        status, body = edit(page_message_id, "<b>page 1</b>")
        check(status == 200 and "reply_markup" not in body.get("result", {}),
              "removing the keyboard is a change", body)
        status, body = edit(page_message_id, "<i>page 1</i>")
        check(status == 200, "a change of entities alone is a change", body)
        status, body = edit(page_message_id, "<b>page 2</b>", keyboard)
        check(status == 200 and body["result"]["text"] == "page 2", "edits the text", body)
        check(fake.message_text(chat["id"], page_message_id) == "page 2"
              and len(fake.edits()) == 3, "records edits", fake.edits()[-1:])
        status, body = edit(999999, "x")
        check(status == 400 and "message to edit not found" in body.get("description", ""),
              "rejects an edit of an unknown message", body)
        status, body = edit(page_message_id, "a < b")
        check(status == 400 and "can't parse entities" in body.get("description", ""),
              "parses the edited HTML", body)

        # answerCallbackQuery: once per pushed query.
        query_id = fake.push_callback_query(chat, page_message_id, "p:1")
        status, body = call(connection, "getUpdates",
                            {"timeout": 0, "allowed_updates": ["message", "callback_query"]})
        pressed = body["result"][-1]["callback_query"]
        check(pressed["id"] == query_id and pressed["data"] == "p:1"
              and pressed["message"]["text"] == "page 2"
              and pressed["message"]["reply_markup"] == keyboard,
              "a button press carries the message and its data", pressed)
        status, body = call(connection, "answerCallbackQuery",
                            {"callback_query_id": query_id, "text": "This search has expired"})
        check(status == 200 and body["result"] is True, "answers a button press", body)
        status, body = call(connection, "answerCallbackQuery", {"callback_query_id": query_id})
        check(status == 400 and body.get("description") == QUERY_TOO_OLD_DESCRIPTION,
              "a second answer is rejected", body)
        status, body = call(connection, "answerCallbackQuery", {"callback_query_id": "nope"})
        check(status == 400, "an unknown button press is rejected", body)
        check([answer.query_id for answer in fake.callback_answers()] == [query_id],
              "records button answers", fake.callback_answers())

        # answerInlineQuery.
        def article(index: int, **extra: Any) -> dict[str, Any]:
            return {"type": "article", "id": f"d{index}", "title": f"Title {index}",
                    "input_message_content": {"message_text": f"<b>doc {index}</b>",
                                              "parse_mode": "HTML"}, **extra}

        inline_id = fake.push_inline_query("nginx")
        status, body = call(connection, "answerInlineQuery",
                            {"inline_query_id": inline_id,
                             "results": [article(index) for index in range(51)]})
        check(status == 400 and "RESULTS_TOO_MUCH" in body.get("description", ""),
              "rejects 51 inline results", body)
        for results, reason in (
                ([article(1), article(1)], "RESULT_ID_DUPLICATE"),
                ([dict(article(1), id="x" * 65)], "RESULT_ID_INVALID"),
                ([dict(article(1), title="")], "RESULT_TITLE_EMPTY"),
                ([dict(article(1), input_message_content={"message_text": "a & b",
                                                          "parse_mode": "HTML"})],
                 "can't parse entities"),
                ([dict(article(1), type="photo")], "only type")):
            status, body = call(connection, "answerInlineQuery",
                                {"inline_query_id": inline_id, "results": results})
            check(status == 400 and reason in body.get("description", ""),
                  f"rejects inline results with {reason}", body)
        status, body = call(connection, "answerInlineQuery",
                            {"inline_query_id": inline_id, "results": [], "next_offset": "9" * 65})
        check(status == 400 and "NEXT_OFFSET_INVALID" in body.get("description", ""),
              "rejects a next_offset over 64 bytes", body)
        status, body = call(connection, "answerInlineQuery",
                            {"inline_query_id": inline_id,
                             "results": [article(index, url="https://example.org/")
                                         for index in range(50)],
                             "next_offset": "50", "cache_time": 300, "is_personal": False})
        check(status == 200, "accepts 50 inline results", body)
        answers = fake.inline_answers()
        check(len(answers) == 1 and len(answers[0].params["results"]) == 50
              and answers[0].params["next_offset"] == "50", "records inline answers", answers)
        status, body = call(connection, "answerInlineQuery",
                            {"inline_query_id": inline_id, "results": []})
        check(status == 400 and body.get("description") == QUERY_TOO_OLD_DESCRIPTION,
              "an inline query is answered once", body)
        late_id = fake.push_inline_query("late")
        with fake._lock:
            fake._inline_queries[late_id][0] -= INLINE_QUERY_TIMEOUT_SECONDS + 1
        status, body = call(connection, "answerInlineQuery",
                            {"inline_query_id": late_id, "results": []})
        check(status == 400 and body.get("description") == QUERY_TOO_OLD_DESCRIPTION,
              "an inline query older than 10 s is too old", body)

        # setMyCommands.
        commands = [{"command": "search", "description": "Search"},
                    {"command": "help", "description": "Help"}]
        status, body = call(connection, "setMyCommands", {"commands": commands})
        check(status == 200 and fake.commands() == [commands], "records commands",
              fake.commands())
        for bad, reason in (([{"command": "Search", "description": "x"}], "BOT_COMMAND_INVALID"),
                            ([{"command": "x" * 33, "description": "x"}], "BOT_COMMAND_INVALID"),
                            ([{"command": "s", "description": ""}],
                             "BOT_COMMAND_DESCRIPTION_INVALID")):
            status, body = call(connection, "setMyCommands", {"commands": bad})
            check(status == 400 and reason in body.get("description", ""),
                  f"rejects commands with {reason}", body)
        connection.close()

    _self_test_webhook(token, check, call)

    print(f"{passed} passed, {len(failures)} failed")
    return 1 if failures else 0


class _WebhookReceiver:
    """A webhook endpoint for the self-test that records each request and answers with the
    scripted statuses, then with 200. It closes every connection after one response, so that
    a stopped receiver refuses the next request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str | None, bytes]] = []  # method, path, secret, body
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append((self.command, self.path,
                                              self.headers.get(SECRET_TOKEN_HEADER), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.close_connection = True
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _self_test_webhook(token: str, check: Callable[..., None], call: Callable[..., Any]) -> None:
    """Check setWebhook, getWebhookInfo, deleteWebhook and the delivery of updates by POST."""
    receiver = _WebhookReceiver()
    with FakeBotApi(token) as fake:
        connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=10)
        status, body = call(connection, "getWebhookInfo", {})
        check(status == 200 and body["result"] == {"url": "", "has_custom_certificate": False,
                                                   "pending_update_count": 0},
              "getWebhookInfo without a webhook", body)

        secret = "S3cret_token-" + "x" * 30
        url = f"http://127.0.0.1:{receiver.port}/hook"
        rejected = [
            ({"url": "http://example.org/hook"}, "An HTTPS URL must be provided"),
            ({"url": "https://example.org:8080/hook"}, "only on ports 80, 88, 443 or 8443"),
            ({"url": "not a url"}, "bad webhook"),
            ({"url": url, "secret_token": "has space"}, "invalid secret_token"),
            ({"url": url, "secret_token": "x" * (MAX_SECRET_TOKEN_CHARS + 1)},
             "invalid secret_token"),
            ({"url": url, "max_connections": 0}, "invalid max_connections"),
            ({"url": url, "max_connections": MAX_WEBHOOK_CONNECTIONS + 1},
             "invalid max_connections"),
            ({"url": url, "allowed_updates": "message"}, "allowed_updates"),
            ({"url": url, "allowed_updates": [1]}, "allowed_updates"),
        ]
        for params, reason in rejected:
            status, body = call(connection, "setWebhook", params)
            check(status == 400 and reason in body.get("description", ""),
                  f"setWebhook rejects {params}", body)
        check(fake.webhook() is None, "a rejected setWebhook sets nothing", fake.webhook())
        status, body = call(connection, "setWebhook",
                            {"url": "https://bot.example.org:8443/hook",
                             "secret_token": "x" * MAX_SECRET_TOKEN_CHARS})
        check(status == 200 and body["result"] is True,
              "setWebhook accepts https on port 8443 and a 256-character secret", body)

        # While the receiver answers 500, the first update is posted again and the second
        # one waits behind it.
        chat = private_chat(5000000002, "Hook")
        first = fake.push_message(chat, "first")["update_id"]
        second = fake.push_message(chat, "second")["update_id"]
        receiver.statuses = [500, 429]
        status, body = call(connection, "setWebhook",
                            {"url": url, "secret_token": secret, "max_connections": 5,
                             "allowed_updates": ["message", "callback_query"]})
        check(status == 200 and body["result"] is True, "setWebhook accepts a local URL", body)
        delivered = fake.wait_for(lambda api: api.pending_update_ids() == [], 10)
        check(delivered, "pushed updates are posted to the webhook", fake.pending_update_ids())
        deliveries = [(item.update_id, item.attempt, item.status)
                      for item in fake.webhook_deliveries()]
        check(deliveries == [(first, 1, 500), (first, 2, 429), (first, 3, 200),
                             (second, 1, 200)],
              "a failed delivery is repeated before the next update", deliveries)
        check(fake.webhook_deliveries()[1].retry_after == "1",
              "a delivery records Retry-After", fake.webhook_deliveries()[1])
        with receiver.lock:
            received = list(receiver.requests)
        check(all(item[0] == "POST" and item[1] == "/hook" and item[2] == secret
                  for item in received),
              "deliveries POST to the URL path with the secret header",
              [item[:3] for item in received])
        check([json.loads(item[3])["update_id"] for item in received]
              == [first, first, first, second],
              "deliveries carry the updates in order", len(received))

        status, body = call(connection, "getWebhookInfo", {})
        info = body.get("result", {})
        check(info.get("url") == url and info.get("max_connections") == 5
              and info.get("allowed_updates") == ["message", "callback_query"]
              and info.get("pending_update_count") == 0,
              "getWebhookInfo returns the webhook", info)
        check("Wrong response from the webhook: 429" in info.get("last_error_message", "")
              and isinstance(info.get("last_error_date"), int),
              "getWebhookInfo returns the last delivery error", info)
        status, body = call(connection, "getUpdates", {"timeout": 0})
        check(status == 409 and body.get("description") == WEBHOOK_CONFLICT_DESCRIPTION,
              "getUpdates gets 409 while a webhook is set", body)

        fake.override_delivery_secret("wrong")
        fake.set_webhook_retry(0.05, max_attempts=2)
        receiver.statuses = [401, 401]
        dropped = fake.push_message(chat, "third")["update_id"]
        fake.wait_for(lambda api: api.pending_update_ids() == [], 10)
        attempts = [(item.attempt, item.secret, item.status)
                    for item in fake.webhook_deliveries() if item.update_id == dropped]
        check(attempts == [(1, "wrong", 401), (2, "wrong", 401)]
              and fake.pending_update_ids() == [],
              "an update is dropped after the maximum attempts", attempts)
        fake.restore_delivery_secret()
        fake.set_webhook_retry(DEFAULT_WEBHOOK_RETRY_SECONDS)

        status, _, _ = fake.post_to_webhook(b"raw", secret=None, path="/other")
        with receiver.lock:
            last = receiver.requests[-1]
        check(status == 200 and last[1:] == ("/other", None, b"raw"),
              "post_to_webhook sends the given path, secret and body", last)

        # A long poll that waits when setWebhook arrives fails with the webhook conflict.
        status, body = call(connection, "deleteWebhook", {"drop_pending_updates": False})
        check(status == 200 and body["result"] is True and fake.webhook() is None,
              "deleteWebhook removes the webhook", body)
        results: dict[str, Any] = {}
        poller_connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=10)
        poller = threading.Thread(target=lambda: results.setdefault(
            "poll", call(poller_connection, "getUpdates", {"timeout": 5})))
        poller.start()
        time.sleep(0.3)
        call(connection, "setWebhook", {"url": url, "secret_token": secret,
                                        "allowed_updates": ["message"]})
        poller.join(timeout=10)
        poller_connection.close()
        poll_status, poll_body = results.get("poll", (0, {}))
        check(poll_status == 409 and poll_body.get("description")
              == WEBHOOK_CONFLICT_DESCRIPTION,
              "setWebhook ends a waiting getUpdates with 409", results)

        # Updates wait while the webhook URL refuses connections, and getUpdates takes them
        # after deleteWebhook.
        receiver.stop()
        kept = fake.push_message(chat, "kept")["update_id"]
        fake.wait_for(lambda api: any(item.update_id == kept and item.attempt >= 2
                                      for item in api.webhook_deliveries()), 5)
        refused = [item for item in fake.webhook_deliveries() if item.update_id == kept]
        check(len(refused) >= 2 and all(item.status == 0 and item.error for item in refused),
              "a refused connection is recorded and repeated",
              [(item.status, item.error) for item in refused])
        status, body = call(connection, "getWebhookInfo", {})
        check(body["result"].get("pending_update_count") == 1,
              "getWebhookInfo counts the waiting update", body)
        call(connection, "deleteWebhook", {})
        status, body = call(connection, "getUpdates", {"timeout": 0})
        check(status == 200 and [item["update_id"] for item in body["result"]] == [kept],
              "getUpdates takes an update kept after deleteWebhook", body)
        call(connection, "setWebhook", {"url": url, "drop_pending_updates": True})
        check(fake.pending_update_ids() == [] and fake.webhook()["secret_token"] == "",
              "setWebhook with drop_pending_updates drops the updates",
              fake.pending_update_ids())
        status, body = call(connection, "setWebhook", {"url": ""})
        check(status == 200 and fake.webhook() is None, "setWebhook with an empty URL deletes "
              "the webhook", body)
        connection.close()


# ------------------------------------------------------------------------------------------
# Command line

def _serve(args: argparse.Namespace) -> int:
    token = os.environ.get("TELEGRAM_BOT_TOKEN", "")
    if args.token_file:
        with open(args.token_file, encoding="utf-8") as token_file:
            token = token_file.read().strip()
    if not token:
        token = "123456:TEST-token"
    fake = FakeBotApi(token, username=args.username, port=args.port, verbose=args.verbose)
    fake.start()
    print(f"fake Bot API listening on {fake.url} for bot @{args.username}", flush=True)
    if args.interactive:
        print(f"each line you type is a message from private chat {args.chat_id}; "
              "replies are printed as visible text", flush=True)
    stop = threading.Event()

    def print_replies() -> None:
        printed = 0
        while not stop.is_set():
            fake.wait_for(lambda api: len(api.sent_messages()) > printed, 0.5)
            messages = fake.sent_messages()
            for message in messages[printed:]:
                print(f"--- reply in chat {message.chat_id}:\n{message.text}\n", flush=True)
            printed = len(messages)
            for record in fake.requests():
                if record.status >= 400 and not getattr(record, "_printed", False):
                    record._printed = True  # type: ignore[attr-defined]
                    print(f"--- {record.method} failed: {record.response}", flush=True)

    printer = threading.Thread(target=print_replies, daemon=True)
    printer.start()
    chat = private_chat(args.chat_id, "Console")
    try:
        if args.interactive:
            for line in sys.stdin:
                fake.push_message(chat, line.rstrip("\n"))
            time.sleep(1.0)
        else:
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        fake.stop()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any)")
    parser.add_argument("--token-file", help="file with the bot token (default: env "
                        "TELEGRAM_BOT_TOKEN, else 123456:TEST-token)")
    parser.add_argument("--username", default="tgsearch_test_bot", help="bot username")
    parser.add_argument("--interactive", action="store_true",
                        help="turn each stdin line into a private message and print replies")
    parser.add_argument("--chat-id", type=int, default=5000000001,
                        help="private chat id used by --interactive")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    parser.add_argument("--self-test", action="store_true", help="test the fake and exit")
    args = parser.parse_args()
    if args.self_test:
        return _self_test()
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
