#!/usr/bin/env python3
"""A search bot in the classic Python design, the second peer of tgsearch in the benchmark.

One process long-polls getUpdates with aiohttp and pushes each update to a Redis list. It
confirms the updates (moves the offset past them) as soon as they are in Redis. WORKERS
processes pop updates with BRPOP, search an SQLite FTS5 table and reply over HTTP with
aiohttp. Each runs CONSUMERS pops at a time, so that one reply in flight does not idle it. The replies have the same shape as tgsearch's: the query in bold, then the top 5
titles with a snippet. A 429 response is retried after its retry_after.

The bot starts its own redis-server on 127.0.0.1 at a free port, without persistence, and
stops it and the workers by their process ids when it gets SIGTERM or SIGINT.

Usage: bot.py --api-url URL --token-file FILE --db corpus.sqlite [--workers N] [--consumers N]
Needs Debian's python3-aiohttp, python3-redis and redis-server, so run it with /usr/bin/python3.
"""

import argparse
import asyncio
import html
import json
import multiprocessing
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import aiohttp
import redis
import redis.asyncio

QUEUE_KEY = "updates"
RESULTS_PER_REPLY = 5
MAX_INLINE_RESULTS = 50
POLL_TIMEOUT_SECONDS = 30
MAX_SEND_ATTEMPTS = 5

# FTS5 snippets mark matches with these control characters, which corpus text never contains,
# so that the text can be escaped before the marks become <b> tags.
MATCH_START = "\x02"
MATCH_END = "\x03"
WORD = re.compile(r"\w+")


def fts_queries(text, prefix_last):
    """Return FTS5 queries for every word (AND) and any word (OR), or None without words."""
    words = WORD.findall(text.lower())
    if not words:
        return None
    terms = [f'"{word}"' for word in words]
    if prefix_last:
        terms[-1] += "*"
    return " ".join(terms), " OR ".join(terms)


class Searcher:
    def __init__(self, path):
        self.database = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        self.sql = (f"SELECT title, url, snippet(docs, 1, '{MATCH_START}', '{MATCH_END}', '…', 24) "
                    "FROM docs WHERE docs MATCH ? ORDER BY bm25(docs, 3.0, 1.0) LIMIT ?")

    def search(self, text, limit, prefix_last=False):
        queries = fts_queries(text, prefix_last)
        if queries is None:
            return []
        every_word, any_word = queries
        hits = self.database.execute(self.sql, (every_word, limit)).fetchall()
        if not hits:
            hits = self.database.execute(self.sql, (any_word, limit)).fetchall()
        return hits


def snippet_html(snippet):
    return html.escape(snippet or "", quote=False).replace(MATCH_START, "<b>").replace(MATCH_END,
                                                                                     "</b>")


def title_html(title, url):
    title = html.escape(title or "untitled", quote=False)
    return f'<a href="{html.escape(url)}">{title}</a>' if url else f"<b>{title}</b>"


def render_reply(query, hits):
    if not hits:
        return f"Nothing found for <b>{html.escape(query, quote=False)}</b>. Try other or fewer words."
    entries = [f"{rank}. {title_html(title, url)}\n{snippet_html(snippet)}"
               for rank, (title, url, snippet) in enumerate(hits, 1)]
    return f"🔎 <b>{html.escape(query, quote=False)}</b>\n\n" + "\n\n".join(entries)


def inline_articles(hits):
    return [{
        "type": "article",
        "id": str(rank),
        "title": title or "untitled",
        "description": (snippet or "").replace(MATCH_START, "").replace(MATCH_END, ""),
        "input_message_content": {
            "message_text": f"{title_html(title, url)}\n{snippet_html(snippet)}",
            "parse_mode": "HTML",
        },
    } for rank, (title, url, snippet) in enumerate(hits)]


async def call(session, base, method, payload):
    """POST one Bot API call; wait out 429s. Returns the decoded response."""
    for _ in range(MAX_SEND_ATTEMPTS):
        async with session.post(f"{base}/{method}", json=payload) as response:
            body = await response.json(content_type=None)
        if response.status != 429:
            return body
        await asyncio.sleep(body.get("parameters", {}).get("retry_after", 1))
    return body


async def handle(update, searcher, session, base):
    if "message" in update and "text" in update["message"]:
        message = update["message"]
        hits = searcher.search(message["text"], RESULTS_PER_REPLY)
        await call(session, base, "sendMessage", {
            "chat_id": message["chat"]["id"],
            "text": render_reply(message["text"], hits),
            "parse_mode": "HTML",
            "reply_parameters": {"message_id": message["message_id"],
                                 "allow_sending_without_reply": True},
            "link_preview_options": {"is_disabled": True},
        })
    elif "inline_query" in update:
        query = update["inline_query"]
        hits = searcher.search(query["query"], MAX_INLINE_RESULTS, prefix_last=True)
        await call(session, base, "answerInlineQuery", {
            "inline_query_id": query["id"], "results": inline_articles(hits), "cache_time": 0})


async def consume(queue, searcher, session, base):
    while True:
        _, raw = await queue.brpop(QUEUE_KEY)
        update = json.loads(raw)
        try:
            await handle(update, searcher, session, base)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, KeyError) as error:
            print(f"update {update.get('update_id')} failed: {error!r}", file=sys.stderr)


async def worker_main(base, redis_port, db_path, consumers):
    searcher = Searcher(db_path)
    queue = redis.asyncio.Redis(host="127.0.0.1", port=redis_port)
    connector = aiohttp.TCPConnector(limit=consumers)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(consume(queue, searcher, session, base) for _ in range(consumers)))


def run_worker(base, redis_port, db_path, consumers):
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    asyncio.run(worker_main(base, redis_port, db_path, consumers))


async def poll(base, redis_port):
    queue = redis.asyncio.Redis(host="127.0.0.1", port=redis_port)
    timeout = aiohttp.ClientTimeout(total=POLL_TIMEOUT_SECONDS + 10)
    offset = 0
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await call(session, base, "getMe", {})
        while True:
            try:
                body = await call(session, base, "getUpdates", {
                    "offset": offset, "timeout": POLL_TIMEOUT_SECONDS, "limit": 100,
                    "allowed_updates": ["message", "inline_query"]})
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                print(f"getUpdates failed: {error!r}; retrying in 1 s", file=sys.stderr)
                await asyncio.sleep(1)
                continue
            updates = body.get("result") or []
            if updates:
                await queue.lpush(QUEUE_KEY, *(json.dumps(update) for update in updates))
                offset = updates[-1]["update_id"] + 1


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis():
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
         "--appendonly", "no", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return server, port
        except redis.ConnectionError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                sys.exit(f"error: redis-server did not start on port {port}")
            time.sleep(0.05)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-url", required=True, help="Bot API base URL")
    parser.add_argument("--token-file", required=True, help="file with the bot token")
    parser.add_argument("--db", required=True, help="SQLite database made by prepare.py")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="worker processes (default: one per core)")
    parser.add_argument("--consumers", type=int, default=4,
                        help="updates each worker handles at once (default: 4)")
    args = parser.parse_args()
    with open(args.token_file, encoding="utf-8") as token_file:
        token = token_file.read().strip()
    base = f"{args.api_url.rstrip('/')}/bot{token}"

    redis_server, redis_port = start_redis()
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=run_worker,
                               args=(base, redis_port, args.db, args.consumers))
               for _ in range(args.workers)]
    for worker in workers:
        worker.start()

    def stop(*_):
        for worker in workers:
            os.kill(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.join(5)
        redis_server.terminate()
        redis_server.wait(5)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        asyncio.run(poll(base, redis_port))
    finally:
        stop()


if __name__ == "__main__":
    main()
