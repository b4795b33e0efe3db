#!/usr/bin/env python3
"""End-to-end test of tgsearch's console chat (stdin queries, plain-text replies on stdout).

1. `--console --corpus bot_corpus.jsonl`: each query alone, then all of them in one run. The
   combined stdout must be the single replies joined by blank lines, in input order, so every
   line gets exactly one reply. Known queries list the right document first. Replies are
   plain text: no tags, entities decoded, links as "title (url)".
2. No --corpus and no token: the sample corpus embedded in the binary returns
   for "nginx reverse proxy" an nginx package among the first three results.
3. A JSONL corpus with a malformed line: stderr names the file and line, and the good
   records are still searchable.
4. --console with TELEGRAM_BOT_TOKEN set: no request reaches the Bot API and the token is
   not printed.
5. CSV, a folder of .txt/.md files, a Telegram export folder and JSONL in one run: each is
   searchable, export links use --channel-username, and stderr has a per-source summary and
   no progress line (stderr is not a terminal).
6. An unknown CSV column, an invalid channel username, a folder given as JSONL and one
   --channel-username for the exports of two channels each end
   the start-up with exit code 1 and a message naming the problem.
7. A truncated gzip file and a .gz file that is not gzip next to a good corpus: start-up
   goes on with the good corpus and the records before the cut, and stderr names each
   damaged file with the fix. With only damaged files and nothing before the damage, start-up
   ends with exit code 1.
8. Two CSV files with different headers load together when one sets its columns after '#'.

Usage: test_console_chat.py --binary build/app/tgsearch --fixtures tests/fixtures
Prints one line per failed check and a final "N passed, N failed"; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
import tempfile
import traceback
from pathlib import Path

# Importing the sibling modules must not leave __pycache__ in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_bot_api import FakeBotApi  # noqa: E402
from test_telegram_bot import (ENTITY_STRINGS, TOKEN, BinaryProcess, Checks,  # noqa: E402
                               Corpus, Deadline, child_env, describe_exit, start_watchdog)

OVERALL_DEADLINE_SECONDS = 120
PROCESS_TIMEOUT_SECONDS = 20
SAMPLE_CORPUS = Path(__file__).resolve().parents[2] / "app" / "sample" / "sample_corpus.jsonl.gz"

# (query, ids of which one must be listed first; empty when not checked)
CONSOLE_QUERIES: list[tuple[str, list[str]]] = [
    ("nginx reverse proxy", ["debian:en:nginx"]),
    ("", []),
    ('<b>x</b> & "q"', []),
    ("الحمد لله رب العالمين", ["quran:1:2"]),
    ("qwxzvplorth zzyzx", []),
    ("Spectre & Meltdown", ["debian:en:spectre-meltdown-checker"]),
    ("<chrono> calendars timezones", ["debian:en:libdate-tz3"]),
    ("HTML5 audio video player", ["debian:en:libjs-mediaelement"]),
    ("командная оболочка zsh", ["debian:ru:zsh"]),
    ("😂", ["cldr:en:1F602", "cldr:ar:1F602", "cldr:ru:1F602"]),
]
NO_RESULT_QUERY = "qwxzvplorth zzyzx"
TAG_RE = re.compile(r"</?(?:b|strong|i|em|u|ins|s|strike|del|a|code|pre|blockquote|span|"
                    r"tg-spoiler|tg-emoji)(?:\s[^>]*)?>", re.IGNORECASE)


def run_console(binary: Path, args: list[str], stdin_text: str, workdir: Path, name: str,
                checks: Checks, deadline: Deadline, token: str | None = None
                ) -> BinaryProcess | None:
    """Run the binary to the end of its input; return it, or None when it timed out."""
    process = BinaryProcess([str(binary)] + args, child_env(token), workdir, name,
                            stdin_text=stdin_text)
    try:
        exit_code = process.wait(deadline.bound(PROCESS_TIMEOUT_SECONDS))
        if not checks.check(exit_code == 0, f"{name}: exits 0 at the end of input",
                            f"{describe_exit(exit_code)};{process.stderr_tail()}"):
            return None
        return process
    finally:
        process.kill()


def normalize_output(stdout: str) -> str:
    return stdout.strip("\n")


def check_fixture_queries(binary: Path, fixtures: Path, workdir: Path, checks: Checks,
                          deadline: Deadline) -> None:
    print("== console chat over the fixture corpus", flush=True)
    corpus = Corpus.load(fixtures / "bot_corpus.jsonl")
    corpus_args = ["--console", "--corpus", str(fixtures / "bot_corpus.jsonl")]

    singles: list[str | None] = []
    for index, (query, expected) in enumerate(CONSOLE_QUERIES):
        process = run_console(binary, corpus_args, query + "\n", workdir, f"query{index}",
                              checks, deadline)
        if process is None:
            singles.append(None)
            continue
        reply = normalize_output(process.stdout())
        singles.append(reply)
        checks.check(bool(reply.strip()), f"query {query!r} gets a non-empty reply",
                     process.stderr_tail())
        if expected:
            first = corpus.first_result(reply)
            checks.check(first in expected, f"query {query!r} lists {expected[0]} first",
                         f"first result is {corpus.describe(first)}; reply {reply[:200]!r}")
        if "<" not in query:
            checks.check(not TAG_RE.search(reply), f"reply to {query!r} has no HTML tags",
                         TAG_RE.findall(reply)[:5])
        leftover = [entity for entity in ENTITY_STRINGS if entity in reply]
        checks.check(not leftover, f"reply to {query!r} has its HTML entities decoded",
                     leftover)

    by_query = dict(zip([query for query, _ in CONSOLE_QUERIES], singles))
    nginx_reply = by_query["nginx reverse proxy"]
    if nginx_reply is not None:
        nginx = corpus.docs["debian:en:nginx"]
        checks.check(f"({nginx['url']})" in nginx_reply,
                     "links are written as \"title (url)\"", nginx_reply[:200])
    for query, literal in (("Spectre & Meltdown", "Spectre & Meltdown"),
                           ("<chrono> calendars timezones", "<chrono>"),
                           ("HTML5 audio video player", "<audio> or <video>")):
        reply = by_query[query]
        if reply is not None:
            checks.check(literal in reply, f"reply to {query!r} shows {literal!r} as typed",
                         reply[:200])
    no_result = by_query[NO_RESULT_QUERY]
    if no_result is not None:
        listed = corpus.title_positions(no_result)
        checks.check(not listed, "a query without matches lists no document",
                     [doc_id for _, doc_id in listed])

    stdin_text = "".join(query + "\n" for query, _ in CONSOLE_QUERIES)
    process = run_console(binary, corpus_args, stdin_text, workdir, "all_queries", checks,
                          deadline)
    if process is not None and None not in singles:
        combined = normalize_output(process.stdout())
        expected_output = "\n\n".join(reply for reply in singles if reply is not None)
        detail = ""
        if combined != expected_output:
            position = next((i for i, (a, b) in enumerate(zip(combined, expected_output))
                             if a != b), min(len(combined), len(expected_output)))
            detail = (f"outputs differ at character {position}: got "
                      f"{combined[max(0, position - 60):position + 60]!r}, expected "
                      f"{expected_output[max(0, position - 60):position + 60]!r}")
        checks.check(combined == expected_output, "one reply per input line, in input order, "
                     "separated by blank lines", detail)


def sample_result_names(stdout: str) -> list[str]:
    """Return the first results of a reply over the embedded sample corpus, best first.

    Titles come from app/sample/sample_corpus.jsonl.gz when it contains documents, else from
    lines shaped like Debian package titles ("name — description").
    """
    if SAMPLE_CORPUS.is_file():
        try:
            sample = Corpus.load(SAMPLE_CORPUS)
        except (OSError, EOFError, ValueError):
            sample = Corpus([])
        if sample.docs:
            ordered = []
            for _, doc_id in sample.title_positions(stdout):
                if doc_id not in ordered:
                    ordered.append(doc_id)
            return [sample.docs[doc_id]["title"] for doc_id in ordered]
    return re.findall(r"^\W*(?:\d+[.)]\s*)?([a-z0-9][a-z0-9.+-]*) — ", stdout, re.MULTILINE)


def check_embedded_sample(binary: Path, workdir: Path, checks: Checks,
                          deadline: Deadline) -> None:
    print("== console chat over the embedded sample corpus", flush=True)
    process = run_console(binary, [], "nginx reverse proxy\n", workdir, "embedded_sample",
                          checks, deadline)
    if process is None:
        return
    names = sample_result_names(process.stdout())
    checks.check(any(name.startswith("nginx") for name in names[:3]),
                 "the embedded sample corpus lists an nginx package among the first 3 "
                 "results for \"nginx reverse proxy\"",
                 f"first results {names[:3]}; stdout {process.stdout()[:300]!r}")


def check_malformed_corpus(binary: Path, workdir: Path, checks: Checks,
                           deadline: Deadline) -> None:
    print("== console chat over a corpus with a malformed line", flush=True)
    corpus_path = workdir / "malformed_corpus.jsonl"
    good_first = {"id": "test:alpha", "title": "alpha — zebrafish migration tracker",
                  "text": "Records zebrafish migration routes.", "url": None}
    good_second = {"id": "test:omega", "title": "omega — quokka habitat survey",
                   "text": "Counts quokkas in their habitat.", "url": "https://example.org/omega"}
    lines = [json.dumps(good_first), '{"id": "test:broken", "title": "broken", "text": ',
             json.dumps(good_second)]
    corpus_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    process = run_console(binary, ["--console", "--corpus", str(corpus_path)],
                          "zebrafish migration\nquokka habitat\n", workdir, "malformed_corpus",
                          checks, deadline)
    if process is None:
        return
    stderr = process.stderr()
    naming_lines = [line for line in stderr.splitlines() if corpus_path.name in line
                    and re.search(r"(:2(?!\d)|line 2(?!\d))", line)]
    checks.check(bool(naming_lines), "stderr names the malformed file and line 2",
                 process.stderr_tail())
    stdout = process.stdout()
    checks.check(good_first["title"] in stdout, "the record before the bad line is loaded",
                 stdout[:300])
    checks.check(good_second["title"] in stdout, "the record after the bad line is loaded",
                 stdout[:300])
    summary = f"loaded 2 documents from {corpus_path} (1 malformed record skipped"
    checks.check(summary in stderr, "the summary counts in the singular where it is one",
                 process.stderr_tail())
    if naming_lines and summary in stderr:
        checks.check(stderr.index(naming_lines[0]) < stderr.index(summary),
                     "the summary follows the source's warnings", process.stderr_tail())


def check_console_ignores_token(binary: Path, fixtures: Path, workdir: Path, checks: Checks,
                                deadline: Deadline) -> None:
    print("== --console with a token in the environment", flush=True)
    with FakeBotApi(TOKEN) as fake:
        process = run_console(binary, ["--console", "--corpus",
                                       str(fixtures / "bot_corpus.jsonl"),
                                       "--api-url", fake.url],
                              "nginx reverse proxy\n", workdir, "console_with_token", checks,
                              deadline, token=TOKEN)
        checks.check(not fake.requests(), "--console makes no Bot API request",
                     [record.method for record in fake.requests()])
    if process is None:
        return
    checks.check("nginx" in process.stdout(), "--console answers from stdin with a token set",
                 process.stdout()[:200])
    secret = TOKEN.split(":")[1]
    leaked = [name for name, text in (("stdout", process.stdout()),
                                      ("stderr", process.stderr())) if secret in text]
    checks.check(not leaked, "the token is not printed in console mode", leaked)


def check_mixed_formats(binary: Path, fixtures: Path, workdir: Path, checks: Checks,
                        deadline: Deadline) -> None:
    print("== console chat over CSV, a text folder, an export folder and JSONL at once",
          flush=True)
    csv_path = fixtures / "corpus" / "articles.csv"
    notes = fixtures / "loaders" / "notes"
    export_folder = fixtures / "loaders" / "channel_export"
    args = ["--console", "--corpus", str(csv_path), "--corpus", str(notes),
            "--corpus", str(export_folder), "--corpus", str(fixtures / "corpus" / "records.jsonl"),
            "--channel-username", "@release_notes"]
    process = run_console(binary, args, "Comma inside\nDeep heading\nfolder loading\n",
                          workdir, "mixed_formats", checks, deadline)
    if process is None:
        return
    stdout = process.stdout()
    checks.check("Comma, inside (https://example.org/a2)" in stdout,
                 "a CSV row with a quoted comma is found with its link", stdout[:300])
    checks.check("Deep heading" in stdout, "a Markdown file of the text folder is found",
                 stdout[:300])
    checks.check("https://t.me/release_notes/5" in stdout,
                 "an export folder's post links to t.me/<username>/<id>", stdout[:600])
    stderr = process.stderr()
    for source, loaded in ((csv_path, 5), (notes, 3), (export_folder, 2)):
        checks.check(f"loaded {loaded} documents from {source} " in stderr,
                     f"the summary counts {loaded} documents from {source.name}",
                     process.stderr_tail())
    checks.check("loaded 17 documents from 4 sources" in stderr,
                 "the summary adds up every source", process.stderr_tail())
    checks.check(re.search(r"latin1\.txt:2: file is not valid UTF-8", stderr) is not None,
                 "the summary names the non-UTF-8 file and its line", process.stderr_tail())
    checks.check("\r" not in stderr and "\x1b[" not in stderr,
                 "no progress line is drawn when stderr is not a terminal",
                 repr(stderr[:200]))


def check_corpus_option_errors(binary: Path, fixtures: Path, workdir: Path, checks: Checks,
                               deadline: Deadline) -> None:
    print("== corpus options with invalid values", flush=True)
    csv_path = str(fixtures / "corpus" / "articles.csv")
    # A second channel: the fixture export with another chat id. One username cannot name both.
    export_path = fixtures / "loaders" / "channel_export" / "result.json"
    other_channel = workdir / "other_channel.json"
    other = json.loads(export_path.read_text(encoding="utf-8"))
    other["id"] = 999111
    other_channel.write_text(json.dumps(other, ensure_ascii=False), encoding="utf-8")
    cases = [
        ("unknown_column", ["--corpus", csv_path, "--text-column", "summary"],
         ['text column "summary" not found', '"id", "Title", "Body", "URL", "tags"',
          f"--corpus {csv_path}#text=COLUMN"]),
        ("unknown_source_option", ["--corpus", csv_path + "#text=Body;colour=red"],
         ['invalid option "colour=red"']),
        ("bad_username", ["--corpus", csv_path, "--channel-username", "1abc"],
         ['invalid channel username "1abc"']),
        ("file_format_on_folder", ["--corpus", str(fixtures / "loaders" / "notes"),
                                   "--format", "jsonl"],
         ["it is a directory"]),
        ("username_for_two_channels", ["--corpus", str(export_path), "--corpus",
                                       str(other_channel), "--channel-username", "release_notes"],
         ["--channel-username release_notes names one channel", "chat 999111"]),
    ]
    for name, args, expected in cases:
        process = BinaryProcess([str(binary), "--console"] + args, child_env(None), workdir,
                                name, stdin_text="")
        try:
            exit_code = process.wait(deadline.bound(PROCESS_TIMEOUT_SECONDS))
        finally:
            process.kill()
        checks.check(exit_code == 1, f"{name}: exits 1 at start-up", describe_exit(exit_code))
        stderr = process.stderr()
        for text in expected:
            checks.check(text in stderr, f"{name}: stderr says {text!r}",
                         process.stderr_tail())


def gzip_bytes(text: str) -> bytes:
    return gzip.compress(text.encode("utf-8"), mtime=0)


def check_damaged_sources(binary: Path, fixtures: Path, workdir: Path, checks: Checks,
                          deadline: Deadline) -> None:
    print("== console chat with damaged corpus files among good ones", flush=True)
    records = [{"id": f"cut:{i}", "title": f"wallaby {i}", "text": f"wallaby number {i} "
                + "filler words to make the file long enough " * 5} for i in range(400)]
    whole = gzip_bytes("".join(json.dumps(record) + "\n" for record in records))
    truncated = workdir / "truncated.jsonl.gz"
    truncated.write_bytes(whole[: len(whole) * 3 // 4])
    not_gzip = workdir / "plain.jsonl.gz"
    not_gzip.write_text('{"id": "p1", "text": "not compressed"}\n', encoding="utf-8")
    good = fixtures / "corpus" / "records.jsonl"
    process = run_console(binary, ["--console", "--corpus", str(good), "--corpus", str(truncated),
                                   "--corpus", str(not_gzip)],
                          "wallaby number 1\n", workdir, "damaged_sources", checks, deadline)
    if process is not None:
        stderr = process.stderr()
        checks.check(f"{truncated} is damaged: the gzip data is truncated" in stderr,
                     "stderr names the truncated file and its damage", process.stderr_tail())
        checks.check("gzip -t" in stderr, "stderr says how to check the file",
                     process.stderr_tail())
        checks.check(f"{not_gzip} is damaged: its name ends in .gz, but it is not gzip data"
                     in stderr, "stderr names the .gz file that is not gzip",
                     process.stderr_tail())
        loaded = re.search(rf"loaded (\d+) documents? from {re.escape(str(truncated))} ", stderr)
        checks.check(loaded is not None and 0 < int(loaded.group(1)) < len(records),
                     "the records before the cut are loaded", process.stderr_tail())
        checks.check("wallaby 1" in process.stdout(), "a record before the cut is found",
                     process.stdout()[:300])

    only_damaged = BinaryProcess([str(binary), "--console", "--corpus", str(not_gzip)],
                                 child_env(None), workdir, "only_damaged", stdin_text="")
    try:
        exit_code = only_damaged.wait(deadline.bound(PROCESS_TIMEOUT_SECONDS))
    finally:
        only_damaged.kill()
    checks.check(exit_code == 1, "only damaged files: exits 1 at start-up",
                 describe_exit(exit_code))
    checks.check("no documents to search" in only_damaged.stderr(),
                 "only damaged files: stderr says no documents are left",
                 only_damaged.stderr_tail())


def check_per_source_columns(binary: Path, fixtures: Path, workdir: Path, checks: Checks,
                             deadline: Deadline) -> None:
    print("== console chat over two CSV files with different headers", flush=True)
    faq = workdir / "faq.csv"
    faq.write_text("qid,q,a,link\n"
                   "1,How do I feed a numbat?,Termites only,https://example.org/numbat\n",
                   encoding="utf-8")
    articles = fixtures / "corpus" / "articles.csv"
    args = ["--console", "--corpus", f"{faq}#text=q,a;title=q;id=qid;url=link",
            "--corpus", str(articles)]
    process = run_console(binary, args, "numbat termites\nComma inside\n", workdir,
                          "per_source_columns", checks, deadline)
    if process is None:
        return
    stdout = process.stdout()
    checks.check("How do I feed a numbat? (https://example.org/numbat)" in stdout,
                 "the CSV with its own columns is found with its title and link", stdout[:400])
    checks.check("Comma, inside" in stdout, "the CSV with the default columns is found",
                 stdout[:400])
    checks.check(f"loaded 1 document from {faq} " in process.stderr(),
                 "the summary names the path without its options", process.stderr_tail())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True, type=Path, help="path to tgsearch")
    parser.add_argument("--fixtures", required=True, type=Path,
                        help="the tests/fixtures directory")
    args = parser.parse_args()
    # The binary runs in a temporary directory, so relative paths must be resolved first.
    binary = args.binary.resolve()
    fixtures = args.fixtures.resolve()

    checks = Checks()
    deadline = Deadline(OVERALL_DEADLINE_SECONDS - 5)
    watchdog = start_watchdog(checks, OVERALL_DEADLINE_SECONDS)
    try:
        if not checks.check(binary.is_file() and os.access(binary, os.X_OK),
                            "the binary exists and is executable", str(binary)):
            return checks.summary()
        with tempfile.TemporaryDirectory(prefix="tgsearch-console-test-") as temp:
            workdir = Path(temp)
            check_fixture_queries(binary, fixtures, workdir, checks, deadline)
            check_embedded_sample(binary, workdir, checks, deadline)
            check_malformed_corpus(binary, workdir, checks, deadline)
            check_console_ignores_token(binary, fixtures, workdir, checks, deadline)
            check_mixed_formats(binary, fixtures, workdir, checks, deadline)
            check_corpus_option_errors(binary, fixtures, workdir, checks, deadline)
            check_damaged_sources(binary, fixtures, workdir, checks, deadline)
            check_per_source_columns(binary, fixtures, workdir, checks, deadline)
    except Exception as error:  # an error in the test itself still ends with the summary
        traceback.print_exc()
        checks.check(False, "the test runs without an internal error", repr(error))
    finally:
        for process in BinaryProcess.running:
            process.kill()
        watchdog.cancel()
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
