// load_server: a fake Telegram Bot API that drives a bot with an open-loop schedule of updates
// and measures the latency of its replies. It starts the bot itself, one process per scenario
// step, and writes one JSON line per scenario.
//
//   load_server --token-file T --queries Q --scenario steady --rates 100,1000 --label tgsearch
//     -- build/app/tgsearch --token-file T --api-url {api_url} --corpus C
//
// `{api_url}` in the bot command is replaced by the server's base URL. `--trivial-bot` turns
// this program into a bot that replies "ok" at once, to measure the server's own ceiling.

#include "bench/load_api.hpp"
#include "bench/load_process.hpp"
#include "bench/load_trivial_bot.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace tgsearch::bench;
using namespace std::chrono_literals;

struct options {
    std::string token_file;
    std::string queries_path;
    std::string output_path;
    std::string label = "bot";
    std::string bot_log;
    std::string scenario = "steady";
    std::vector<double> rates{100, 1000, 10000};
    std::string arrivals = "poisson";
    double duration_s = 10;
    double warmup_s = 2;
    double drain_s = 10;
    double startup_timeout_s = 120;
    std::uint64_t seed = 20240607;
    double p99_target_ms = 10;
    double search_start = 100;
    double search_max = 200'000;
    double search_step_s = 2;
    double search_precision = 1.15;
    int search_max_steps = 14;
    int burst_size = 1000;
    int typists = 20;
    double keystroke_ms = 150;
    double typing_pause_s = 1;
    std::vector<std::string> bot_command;
    // --trivial-bot mode
    bool trivial_bot = false;
    std::string api_url;
    int senders = 4;
};

/// Whole seconds of a double, for the clock.
clock_type::duration seconds(double value) {
    return std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(value));
}

std::vector<std::string> read_lines(const std::string& path) {
    std::ifstream file(path);
    if (!file) {
        throw std::runtime_error("cannot read " + path + ": check the path");
    }
    std::vector<std::string> lines;
    for (std::string line; std::getline(file, line);) {
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        if (!line.empty()) {
            lines.push_back(line);
        }
    }
    if (lines.empty()) {
        throw std::runtime_error(path + " contains no query");
    }
    return lines;
}

std::string read_token(const std::string& path) {
    std::ifstream file(path);
    std::string token;
    if (!file || !std::getline(file, token) || token.empty()) {
        throw std::runtime_error("cannot read a token from " + path);
    }
    return token;
}

/// Number of bytes of `text` that make up its first `characters` UTF-8 characters.
std::size_t utf8_prefix_bytes(std::string_view text, std::size_t characters) {
    std::size_t bytes = 0;
    while (bytes < text.size() && characters > 0) {
        ++bytes;
        while (bytes < text.size() && (static_cast<unsigned char>(text[bytes]) & 0xC0) == 0x80) {
            ++bytes;
        }
        --characters;
    }
    return bytes;
}

/// Makes schedules of updates from the query list with a fixed seed.
class schedule_maker {
public:
    schedule_maker(std::size_t query_count, std::uint64_t seed, bool poisson)
        : random_(seed), pick_(0, static_cast<std::uint32_t>(query_count - 1)), poisson_(poisson) {}

    /// Messages at `rate` per second from `start` for `length`: evenly spaced, or Poisson
    /// arrivals (exponential gaps) with that mean rate.
    std::vector<planned_update> messages(clock_type::time_point start, double rate,
                                         clock_type::duration length, bool measured) {
        std::vector<planned_update> updates;
        std::exponential_distribution<double> gap(rate);
        const double total = std::chrono::duration<double>(length).count();
        double at = 0;
        for (std::size_t i = 0;; ++i) {
            at = poisson_ ? at + gap(random_) : static_cast<double>(i) / rate;
            if (at >= total) {
                break;
            }
            planned_update update;
            update.scheduled = start + seconds(at);
            update.query = pick_(random_);
            update.measured = measured;
            updates.push_back(update);
        }
        return updates;
    }

    /// `count` messages all due at `start`.
    std::vector<planned_update> burst(clock_type::time_point start, int count) {
        std::vector<planned_update> updates(static_cast<std::size_t>(count));
        for (planned_update& update : updates) {
            update.scheduled = start;
            update.query = pick_(random_);
            update.measured = true;
        }
        return updates;
    }

    /// Inline queries from `typists` users who type queries one character per `keystroke`,
    /// with `pause` between queries, from `start` for `length`. Those due after `warmup` are
    /// measured.
    std::vector<planned_update> typing(const std::vector<std::string>& queries,
                                       clock_type::time_point start, int typists,
                                       clock_type::duration keystroke, clock_type::duration pause,
                                       clock_type::duration warmup, clock_type::duration length) {
        std::vector<planned_update> updates;
        std::uniform_real_distribution<double> offset(0.0, 1.0);
        for (int typist = 0; typist < typists; ++typist) {
            // Typists start at random points within one keystroke, so their keys interleave.
            auto at = std::chrono::duration_cast<clock_type::duration>(keystroke * offset(random_));
            while (at < length) {
                const std::uint32_t query = pick_(random_);
                const std::string& text = queries[query];
                for (std::size_t characters = 1;; ++characters) {
                    const std::size_t bytes = utf8_prefix_bytes(text, characters);
                    planned_update update;
                    update.scheduled = start + at;
                    update.query = query;
                    update.prefix_bytes = static_cast<std::uint32_t>(bytes);
                    update.inline_query = true;
                    update.typist = static_cast<std::uint32_t>(typist);
                    update.measured = at >= warmup;
                    if (at < length) {
                        updates.push_back(update);
                    }
                    at += keystroke;
                    if (bytes == text.size()) {
                        break;
                    }
                }
                at += pause;
            }
        }
        std::sort(updates.begin(), updates.end(),
                  [](const planned_update& a, const planned_update& b) {
                      return a.scheduled < b.scheduled;
                  });
        return updates;
    }

private:
    std::mt19937_64 random_;
    std::uniform_int_distribution<std::uint32_t> pick_;
    bool poisson_;
};

/// Measurements of one bot process over its measured phase.
struct session_outcome {
    std::optional<std::string> error;  ///< why the session failed, when it did
    std::uint64_t measured = 0;
    reply_counters counters;
    latency_histogram latencies;
    clock_type::time_point measure_start{};
    double cpu_us_per_update = 0;
    double peak_rss_mib = 0;
    std::size_t processes = 0;
    std::optional<std::vector<std::string>> allowed_updates;
    bool inline_unsupported = false;
};

/// Latency quantiles in microseconds over every measured update, where an update without a
/// reply counts as slower than all replies: a quantile that falls among those is null.
json::object latency_json(const latency_histogram& latencies, std::uint64_t updates) {
    const auto micros = [](double ns) { return std::round(ns / 100.0) / 10.0; };
    const auto at = [&](double q) -> json::value {
        const auto rank = std::max<std::uint64_t>(
            1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(updates))));
        if (rank > latencies.count()) {
            return nullptr;
        }
        return micros(static_cast<double>(latencies.value_at_rank(rank)));
    };
    json::object out;
    out["p50"] = at(0.5);
    out["p90"] = at(0.9);
    out["p99"] = at(0.99);
    out["p999"] = at(0.999);
    out["max"] = latencies.count() == updates ? json::value(micros(latencies.max())) : nullptr;
    out["max_replied"] = micros(static_cast<double>(latencies.max()));
    out["mean_replied"] = micros(latencies.mean());
    return out;
}

/// Builds the object of latency_json with every field null.
json::object null_latency_json() {
    json::object out;
    for (const char* key : {"p50", "p90", "p99", "p999", "max", "max_replied", "mean_replied"}) {
        out[key] = nullptr;
    }
    return out;
}

json::object outcome_json(const session_outcome& outcome) {
    json::object out;
    out["updates"] = outcome.measured;
    out["answered"] = outcome.counters.answered;
    out["missing"] = outcome.measured - outcome.counters.answered;
    out["bad_replies"] = outcome.counters.bad;
    out["duplicate_replies"] = outcome.counters.duplicate;
    out["unknown_replies"] = outcome.counters.unknown;
    out["http_429"] = outcome.counters.http_429;
    out["get_updates_calls"] = outcome.counters.get_updates_calls;
    if (!outcome.counters.bad_examples.empty()) {
        json::array examples;
        for (const std::string& example : outcome.counters.bad_examples) {
            examples.emplace_back(example);
        }
        out["bad_examples"] = std::move(examples);
    }
    out["conflicts"] = outcome.counters.conflicts;
    // A bot that exited early or never polled was not measured, and zeros would read as
    // measurements.
    out["latency_us"] =
        outcome.error ? null_latency_json() : latency_json(outcome.latencies, outcome.measured);
    if (outcome.counters.answered > 0) {
        const double span =
            std::chrono::duration<double>(outcome.counters.last_answer - outcome.measure_start)
                .count();
        out["achieved_rate"] = span > 0 ? std::round(outcome.counters.answered / span) : 0.0;
    }
    if (outcome.error) {
        out["cpu_us_per_update"] = nullptr;
        out["peak_rss_mib"] = nullptr;
    } else {
        out["cpu_us_per_update"] = std::round(outcome.cpu_us_per_update * 10) / 10;
        out["peak_rss_mib"] = std::round(outcome.peak_rss_mib * 10) / 10;
    }
    out["bot_processes"] = outcome.processes;
    if (outcome.error) {
        out["error"] = *outcome.error;
    }
    return out;
}

const char* signal_name(int signal_number) {
    if (signal_number == SIGINT) {
        return "SIGINT";
    }
    if (signal_number == SIGTERM) {
        return "SIGTERM";
    }
    return "a signal";
}

/// Thrown into the scenario when SIGINT or SIGTERM arrived, so that no result is written and no
/// further bot starts.
class interrupted_by_signal : public std::exception {
public:
    const char* what() const noexcept override { return "interrupted by a signal"; }
};

/// Runs scenarios: one bot process per session, with the fake API on the same io_context.
class scenario_runner {
public:
    scenario_runner(asio::io_context& io, load_api& api, const options& opts, std::string api_url,
                    std::vector<std::string> queries)
        : io_(io),
          api_(api),
          options_(opts),
          api_url_(std::move(api_url)),
          queries_(std::move(queries)),
          schedules_(queries_.size(), opts.seed, opts.arrivals == "poisson") {}

    asio::awaitable<void> run() {
        try {
            if (options_.scenario == "steady") {
                for (const double rate : options_.rates) {
                    co_await run_steady(rate);
                }
            } else if (options_.scenario == "max-rate") {
                co_await run_max_rate();
            } else if (options_.scenario == "burst") {
                co_await run_burst();
            } else if (options_.scenario == "inline") {
                co_await run_inline();
            }
        } catch (const interrupted_by_signal&) {
            // stop_on_signal has reported the signal and sets the exit code.
        } catch (const std::exception& error) {
            std::fprintf(stderr, "load_server: %s\n", error.what());
            failed_ = true;
        }
        io_.stop();
    }

    /// Waits for a signal in `signals`, then stops the running bot (SIGTERM to the bot, SIGKILL
    /// to its process group when it has not exited 10 s later) and stops the io_context. The
    /// bot runs in a process group of its own, so a Ctrl-C in the terminal does not reach it.
    asio::awaitable<void> stop_on_signal(asio::signal_set& signals) {
        const auto [error, signal_number] =
            co_await signals.async_wait(asio::as_tuple(asio::use_awaitable));
        if (error) {
            co_return;
        }
        signal_number_ = signal_number;
        if (current_bot_ != nullptr) {
            std::fprintf(stderr, "load_server: received %s, stopping the bot (pid %d)\n",
                         signal_name(signal_number), static_cast<int>(current_bot_->pid()));
            co_await stop_bot(*current_bot_);
        } else {
            std::fprintf(stderr, "load_server: received %s, no bot is running\n",
                         signal_name(signal_number));
        }
        io_.stop();
    }

    /// 1 when a scenario failed, 128 plus the signal number when a signal stopped the run, as
    /// shells report a process killed by that signal, and 0 otherwise.
    int exit_code() const {
        if (signal_number_ != 0) {
            return 128 + signal_number_;
        }
        return failed_ ? 1 : 0;
    }

private:
    using planner = std::function<std::vector<planned_update>(clock_type::time_point)>;

    asio::awaitable<void> sleep_until(clock_type::time_point deadline) {
        asio::steady_timer timer(io_, deadline);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }

    std::vector<std::string> bot_argv() const {
        std::vector<std::string> argv = options_.bot_command;
        for (std::string& arg : argv) {
            for (std::size_t at; (at = arg.find("{api_url}")) != std::string::npos;) {
                arg.replace(at, 9, api_url_);
            }
        }
        return argv;
    }

    /// Waits until `deadline`, checking every 50 ms that the bot still runs. Returns its exit
    /// status when it ended.
    asio::awaitable<std::optional<std::string>> watch_until(child_process& bot,
                                                            clock_type::time_point deadline) {
        while (clock_type::now() < deadline) {
            if (auto status = bot.poll_exit()) {
                co_return status;
            }
            co_await sleep_until(std::min(deadline, clock_type::now() + 50ms));
        }
        co_return bot.poll_exit();
    }

    asio::awaitable<void> stop_bot(child_process& bot) {
        bot.terminate();
        const auto deadline = clock_type::now() + 10s;
        while (!bot.poll_exit() && clock_type::now() < deadline) {
            co_await sleep_until(clock_type::now() + 10ms);
        }
        bot.kill();
    }

    /// Starts the bot, plans the warm-up and then the measured updates, waits for their
    /// replies up to `drain` after the last one is due, and stops the bot. Throws
    /// interrupted_by_signal, and writes no outcome, once SIGINT or SIGTERM has arrived.
    asio::awaitable<session_outcome> run_session(const planner& warmup,
                                                 clock_type::duration warmup_length,
                                                 const planner& measured,
                                                 clock_type::duration measured_length,
                                                 clock_type::duration drain,
                                                 flood_limits_config flood, bool needs_inline) {
        if (signal_number_ != 0) {
            throw interrupted_by_signal();
        }
        api_.reset(flood);
        child_process bot(bot_argv(), options_.bot_log);
        current_bot_ = &bot;
        session_outcome outcome;
        try {
            outcome = co_await measure_bot(bot, warmup, warmup_length, measured, measured_length,
                                           drain, needs_inline);
        } catch (...) {
            current_bot_ = nullptr;
            throw;
        }
        // Not reached when the io_context stops first: its frame is then destroyed with the
        // io_context, after this runner, so it must not touch the runner.
        current_bot_ = nullptr;
        if (signal_number_ != 0) {
            throw interrupted_by_signal();
        }
        co_return outcome;
    }

    asio::awaitable<session_outcome> measure_bot(child_process& bot, const planner& warmup,
                                                 clock_type::duration warmup_length,
                                                 const planner& measured,
                                                 clock_type::duration measured_length,
                                                 clock_type::duration drain, bool needs_inline) {
        session_outcome outcome;
        const auto startup_deadline = clock_type::now() + seconds(options_.startup_timeout_s);
        while (!co_await api_.wait_ready(100ms)) {
            if (auto status = bot.poll_exit()) {
                outcome.error = "the bot exited before calling getUpdates: " + *status;
                co_return outcome;
            }
            if (clock_type::now() > startup_deadline) {
                outcome.error = "the bot did not call getUpdates within the start-up timeout";
                co_await stop_bot(bot);
                co_return outcome;
            }
        }
        outcome.allowed_updates = api_.allowed_updates();
        if (needs_inline && outcome.allowed_updates && !outcome.allowed_updates->empty() &&
            std::find(outcome.allowed_updates->begin(), outcome.allowed_updates->end(),
                      "inline_query") == outcome.allowed_updates->end()) {
            outcome.inline_unsupported = true;
            co_await stop_bot(bot);
            co_return outcome;
        }

        const auto warmup_start = clock_type::now() + 20ms;
        if (warmup_length > clock_type::duration::zero()) {
            api_.plan(warmup(warmup_start));
        }
        const auto measure_start = warmup_start + warmup_length;
        if (auto status = co_await watch_until(bot, measure_start)) {
            outcome.error = "the bot exited during the warm-up: " + *status;
            co_return outcome;
        }
        const process_tree_usage before = read_process_tree(bot.pid());
        api_.plan(measured(measure_start));
        outcome.measure_start = measure_start;
        const auto measure_end = measure_start + measured_length;
        if (auto status = co_await watch_until(bot, measure_end)) {
            outcome.error = "the bot exited during the measurement: " + *status;
        }
        if (!outcome.error) {
            co_await api_.wait_answered(measure_end + drain);
        }
        const process_tree_usage after = read_process_tree(bot.pid());
        outcome.measured = api_.measured_count();
        outcome.counters = api_.counters();
        outcome.latencies = api_.latencies();
        if (outcome.measured > 0 && after.cpu_ns >= before.cpu_ns) {
            outcome.cpu_us_per_update = static_cast<double>(after.cpu_ns - before.cpu_ns) / 1e3 /
                                        static_cast<double>(outcome.measured);
        }
        outcome.peak_rss_mib = static_cast<double>(after.peak_rss_kib) / 1024.0;
        outcome.processes = after.processes;
        co_await stop_bot(bot);
        co_return outcome;
    }

    void write(json::object line) {
        line["bot"] = options_.label;
        const std::string text = json::serialize(line);
        std::cout << text << std::endl;
        if (!options_.output_path.empty()) {
            std::ofstream out(options_.output_path, std::ios::app);
            out << text << '\n';
        }
    }

    asio::awaitable<session_outcome> measure_rate(double rate, clock_type::duration warmup,
                                                  clock_type::duration length) {
        const planner warm = [this, rate, warmup](clock_type::time_point start) {
            return schedules_.messages(start, rate, warmup, false);
        };
        const planner measured = [this, rate, length](clock_type::time_point start) {
            return schedules_.messages(start, rate, length, true);
        };
        co_return co_await run_session(warm, warmup, measured, length, seconds(options_.drain_s),
                                       flood_limits_config{}, false);
    }

    asio::awaitable<void> run_steady(double rate) {
        std::fprintf(stderr, "%s: steady %.0f updates/s for %.0f s\n", options_.label.c_str(), rate,
                     options_.duration_s);
        const session_outcome outcome =
            co_await measure_rate(rate, seconds(options_.warmup_s), seconds(options_.duration_s));
        json::object line = outcome_json(outcome);
        line["scenario"] = "steady";
        line["offered_rate"] = rate;
        line["arrivals"] = options_.arrivals;
        line["duration_s"] = options_.duration_s;
        write(std::move(line));
    }

    /// Returns true when every update got a valid reply and p99 is under the target.
    bool step_passes(const session_outcome& outcome) const {
        return !outcome.error && outcome.measured > 0 &&
               outcome.counters.answered == outcome.measured && outcome.counters.bad == 0 &&
               static_cast<double>(outcome.latencies.quantile(0.99)) < options_.p99_target_ms * 1e6;
    }

    asio::awaitable<bool> try_rate(double rate, json::array& steps) {
        std::fprintf(stderr, "%s: max-rate step at %.0f updates/s\n", options_.label.c_str(), rate);
        const session_outcome outcome = co_await measure_rate(
            rate, seconds(std::min(1.0, options_.warmup_s)), seconds(options_.search_step_s));
        const bool passed = step_passes(outcome);
        json::object step = outcome_json(outcome);
        step["offered_rate"] = std::round(rate);
        step["passed"] = passed;
        steps.push_back(std::move(step));
        co_return passed;
    }

    /// Doubles the rate while steps pass, then bisects (geometrically) between the last rate
    /// that passed and the first that failed.
    asio::awaitable<void> run_max_rate() {
        json::array steps;
        double passed = 0;
        double failed = 0;
        int step_count = 0;
        double rate = options_.search_start;
        while (step_count < options_.search_max_steps) {
            ++step_count;
            if (co_await try_rate(rate, steps)) {
                passed = rate;
                if (rate >= options_.search_max) {
                    break;
                }
                rate = std::min(rate * 2, options_.search_max);
            } else {
                failed = rate;
                break;
            }
        }
        // The first rate failed: halve until one passes.
        while (passed == 0 && failed > 1 && step_count < options_.search_max_steps) {
            ++step_count;
            rate = failed / 2;
            if (co_await try_rate(rate, steps)) {
                passed = rate;
            } else {
                failed = rate;
            }
        }
        while (passed > 0 && failed > 0 && failed / passed > options_.search_precision &&
               step_count < options_.search_max_steps) {
            ++step_count;
            rate = std::sqrt(passed * failed);
            if (co_await try_rate(rate, steps)) {
                passed = rate;
            } else {
                failed = rate;
            }
        }
        // The search ends by itself when a rate passed at the maximum, when the passed and the
        // failed rate are within the precision, or when halving found no rate that passes.
        const bool reached_maximum = passed >= options_.search_max;
        const bool search_finished =
            reached_maximum ||
            (passed > 0 && failed > 0 && failed / passed <= options_.search_precision) ||
            (passed == 0 && failed > 0 && failed <= 1);
        json::object line;
        line["scenario"] = "max_rate";
        line["arrivals"] = options_.arrivals;
        line["p99_target_ms"] = options_.p99_target_ms;
        line["step_s"] = options_.search_step_s;
        line["max_rate"] = passed > 0 ? json::value(std::round(passed)) : nullptr;
        line["first_failed_rate"] = failed > 0 ? json::value(std::round(failed)) : nullptr;
        line["capped"] = reached_maximum;
        if (!search_finished) {
            line["stopped_by_step_limit"] = true;
        }
        line["steps"] = std::move(steps);
        write(std::move(line));
    }

    asio::awaitable<void> run_burst() {
        const int count = options_.burst_size;
        std::fprintf(stderr, "%s: burst of %d messages under flood limits\n",
                     options_.label.c_str(), count);
        flood_limits_config flood;
        flood.enabled = true;
        // The first `burst` messages may leave at once, and the rest at the overall rate.
        const double minimum_s = std::max(0.0, count - flood.burst) / flood.messages_per_second;
        const planner nothing = [](clock_type::time_point) {
            return std::vector<planned_update>();
        };
        const planner burst = [this, count](clock_type::time_point start) {
            return schedules_.burst(start, count);
        };
        // Three times the minimum, plus time for retry_after waits, before giving up.
        const session_outcome outcome = co_await run_session(
            nothing, clock_type::duration::zero(), burst, clock_type::duration::zero(),
            seconds(minimum_s * 3 + 30), flood, false);
        json::object line = outcome_json(outcome);
        line["scenario"] = "burst";
        line["messages"] = count;
        line["chats"] = count;
        line["minimum_s"] = minimum_s;
        line["flood_rate"] = flood.messages_per_second;
        line["flood_burst"] = flood.burst;
        if (outcome.counters.answered > 0) {
            const double completion =
                std::chrono::duration<double>(outcome.counters.last_answer - outcome.measure_start)
                    .count();
            line["completion_s"] = std::round(completion * 100) / 100;
            if (minimum_s > 0) {
                line["completion_over_minimum"] = std::round(completion / minimum_s * 1000) / 1000;
            }
        }
        write(std::move(line));
    }

    asio::awaitable<void> run_inline() {
        std::fprintf(stderr, "%s: inline queries typed by %d users\n", options_.label.c_str(),
                     options_.typists);
        const auto keystroke = seconds(options_.keystroke_ms / 1000.0);
        const auto pause = seconds(options_.typing_pause_s);
        const auto warmup = seconds(options_.warmup_s);
        const auto length = seconds(options_.warmup_s + options_.duration_s);
        const planner nothing = [](clock_type::time_point) {
            return std::vector<planned_update>();
        };
        const planner typing = [&, this](clock_type::time_point start) {
            return schedules_.typing(queries_, start, options_.typists, keystroke, pause, warmup,
                                     length);
        };
        const session_outcome outcome =
            co_await run_session(nothing, clock_type::duration::zero(), typing, length,
                                 seconds(options_.drain_s), flood_limits_config{}, true);
        json::object line;
        line["scenario"] = "inline";
        line["typists"] = options_.typists;
        line["keystroke_ms"] = options_.keystroke_ms;
        if (outcome.inline_unsupported) {
            line["supported"] = false;
            line["reason"] = "the bot's getUpdates allowed_updates has no inline_query";
        } else if (!outcome.error && outcome.counters.answered == 0) {
            line = outcome_json(outcome);
            line["scenario"] = "inline";
            // A bot that asks for inline queries but is too slow for them looks the same here.
            line["supported"] = nullptr;
            line["reason"] = "no answerInlineQuery arrived before the drain time ended";
        } else {
            json::object measured = outcome_json(outcome);
            for (auto& [key, value] : measured) {
                line[key] = value;
            }
            line["supported"] = true;
        }
        write(std::move(line));
    }

    asio::io_context& io_;
    load_api& api_;
    const options& options_;
    std::string api_url_;
    std::vector<std::string> queries_;
    schedule_maker schedules_;
    bool failed_ = false;
    /// The bot of the running session, for stop_on_signal. Null between sessions.
    child_process* current_bot_ = nullptr;
    int signal_number_ = 0;
};

/// Maximum of every time option, in seconds. It is far beyond any useful run, and it keeps sums
/// of steady-clock time points in nanoseconds far from overflow.
constexpr double max_seconds = 1e6;

/// A CLI11 check that a value is a finite number above `minimum`, or equal to it when
/// `minimum_allowed`, and at most `maximum`. CLI::PositiveNumber and CLI::Range (CLI11 2.1)
/// accept "nan" because every comparison with NaN is false.
CLI::Validator finite_number(double minimum, bool minimum_allowed,
                             double maximum = std::numeric_limits<double>::infinity()) {
    std::string range = fmt::format("{} {}", minimum_allowed ? ">=" : ">", minimum);
    if (std::isfinite(maximum)) {
        range += fmt::format(" and <= {}", maximum);
    }
    return CLI::Validator(
        [=](std::string& input) -> std::string {
            double value = 0;
            const bool parsed = CLI::detail::lexical_cast(input, value) && std::isfinite(value);
            const bool above_minimum = minimum_allowed ? value >= minimum : value > minimum;
            if (!parsed || !above_minimum || value > maximum) {
                return fmt::format("invalid value {}: expected a finite number {}", input, range);
            }
            return std::string();
        },
        "NUMBER " + range);
}

int run_load_server(const options& opts) {
    const std::string token = read_token(opts.token_file);
    std::vector<std::string> queries = read_lines(opts.queries_path);
    if (opts.bot_command.empty()) {
        throw std::runtime_error("no bot command: give it after --");
    }

    asio::io_context io(1);
    asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
    const std::string api_url =
        fmt::format("http://127.0.0.1:{}", acceptor.local_endpoint().port());
    load_api api(io, token, queries);
    asio::co_spawn(io, api.serve(std::move(acceptor)), asio::detached);
    scenario_runner runner(io, api, opts, api_url, std::move(queries));
    asio::signal_set signals(io, SIGINT, SIGTERM);
    asio::co_spawn(io, runner.stop_on_signal(signals), asio::detached);
    asio::co_spawn(io, runner.run(), asio::detached);
    io.run();
    return runner.exit_code();
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Fake Telegram Bot API that measures a bot's reply latency under load"};
    options opts;
    app.add_option("--token-file", opts.token_file, "File with the bot token the bot uses")
        ->required();
    app.add_option("--queries", opts.queries_path, "File with one query per line");
    app.add_option("--output", opts.output_path, "Append one JSON line per scenario to this file");
    app.add_option("--label", opts.label, "Name of the bot in the results")->capture_default_str();
    app.add_option("--bot-log", opts.bot_log, "Append the bot's stdout and stderr to this file");
    app.add_option("--scenario", opts.scenario, "steady, max-rate, burst or inline")
        ->check(CLI::IsMember({"steady", "max-rate", "burst", "inline"}))
        ->capture_default_str();
    app.add_option("--rates", opts.rates, "Steady rates in updates per second")
        ->delimiter(',')
        ->check(finite_number(0, false))
        ->capture_default_str();
    app.add_option("--arrivals", opts.arrivals, "poisson or constant")
        ->check(CLI::IsMember({"poisson", "constant"}))
        ->capture_default_str();
    app.add_option("--duration", opts.duration_s, "Measured seconds per scenario")
        ->check(finite_number(0, false, max_seconds))
        ->capture_default_str();
    app.add_option("--warmup", opts.warmup_s, "Unmeasured seconds at the same rate first")
        ->check(finite_number(0, true, max_seconds))
        ->capture_default_str();
    app.add_option("--drain", opts.drain_s,
                   "Seconds to wait for late replies after the last "
                   "update is due")
        ->check(finite_number(0, true, max_seconds))
        ->capture_default_str();
    app.add_option("--startup-timeout", opts.startup_timeout_s,
                   "Seconds the bot may take to call getUpdates after it starts")
        ->check(finite_number(0, false, max_seconds))
        ->capture_default_str();
    app.add_option("--seed", opts.seed, "Seed of the arrival times and query picks")
        ->capture_default_str();
    app.add_option("--p99-target-ms", opts.p99_target_ms, "max-rate: p99 that a rate must beat")
        ->check(finite_number(0, false))
        ->capture_default_str();
    app.add_option("--search-start", opts.search_start, "max-rate: first rate, updates/s")
        ->check(finite_number(0, false))
        ->capture_default_str();
    app.add_option("--search-max", opts.search_max, "max-rate: highest rate tried, updates/s")
        ->check(finite_number(0, false))
        ->capture_default_str();
    app.add_option("--search-step", opts.search_step_s, "max-rate: measured seconds per step")
        ->check(finite_number(0, false, max_seconds))
        ->capture_default_str();
    app.add_option("--search-precision", opts.search_precision,
                   "max-rate: stop when the failed rate is within this factor of the passed one")
        ->check(finite_number(1, false))
        ->capture_default_str();
    app.add_option("--search-max-steps", opts.search_max_steps, "max-rate: steps at most")
        ->check(finite_number(1, true))
        ->capture_default_str();
    app.add_option("--burst-size", opts.burst_size, "burst: messages, each from its own chat")
        ->check(finite_number(1, true))
        ->capture_default_str();
    app.add_option("--typists", opts.typists, "inline: users typing at once")
        ->check(finite_number(1, true))
        ->capture_default_str();
    app.add_option("--keystroke-ms", opts.keystroke_ms, "inline: milliseconds per character")
        ->check(finite_number(0, false, max_seconds * 1000))
        ->capture_default_str();
    app.add_option("--typing-pause", opts.typing_pause_s, "inline: seconds between two queries")
        ->check(finite_number(0, true, max_seconds))
        ->capture_default_str();
    app.add_flag("--trivial-bot", opts.trivial_bot,
                 "Act as a bot that replies \"ok\" to every update, for measuring this server");
    app.add_option("--api-url", opts.api_url, "--trivial-bot: the Bot API base URL");
    app.add_option("--senders", opts.senders, "--trivial-bot: connections for replies")
        ->check(finite_number(1, true))
        ->capture_default_str();
    app.add_option("bot_command", opts.bot_command, "The bot to start, after --");
    CLI11_PARSE(app, argc, argv);
    if (opts.search_max < opts.search_start) {
        return app.exit(CLI::ValidationError(
            "--search-max",
            fmt::format("invalid value {}: expected a number >= --search-start ({})",
                        opts.search_max, opts.search_start)));
    }

    try {
        if (opts.trivial_bot) {
            return run_trivial_bot(opts.api_url, read_token(opts.token_file), opts.senders);
        }
        if (opts.queries_path.empty()) {
            throw std::runtime_error("--queries is required");
        }
        return run_load_server(opts);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "load_server: %s\n", error.what());
        return 1;
    }
}
