#!/usr/bin/env python3
"""Turn the load server's JSON lines into the Markdown report and the latency plot.

Usage: latency_report.py RESULTS.jsonl --output REPORT.md [--plot latency.png] [--commit C]
           [--pressure P] [--corpus NAME] [--compiler TEXT] [--quick 0|1]

The plot needs gnuplot. Without it, the report states that the plot was not drawn.
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

# Bots in the order of the tables, with the names the report shows.
BOT_NAMES = {
    "tgsearch": "tgsearch",
    "tgsearch_unpaced": "tgsearch, flood pacing lifted",
    "tgsearch_redis": "tgsearch + Redis, flood pacing lifted",
    "grammy": "grammY + runner",
    "python_redis": "Python: aiohttp + Redis + workers",
    "trivial": "trivial bot (server ceiling)",
}
PEERS = ["grammy", "python_redis"]
# The bot whose speed the ratios compare: the same pipeline as tgsearch without the pacing that
# limits it to Telegram's 30 messages per second.
REFERENCE = "tgsearch_unpaced"
# Every tgsearch set-up that the ratio table compares with the peers: the reference, and the
# same with Redis, which keeps received updates as the Python design's queue does.
REFERENCES = [REFERENCE, "tgsearch_redis"]


def bot_name(bot):
    return BOT_NAMES.get(bot, bot)


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def milliseconds(micros):
    """Format microseconds as milliseconds with at least 3 significant digits; '—' for None."""
    if micros is None:
        return "—"
    value = micros / 1000.0
    if value == 0:
        return "0"
    digits = max(0, 2 - int(math.floor(math.log10(abs(value)))))
    return f"{value:.{digits}f}"


def number(value, digits=0):
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def ratio(numerator, denominator):
    if not numerator or not denominator:
        return "—"
    value = numerator / denominator
    return f"{value:.1f}x" if value >= 10 else f"{value:.2f}x"


def load(path):
    results = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            line = line.strip()
            if line:
                results.append(json.loads(line))
    return results


def by_bot(results, scenario):
    return {line["bot"]: line for line in results if line.get("scenario") == scenario}


def health(line):
    """Describe missing, bad and duplicate replies and errors of one measurement."""
    notes = []
    if line.get("error"):
        notes.append(line["error"])
    if line.get("missing"):
        notes.append(f"{line['missing']:,} of {line['updates']:,} unanswered")
    if line.get("bad_replies"):
        notes.append(f"{line['bad_replies']} bad replies")
    if line.get("duplicate_replies"):
        notes.append(f"{line['duplicate_replies']} duplicates")
    return "; ".join(notes) or "all answered"


def steady_table(results):
    rows = [line for line in results if line.get("scenario") == "steady"]
    out = ["| bot | offered/s | achieved/s | p50 | p90 | p99 | p99.9 | max | CPU µs/update | "
           "peak RSS MiB | replies |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for line in rows:
        latency = line.get("latency_us", {})
        out.append(
            f"| {bot_name(line['bot'])} | {number(line['offered_rate'])} | "
            f"{number(line.get('achieved_rate'))} | {milliseconds(latency.get('p50'))} | "
            f"{milliseconds(latency.get('p90'))} | {milliseconds(latency.get('p99'))} | "
            f"{milliseconds(latency.get('p999'))} | {milliseconds(latency.get('max'))} | "
            f"{number(line.get('cpu_us_per_update'), 1)} | {number(line.get('peak_rss_mib'), 1)} | "
            f"{health(line)} |")
    return out


def max_rate_table(results):
    lines = by_bot(results, "max_rate")
    reference = lines.get(REFERENCE, {}).get("max_rate")
    out = ["| bot | max rate/s | first failed rate/s | steps | tgsearch (pacing lifted) / bot |",
           "|---|---|---|---|---|"]
    for bot, line in lines.items():
        if line.get("capped"):
            failed = "none up to the cap"
        elif line.get("stopped_by_step_limit") and line.get("first_failed_rate") is None:
            failed = "none before the step limit"
        else:
            failed = number(line.get("first_failed_rate"))
        shown = "—" if bot in (*REFERENCES, "trivial") else ratio(reference, line.get("max_rate"))
        out.append(f"| {bot_name(bot)} | {number(line.get('max_rate'))} | {failed} | "
                   f"{len(line.get('steps', []))} | {shown} |")
    return out


def burst_minimum(line):
    """Return the least time in which every burst message can be replied to under the limits.

    The first `flood_burst` messages may leave at once and the rest at `flood_rate` per second.
    Lines written before the load server reported both fields assumed 30 and 30.
    """
    rate = line.get("flood_rate", 30.0)
    burst = line.get("flood_burst", 30.0)
    messages = line.get("messages")
    if not messages or not rate:
        return None
    return max(0.0, messages - burst) / rate


def burst_ratio(line):
    """Return completion time / minimum, or None unless every message was answered."""
    if line.get("error") or line.get("missing"):
        return None
    minimum = burst_minimum(line)
    completion = line.get("completion_s")
    if not minimum or completion is None:
        return None
    return completion / minimum


def burst_table(results):
    out = ["| bot | messages | last reply after s | minimum s | ratio | 429 responses | replies |",
           "|---|---|---|---|---|---|---|"]
    for bot, line in by_bot(results, "burst").items():
        out.append(f"| {bot_name(bot)} | {number(line.get('messages'))} | "
                   f"{number(line.get('completion_s'), 2)} | {number(burst_minimum(line), 2)} | "
                   f"{number(burst_ratio(line), 3)} | "
                   f"{number(line.get('http_429'))} | {health(line)} |")
    return out


def inline_table(results):
    out = ["| bot | keystrokes | p50 | p90 | p99 | p99.9 | max | CPU µs/update | replies |",
           "|---|---|---|---|---|---|---|---|---|"]
    for bot, line in by_bot(results, "inline").items():
        if line.get("supported") is False or (
                not line.get("supported") and line.get("reason", "").startswith("no answer")):
            prefix = "not supported" if line.get("supported") is False else "no answer"
            out.append(f"| {bot_name(bot)} | {prefix}: {line.get('reason', '')} | | | | | | "
                       f"{number(line.get('cpu_us_per_update'), 1)} | {health(line)} |")
            continue
        latency = line.get("latency_us", {})
        out.append(f"| {bot_name(bot)} | {number(line.get('updates'))} | "
                   f"{milliseconds(latency.get('p50'))} | {milliseconds(latency.get('p90'))} | "
                   f"{milliseconds(latency.get('p99'))} | {milliseconds(latency.get('p999'))} | "
                   f"{milliseconds(latency.get('max'))} | "
                   f"{number(line.get('cpu_us_per_update'), 1)} | {health(line)} |")
    return out


def ratio_table(results):
    steady = [line for line in results if line.get("scenario") == "steady"]
    max_rates = by_bot(results, "max_rate")

    def steady_at(bot, rate):
        for line in steady:
            if line["bot"] == bot and line["offered_rate"] == rate:
                return line
        return {}

    out = ["| tgsearch | peer | max rate: tgsearch / peer | p99 at 1,000/s: peer / tgsearch | "
           "CPU per update at 1,000/s: peer / tgsearch |",
           "|---|---|---|---|---|"]
    for reference in REFERENCES:
        if reference not in max_rates and not steady_at(reference, 1000):
            continue
        reference_1000 = steady_at(reference, 1000)
        for peer in PEERS:
            peer_1000 = steady_at(peer, 1000)
            out.append(
                f"| {bot_name(reference)} | {bot_name(peer)} | "
                f"{ratio(max_rates.get(reference, {}).get('max_rate'), max_rates.get(peer, {}).get('max_rate'))} | "
                f"{ratio(peer_1000.get('latency_us', {}).get('p99'), reference_1000.get('latency_us', {}).get('p99'))} | "
                f"{ratio(peer_1000.get('cpu_us_per_update'), reference_1000.get('cpu_us_per_update'))} |")
    return out


def target_table(results):
    """Build the table of goals: each with its target, the measured value and a verdict."""
    steady = {(line["bot"], line["offered_rate"]): line for line in results
              if line.get("scenario") == "steady"}
    max_rates = by_bot(results, "max_rate")
    bursts = by_bot(results, "burst")

    def verdict(value, good, line=None):
        # A measurement in which the bot failed or left updates unanswered misses its goal,
        # whatever its numbers say.
        if line is not None and (line.get("error") or line.get("missing")):
            return f"missed ({health(line)})"
        if value is None:
            return "not measured"
        return "met" if good(value) else "missed"

    out = ["| goal | target | measured | verdict |", "|---|---|---|---|"]
    for reference in REFERENCES:
        at_1000 = steady.get((reference, 1000))
        p99 = (at_1000 or {}).get("latency_us", {}).get("p99")
        cpu = (at_1000 or {}).get("cpu_us_per_update")
        name = bot_name(reference)
        out.append(f"| p99 at 1,000/s, {name} | ≤ 1 ms | {milliseconds(p99)} ms | "
                   f"{verdict(p99, lambda v: v <= 1000, at_1000)} |")
        out.append(f"| CPU per update at 1,000/s, {name} | ≤ 20 µs | {number(cpu, 1)} µs | "
                   f"{verdict(cpu, lambda v: v <= 20, at_1000)} |")
        mine = max_rates.get(reference, {}).get("max_rate")
        for peer, goal in (("grammy", 10), ("python_redis", 20)):
            theirs = max_rates.get(peer, {}).get("max_rate")
            value = mine / theirs if mine and theirs else None
            out.append(f"| max rate, {name} / {bot_name(peer)} | ≥ {goal}x | "
                       f"{ratio(mine, theirs)} | {verdict(value, lambda v, g=goal: v >= g)} |")
    burst = bursts.get("tgsearch")
    over = burst_ratio(burst or {})
    out.append(f"| burst: last reply / minimum, tgsearch | ≤ 1.05 | {number(over, 3)} | "
               f"{verdict(over, lambda v: v <= 1.05, burst)} |")
    http_429 = (burst or {}).get("http_429")
    out.append(f"| burst: 429 responses, tgsearch | 0 | {number(http_429)} | "
               f"{verdict(http_429, lambda v: v == 0, burst)} |")
    return out


def plot_points(results):
    """Offered rate -> (p50, p99) in ms per bot, from every fully answered measurement."""
    points = {}
    # Steady measurements run longer than the search's steps, so they come last and replace a
    # step at the same rate.
    ordered = ([line for line in results if line.get("scenario") == "max_rate"] +
               [line for line in results if line.get("scenario") == "steady"])
    for line in ordered:
        candidates = line.get("steps", []) if line.get("scenario") == "max_rate" else [line]
        for step in candidates:
            latency = step.get("latency_us", {})
            if step.get("missing") or step.get("error") or latency.get("p99") is None:
                continue
            points.setdefault(line["bot"], {})[step["offered_rate"]] = (
                latency["p50"] / 1000.0, latency["p99"] / 1000.0)
    return points


def draw_plot(results, path):
    if shutil.which("gnuplot") is None:
        return "gnuplot is not installed, so the plot was not drawn."
    points = plot_points(results)
    if not points:
        return "No measurement had every update answered, so there is nothing to plot."
    with tempfile.TemporaryDirectory() as folder:
        series = []
        for index, (bot, rates) in enumerate(sorted(points.items())):
            data = os.path.join(folder, f"{bot}.dat")
            with open(data, "w", encoding="utf-8") as out:
                for rate in sorted(rates):
                    out.write(f"{rate} {rates[rate][0]} {rates[rate][1]}\n")
            color = index + 1
            series.append(f"'{data}' using 1:2 with linespoints lt {color} dt 1 pt 7 "
                          f"title '{bot_name(bot)} p50'")
            series.append(f"'{data}' using 1:3 with linespoints lt {color} dt 2 pt 6 "
                          f"title '{bot_name(bot)} p99'")
        script = "\n".join([
            "set terminal pngcairo size 1000,620 font 'sans,10'",
            f"set output '{path}'",
            "set logscale xy",
            "set xlabel 'offered rate (updates/s, Poisson arrivals)'",
            "set ylabel 'reply latency (ms, reply arrival - scheduled arrival)'",
            "set title 'Reply latency against offered rate (only rates where every update was answered)'",
            "set key outside right top",
            "set grid",
            "plot " + ", ".join(series),
        ])
        completed = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True,
                                   check=False)
        if completed.returncode != 0:
            return f"gnuplot failed: {completed.stderr.strip()}"
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    parser.add_argument("--output", required=True)
    parser.add_argument("--plot")
    parser.add_argument("--commit", default="unknown")
    parser.add_argument("--pressure", default="unknown")
    parser.add_argument("--corpus", default="unknown")
    parser.add_argument("--compiler", default="unknown")
    parser.add_argument("--quick", default="0")
    args = parser.parse_args()

    results = load(args.results)
    if not results:
        sys.exit(f"error: {args.results} has no results")
    steady = [line for line in results if line.get("scenario") == "steady"]
    duration = steady[0].get("duration_s") if steady else None
    inline = next((line for line in results if line.get("scenario") == "inline"), {})

    pressures = ", ".join(f"{bot_name(line['bot'])} {line['cpu_pressure']}%"
                          for line in results if line.get("scenario") == "pressure")
    report = [
        f"Commit {args.commit}; {cpu_model()}, {os.cpu_count()} hardware threads; {args.compiler}, "
        f"CMake Release; CPU pressure at start {args.pressure}%. Corpus {args.corpus}; queries "
        "of 1 to 3 words drawn from it with a fixed seed. Every bot and the load server share "
        "the machine's cores.",
    ]
    if pressures:
        report.append("")
        report.append(f"CPU pressure (avg10) before each bot: {pressures}.")
    if args.quick == "1":
        report.append("")
        report.append("**Quick run (`--quick`): 2 s per scenario, too short to compare.**")
    report += [
        "",
        "### Goals",
        "",
        *target_table(results),
        "",
        f"### Steady rates ({number(duration)} s of Poisson arrivals after a warm-up)",
        "",
        "Latency in milliseconds. A quantile that falls among unanswered updates is shown as —. "
        "CPU time is the bot's processes' utime + stime over the measured phase and its drain, "
        "divided by the updates sent, answered or not, so a bot that answers nothing looks "
        "cheap; /proc counts it in 10 ms ticks. The paced tgsearch keeps to 30 replies per "
        "second, so from 100/s on it is still answering the warm-up when the measurement ends.",
        "",
        *steady_table(results),
        "",
        "### Maximum rate with p99 under 10 ms",
        "",
        "Doubling, then bisection, with a fresh bot process per step; a step passes when every "
        "update gets a valid reply and p99 is under 10 ms.",
        "",
        *max_rate_table(results),
        "",
        "### Burst of messages from as many chats under flood limits",
        "",
        "All messages are due at once; the server answers 429 with retry_after beyond 30 "
        "messages per second overall (burst 30), 1 per second per chat (burst 5) and 20 per "
        "minute per group. The minimum is (messages - 30) / 30 s: the first 30 may leave at "
        "once.",
        "",
        *burst_table(results),
        "",
        f"### Inline queries typed letter by letter ({inline.get('typists', '—')} users, one "
        f"character every {number(inline.get('keystroke_ms'))} ms)",
        "",
        "Latency of each answerInlineQuery from the keystroke's scheduled time, in milliseconds.",
        "",
        *inline_table(results),
        "",
        "### Ratios",
        "",
        *ratio_table(results),
    ]
    if args.plot:
        problem = draw_plot(results, args.plot)
        report += ["", problem if problem else
                   f"![Reply latency against offered rate](img/{os.path.basename(args.plot)})"]
    with open(args.output, "w", encoding="utf-8") as out:
        out.write("\n".join(report) + "\n")


if __name__ == "__main__":
    main()
