#!/usr/bin/env python3
"""End-to-end test of the config file, the TGSEARCH_* environment variables and
`tgsearch check-config`, against the fake Bot API server.

1. check-config on a valid file, with one value from the environment and one from a flag, exits
   0 and prints every setting with its source: config file line N, environment variable, flag or
   default. It prints the token as "<bot id>:****" and masks the Redis password. It makes no
   Bot API call and reads no corpus.
2. check-config on invalid files exits 2, and each error names the file, the line, the key and
   the value. The values are a quoted integer, an unknown key with a near miss, a value out of
   range, an unknown duration unit, a bad list item and a duplicate key. The files that do not
   exist are an index file, a corpus file and a token file. The last cases are listen without
   webhook-url, a TLS Redis URL, URLs with passwords, the token in other settings, durations
   above their maximum, and one address for listen and metrics. Neither the token nor a
   password is printed.
3. Warnings: an unknown TGSEARCH_* variable and a token file that other users may read are
   reported, and check-config still exits 0.
4. A server started with --config and TGSEARCH_* variables serves the fake Bot API: page-size
   from the file shows in the reply (3 results and a ▶ button), poll-timeout from the
   environment overrides the file's in getUpdates, and --api-url on the command line overrides
   the file's unreachable URL. The bot exits 0 on SIGTERM.
5. A server with an invalid config file exits 1 before any Bot API call, naming the key, and
   masks the token and passwords that other settings contain.
6. `tgsearch index --config FILE` takes the corpus and the output file from the config file.
7. A server whose stderr is a pipe with no reader keeps serving, because it ignores SIGPIPE.

Usage: test_config.py --binary build/app/tgsearch
Prints one line per failed check and a final "N passed, N failed"; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

# Importing the sibling modules must not leave __pycache__ in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_bot_api import FakeBotApi, private_chat  # noqa: E402
from harness import (BOT_USERNAME, TOKEN, BinaryProcess, Checks, Deadline,  # noqa: E402
                     child_env, describe_exit, start_watchdog)

OVERALL_DEADLINE_SECONDS = 100
PROCESS_TIMEOUT_SECONDS = 20
TOKEN_SECRET = TOKEN.split(":")[1]
MASKED_TOKEN = TOKEN.split(":")[0] + ":****"
REDIS_PASSWORD = "redis-pass-1234"
WEBHOOK_PASSWORD = "webhook-pass-5678"
PAGED_DOCS = 8  # "quasar" matches all of them, so page-size 3 gives pages of 3, 3 and 2


def write_corpus(path: Path) -> None:
    with open(path, "w", encoding="utf-8") as corpus:
        for i in range(PAGED_DOCS):
            corpus.write(json.dumps({"id": f"quasar:{i}", "title": f"Quasar entry {i}",
                                     "text": f"quasar observed with redshift {i}"}) + "\n")


def write_private(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)
    return path


def line_of(text: str, key: str) -> int:
    """Return the 1-based line of `key = ...` in a TOML text."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith(f"{key} ="):
            return number
    raise ValueError(f"{key} is not in the config text")


def run_binary(binary: Path, args: list[str], env: dict[str, str], workdir: Path, name: str,
               deadline: Deadline) -> tuple[int | None, str, str]:
    """Run the binary to its end and return its exit code, stdout and stderr."""
    process = BinaryProcess([str(binary), *args], env, workdir, name)
    exit_code = process.wait(deadline.bound(PROCESS_TIMEOUT_SECONDS))
    if exit_code is None:
        process.kill()
    return exit_code, process.stdout(), process.stderr()


def unused_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def setting_line(stdout: str, key: str) -> str:
    """Return the check-config line of `key`, or an empty string."""
    return next((line for line in stdout.splitlines() if line.startswith(f"{key} = ")), "")


def check_no_secrets(output: str, name: str, checks: Checks) -> None:
    checks.check(TOKEN_SECRET not in output, f"{name}: the token is not printed",
                 "the token's secret is in the output")
    checks.check(REDIS_PASSWORD not in output, f"{name}: the Redis password is not printed",
                 "the Redis password is in the output")
    checks.check(WEBHOOK_PASSWORD not in output,
                 f"{name}: the webhook URL password is not printed",
                 "the webhook URL password is in the output")


# ------------------------------------------------------------------------------------------
# Run 1: check-config on a valid file

def run_valid_check(binary: Path, fake: FakeBotApi, workdir: Path, corpus: Path,
                    token_file: Path, checks: Checks, deadline: Deadline) -> None:
    print("== run 1: check-config on a valid file", flush=True)
    config_text = (
        "# tgsearch test config\n"
        f"corpus = [\"{corpus}\"]\n"
        f"token-file = \"{token_file}\"\n"
        f"api-url = \"{fake.url}\"\n"
        "page-size = 3\n"
        "poll-timeout = 40\n"
        "page-expiry = \"30m\"\n"
        f"redis = \"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/2\"\n"
        "admins = [1001, 1002]\n")
    config = write_private(workdir / "valid.toml", config_text)
    env = child_env(None)
    env["TGSEARCH_POLL_TIMEOUT"] = "2"
    requests_before = len(fake.requests())
    exit_code, stdout, stderr = run_binary(
        binary, ["check-config", "--config", str(config), "--workers", "2"], env, workdir,
        "check-valid", deadline)
    checks.check(exit_code == 0, "valid: check-config exits 0",
                 f"{describe_exit(exit_code)}; stderr: {stderr[-800:]}")
    expected = {
        "page-size": ("page-size = 3", f"# config file line {line_of(config_text, 'page-size')}"),
        "poll-timeout": ("poll-timeout = 2", "# environment TGSEARCH_POLL_TIMEOUT"),
        "workers": ("workers = 2", "# flag --workers"),
        "shutdown-timeout": ("shutdown-timeout = 10", "# default"),
        "page-expiry": ("page-expiry = \"30m\"", "# config file line"),
        "admins": ("admins = [1001, 1002]", "# config file line"),
        "redis": ("redis = \"redis://:****@127.0.0.1:6379/2\"", "# config file line"),
    }
    for key, parts in expected.items():
        line = setting_line(stdout, key)
        checks.check(all(part in line for part in parts),
                     f"valid: {key} is shown with its source", line or stdout[-1500:])
    checks.check(f"token = \"{MASKED_TOKEN}\"" in stdout and f"token file {token_file}" in stdout,
                 "valid: the token is shown as its bot id and the file it came from",
                 stdout[-600:])
    checks.check(str(config) in stdout, "valid: the config file is named", stdout[:300])
    check_no_secrets(stdout + stderr, "valid", checks)
    checks.check(len(fake.requests()) == requests_before,
                 "valid: check-config makes no Bot API call",
                 [record.method for record in fake.requests()[requests_before:]])
    checks.check("loaded" not in stderr and "indexed" not in stderr,
                 "valid: check-config reads no corpus", stderr[-500:])

    # The token from the environment, with no token file: also masked.
    env = child_env(TOKEN)
    exit_code, stdout, stderr = run_binary(
        binary, ["check-config", "--corpus", str(corpus)], env, workdir, "check-env-token",
        deadline)
    checks.check(exit_code == 0 and f"token = \"{MASKED_TOKEN}\"" in stdout
                 and "TELEGRAM_BOT_TOKEN" in stdout,
                 "valid: a token from TELEGRAM_BOT_TOKEN is shown as its bot id",
                 f"{describe_exit(exit_code)}; {stdout[-400:]}")
    check_no_secrets(stdout + stderr, "valid with TELEGRAM_BOT_TOKEN", checks)


# ------------------------------------------------------------------------------------------
# Run 2: check-config on invalid files

def run_invalid_checks(binary: Path, workdir: Path, corpus: Path, token_file: Path,
                       checks: Checks, deadline: Deadline) -> None:
    print("== run 2: check-config on invalid files", flush=True)
    base = f"corpus = [\"{corpus}\"]\ntoken-file = \"{token_file}\"\n"
    # Each case: a name, the line added after `base` (on line 3), and texts the error contains.
    cases = [
        ("quoted integer", "page-size = \"7\"",
         [":3: invalid page-size = \"7\"", "drop the quotes"]),
        ("near-miss key", "poll-timout = 5",
         [":3: unknown key poll-timout", "did you mean poll-timeout?"]),
        ("out of range", "page-size = 50", [":3: invalid page-size = 50", "expected 1 to 20"]),
        ("bad unit", "page-expiry = \"2x\"",
         [":3: invalid page-expiry = \"2x\"", "unknown unit \"x\""]),
        ("bad list item", "admins = [1, \"two\"]",
         [":3: invalid admins = [1, \"two\"]", "item 2"]),
        ("duplicate key", "workers = 1\nworkers = 2", [":4: invalid TOML", "workers"]),
        ("index not found", "index = \"/nonexistent/tgsearch/x.tgs\"",
         [":3: index /nonexistent/tgsearch/x.tgs not found"]),
        ("listen without webhook-url", "listen = \"127.0.0.1:8443\"",
         [":3: listen 127.0.0.1:8443 needs webhook-url"]),
        ("Redis URL", f"redis = \"rediss://:{REDIS_PASSWORD}@127.0.0.1\"",
         [":3: redis:", "rediss://:****@127.0.0.1", "TLS to Redis is not supported"]),
        ("Redis socket password", f"redis = \"unix:///run/r.sock?password={REDIS_PASSWORD}\"",
         [":3: redis:", "password=****"]),
        ("webhook password",
         f"webhook-url = \"https://u:{WEBHOOK_PASSWORD}@x.example/h\"\n"
         "listen = \"127.0.0.1:8443\"",
         [":3: invalid webhook-url", "u:****@x.example"]),
        ("token in unknown key", f"tokn = \"{TOKEN}\"", [":3: unknown key tokn", MASKED_TOKEN]),
        ("token in api-url", f"api-url = \"https://api.telegram.org/bot{TOKEN}\"",
         [":3: api-url contains a bot token"]),
        ("token in channel-username", f"channel-username = \"{TOKEN}\"",
         [":3: channel-username", MASKED_TOKEN]),
        ("token in page-size", f"page-size = \"{TOKEN}\"",
         [":3: invalid page-size", MASKED_TOKEN]),
        ("token in corpus path", f"index = \"/nonexistent/{TOKEN}.tgs\"",
         [f":3: index /nonexistent/{MASKED_TOKEN}.tgs not found"]),
        ("page-expiry too long", "page-expiry = \"106752d\"",
         [":3: invalid page-expiry", "expected 1 s to 365d"]),
        ("shutdown-timeout too long", "shutdown-timeout = 9223372036854775807",
         [":3: invalid shutdown-timeout = 9223372036854775807", "expected 0 to 3600 seconds"]),
        ("listen equal to metrics",
         "webhook-url = \"https://x.example/h\"\nlisten = \"127.0.0.1:8443\"\n"
         "metrics = \"127.0.0.1:8443\"",
         [":5: metrics 127.0.0.1:8443 and listen 127.0.0.1:8443 use the same port"]),
    ]
    for index, (name, line, expected) in enumerate(cases):
        config = write_private(workdir / f"invalid{index}.toml", base + line + "\n")
        exit_code, stdout, stderr = run_binary(
            binary, ["check-config", "--config", str(config)], child_env(TOKEN), workdir,
            f"check-invalid{index}", deadline)
        checks.check(exit_code == 2, f"invalid {name}: check-config exits 2",
                     f"{describe_exit(exit_code)}; {stderr[-500:]}")
        for text in expected:
            checks.check(f"{config}{text}" in stderr if text.startswith(":") else text in stderr,
                         f"invalid {name}: stderr says {text!r}", stderr[-800:])
        check_no_secrets(stdout + stderr, f"invalid {name}", checks)

    missing_corpus = write_private(
        workdir / "missing-corpus.toml",
        f"corpus = [\"/nonexistent/tgsearch/x.jsonl\"]\ntoken-file = \"{token_file}\"\n")
    exit_code, _, stderr = run_binary(binary, ["check-config", "--config", str(missing_corpus)],
                                      child_env(None), workdir, "check-missing-corpus", deadline)
    checks.check(exit_code == 2 and f"{missing_corpus}:1: corpus /nonexistent/tgsearch/x.jsonl "
                 "not found" in stderr,
                 "invalid: a corpus file that does not exist is named with its line",
                 f"{describe_exit(exit_code)}; {stderr[-500:]}")

    missing_token = write_private(
        workdir / "missing-token.toml",
        f"corpus = [\"{corpus}\"]\ntoken-file = \"/nonexistent/tgsearch/token\"\n")
    exit_code, _, stderr = run_binary(binary, ["check-config", "--config", str(missing_token)],
                                      child_env(None), workdir, "check-missing-token", deadline)
    checks.check(exit_code == 2 and f"{missing_token}:2: cannot read token file "
                 "/nonexistent/tgsearch/token" in stderr,
                 "invalid: a token file that does not exist is named with its line",
                 f"{describe_exit(exit_code)}; {stderr[-500:]}")

    token_path = write_private(workdir / "token-path.toml",
                               f"corpus = [\"{corpus}\"]\ntoken-file = \"{TOKEN}\"\n")
    exit_code, stdout, stderr = run_binary(binary, ["check-config", "--config", str(token_path)],
                                           child_env(None), workdir, "check-token-path", deadline)
    checks.check(exit_code == 2 and "relative path" in stderr,
                 "invalid: a token given as the token-file path draws a warning and an error",
                 f"{describe_exit(exit_code)}; {stderr[-500:]}")
    check_no_secrets(stdout + stderr, "invalid token-file path", checks)

    exit_code, stdout, stderr = run_binary(binary, ["check-config", "--page-size", TOKEN],
                                           child_env(None), workdir, "check-token-flag", deadline)
    checks.check(exit_code == 2 and "--page-size" in stderr,
                 "invalid: a token given to a number flag is rejected",
                 f"{describe_exit(exit_code)}; {stderr[-500:]}")
    check_no_secrets(stdout + stderr, "invalid number flag", checks)

    several = write_private(workdir / "several.toml",
                            base + "page-size = 0\nworkers = \"2\"\ncolour = 1\n")
    exit_code, _, stderr = run_binary(binary, ["check-config", "--config", str(several)],
                                      child_env(None), workdir, "check-several", deadline)
    error_lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    checks.check(exit_code == 2 and len(error_lines) == 3,
                 "invalid: every error of a file is printed, one per line",
                 f"{describe_exit(exit_code)}; {error_lines}")


# ------------------------------------------------------------------------------------------
# Run 3: warnings

def run_warnings(binary: Path, workdir: Path, corpus: Path, checks: Checks,
                 deadline: Deadline) -> None:
    print("== run 3: warnings", flush=True)
    shared_token = write_private(workdir / "shared-token", TOKEN + "\n", 0o644)
    env = child_env(None)
    env["TGSEARCH_PAGE_SIZ"] = "4"
    exit_code, stdout, stderr = run_binary(
        binary, ["check-config", "--corpus", str(corpus), "--token-file", str(shared_token)],
        env, workdir, "check-warnings", deadline)
    checks.check(exit_code == 0, "warnings: check-config still exits 0",
                 f"{describe_exit(exit_code)}; {stderr[-500:]}")
    checks.check(re.search(r"warning: .*TGSEARCH_PAGE_SIZ\b.*did you mean TGSEARCH_PAGE_SIZE",
                           stderr) is not None,
                 "warnings: an unknown TGSEARCH_ variable is named with a suggestion",
                 stderr[-500:])
    checks.check(f"chmod 600 {shared_token}" in stderr,
                 "warnings: a token file that others may read draws chmod 600", stderr[-500:])
    check_no_secrets(stdout + stderr, "warnings", checks)


# ------------------------------------------------------------------------------------------
# Run 4: a server configured by file, environment and flag

def run_server(binary: Path, fake: FakeBotApi, workdir: Path, corpus: Path, token_file: Path,
               checks: Checks, deadline: Deadline) -> None:
    print("== run 4: a server configured by file, environment and flag", flush=True)
    # Nothing listens on the file's api-url, so the bot replies only if --api-url takes
    # precedence.
    config = write_private(
        workdir / "server.toml",
        f"corpus = [\"{corpus}\"]\n"
        f"token-file = \"{token_file}\"\n"
        f"api-url = \"http://127.0.0.1:{unused_port()}\"\n"
        "page-size = 3\n"
        "poll-timeout = 40\n"
        "shutdown-timeout = 30\n"
        "workers = 2\n")
    env = child_env(None)
    env["TGSEARCH_POLL_TIMEOUT"] = "1"
    env["TGSEARCH_SHUTDOWN_TIMEOUT"] = "5"
    bot = BinaryProcess([str(binary), "--config", str(config), "--api-url", fake.url], env,
                        workdir, "server")
    try:
        polling = fake.wait_for(lambda api: bool(api.requests("getUpdates")) or bot.exited(),
                                deadline.bound(20))
        if not checks.check(polling and not bot.exited(), "server: the bot polls within 20 s",
                            f"{bot.exit_status()};{bot.stderr_tail()}"):
            return
        chat = private_chat(6100000001, "Configured")
        fake.push_message(chat, "quasar")
        fake.wait_for(lambda api: any(message.chat_id == chat["id"]
                                      for message in api.sent_messages()), deadline.bound(15))
        replies = [message for message in fake.sent_messages() if message.chat_id == chat["id"]]
        reply = replies[0] if replies else None
        text = reply.text if reply else ""
        checks.check("3. Quasar" in text and "4. Quasar" not in text,
                     "server: page-size 3 from the config file shows in the reply",
                     text[:300] or "no reply")
        buttons = [item["text"] for row in ((reply.reply_markup or {}) if reply else {})
                   .get("inline_keyboard", []) for item in row]
        checks.check("▶" in buttons, "server: the reply has a ▶ button for the next page",
                     buttons)
        timeouts = {record.params.get("timeout") for record in fake.requests("getUpdates")}
        checks.check(timeouts <= {0, 1}, "server: TGSEARCH_POLL_TIMEOUT overrides the file",
                     timeouts)
        checks.check("read settings from config file" in bot.stderr(),
                     "server: the log names the config file", bot.stderr_tail())
    finally:
        bot.terminate()
        exit_code = bot.wait(deadline.bound(10))
        checks.check(exit_code == 0, "server: SIGTERM stops the bot with exit code 0",
                     f"{describe_exit(exit_code)};{bot.stderr_tail()}")
        if exit_code is None:
            bot.kill()
    check_no_secrets(bot.stdout() + bot.stderr(), "server", checks)


# ------------------------------------------------------------------------------------------
# Runs 5 to 7: a server with an invalid file, the index command, and a closed stderr

def run_invalid_server(binary: Path, fake: FakeBotApi, workdir: Path, corpus: Path,
                       token_file: Path, checks: Checks, deadline: Deadline) -> None:
    print("== run 5: a server with an invalid config file", flush=True)
    config = write_private(
        workdir / "server-invalid.toml",
        f"corpus = [\"{corpus}\"]\ntoken-file = \"{token_file}\"\n"
        f"api-url = \"{fake.url}\"\npage-size = \"3\"\n")
    requests_before = len(fake.requests())
    exit_code, stdout, stderr = run_binary(binary, ["--config", str(config)], child_env(None),
                                           workdir, "server-invalid", deadline)
    checks.check(exit_code == 1, "invalid server: exits 1", describe_exit(exit_code))
    checks.check(f"{config}:4: invalid page-size = \"3\"" in stderr,
                 "invalid server: the error names file, line, key and value", stderr[-500:])
    checks.check(len(fake.requests()) == requests_before,
                 "invalid server: no Bot API call is made",
                 [record.method for record in fake.requests()[requests_before:]])
    check_no_secrets(stdout + stderr, "invalid server", checks)

    # The logger redacts only the whole token, so the settings errors must be masked as well.
    config = write_private(
        workdir / "server-token.toml",
        f"corpus = [\"{corpus}\"]\ntoken-file = \"{token_file}\"\n"
        f"api-url = \"{fake.url}/bot{TOKEN}\"\nchannel-username = \"{TOKEN_SECRET}\"\n"
        f"webhook-url = \"https://u:{WEBHOOK_PASSWORD}@x.example/h\"\n"
        "listen = \"127.0.0.1:8443\"\n")
    exit_code, stdout, stderr = run_binary(binary, ["--config", str(config)], child_env(None),
                                           workdir, "server-token", deadline)
    checks.check(exit_code == 1 and f"{config}:3: api-url contains a bot token" in stderr,
                 "invalid server: an api-url with the token stops the start",
                 f"{describe_exit(exit_code)}; {stderr[-500:]}")
    check_no_secrets(stdout + stderr, "invalid server with the token in settings", checks)


def run_closed_stderr(binary: Path, fake: FakeBotApi, workdir: Path, corpus: Path,
                      token_file: Path, checks: Checks, deadline: Deadline) -> None:
    """A bot whose stderr is a pipe with no reader keeps serving instead of dying of SIGPIPE."""
    print("== run 7: a server whose stderr pipe is closed", flush=True)
    env = child_env(None)
    env["TGSEARCH_POLL_TIMEOUT"] = "1"
    env["TGSEARCH_SHUTDOWN_TIMEOUT"] = "5"
    requests_before = len(fake.requests("getUpdates"))
    bot = subprocess.Popen(
        [str(binary), "--corpus", str(corpus), "--token-file", str(token_file), "--api-url",
         fake.url], cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    assert bot.stderr is not None
    bot.stderr.close()
    try:
        polling = fake.wait_for(
            lambda api: len(api.requests("getUpdates")) > requests_before + 1
            or bot.poll() is not None, deadline.bound(20))
        checks.check(polling and bot.poll() is None,
                     "closed stderr: the bot polls and keeps running",
                     f"exit status {bot.poll()}")
    finally:
        if bot.poll() is None:
            bot.send_signal(signal.SIGTERM)
        try:
            exit_code = bot.wait(deadline.bound(10))
        except subprocess.TimeoutExpired:
            bot.kill()
            exit_code = bot.wait()
        checks.check(exit_code == 0, "closed stderr: SIGTERM stops the bot with exit code 0",
                     describe_exit(exit_code))


def run_index_command(binary: Path, workdir: Path, corpus: Path, checks: Checks,
                      deadline: Deadline) -> None:
    print("== run 6: tgsearch index with a config file", flush=True)
    output = workdir / "corpus.tgs"
    config = write_private(workdir / "index.toml",
                           f"corpus = [\"{corpus}\"]\noutput = \"{output}\"\n")
    exit_code, _, stderr = run_binary(binary, ["index", "--config", str(config)],
                                      child_env(None), workdir, "index", deadline)
    checks.check(exit_code == 0 and output.is_file(),
                 "index: corpus and output come from the config file",
                 f"{describe_exit(exit_code)}; {stderr[-500:]}")


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
        with tempfile.TemporaryDirectory(prefix="tgsearch-config-") as temp:
            workdir = Path(temp)
            corpus = workdir / "corpus.jsonl"
            write_corpus(corpus)
            token_file = write_private(workdir / "token", TOKEN + "\n")
            run_valid_check(binary, fake, workdir, corpus, token_file, checks, deadline)
            run_invalid_checks(binary, workdir, corpus, token_file, checks, deadline)
            run_warnings(binary, workdir, corpus, checks, deadline)
            run_server(binary, fake, workdir, corpus, token_file, checks, deadline)
            run_invalid_server(binary, fake, workdir, corpus, token_file, checks, deadline)
            run_index_command(binary, workdir, corpus, checks, deadline)
            run_closed_stderr(binary, fake, workdir, corpus, token_file, checks, deadline)
    except Exception:
        checks.check(False, "the test ran without an exception", traceback.format_exc())
    finally:
        for process in BinaryProcess.running:
            process.kill()
        fake.stop()
        watchdog.cancel()
    print(f"took {time.monotonic() - started:.1f} s", flush=True)
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
