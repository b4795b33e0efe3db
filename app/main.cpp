// tgsearch: turns a corpus of documents into a Telegram search bot.

#include "app/bot_api_protocol.hpp"
#include "app/console_chat.hpp"
#include "app/logging.hpp"
#include "app/sample_corpus.hpp"
#include "app/telegram_bot.hpp"
#include "core/corpus_loader.hpp"
#include "core/search_index.hpp"

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace tgsearch;

/// Upper bounds on --workers and --ring-capacity. More threads than this only add contention,
/// and a larger ring only hides a backlog that Telegram would keep for us anyway.
constexpr std::int64_t max_workers = 1024;
constexpr std::int64_t max_ring_capacity = std::int64_t{1} << 20;

/// Per corpus file, this many malformed records are logged one by one; the rest are counted.
constexpr std::size_t max_logged_load_errors = 20;

struct command_line {
    std::vector<std::string> corpus_paths;
    std::string format = "detect";
    std::int64_t workers = 0;
    std::int64_t ring_capacity = 1024;
    bool console = false;
    std::string token_file;
    std::string api_url = "https://api.telegram.org";
    int poll_timeout_seconds = 50;
    int shutdown_timeout_seconds = 10;
    std::string log_level = "info";
};

/// Reads the resident set size of this process from /proc, in bytes; 0 when unavailable.
std::size_t resident_bytes() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.starts_with("VmRSS:")) {
            return std::stoull(line.substr(6)) * 1024;
        }
    }
    return 0;
}

double to_mib(std::size_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

std::string trim_token(std::string token) {
    const auto first = token.find_first_not_of(" \t\r\n");
    const auto last = token.find_last_not_of(" \t\r\n");
    return first == std::string::npos ? std::string() : token.substr(first, last - first + 1);
}

/// Checks that `token` has the form "<bot id>:<secret>": a numeric id, then a secret of
/// letters, digits, '_' and '-'.
bool looks_like_token(const std::string& token) {
    const auto colon = token.find(':');
    if (colon == 0 || colon == std::string::npos || colon + 1 == token.size()) {
        return false;
    }
    for (std::size_t i = 0; i < token.size(); ++i) {
        const char c = token[i];
        const bool digit = c >= '0' && c <= '9';
        const bool word =
            digit || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
        if (i < colon ? !digit : (i > colon && !word)) {
            return false;
        }
    }
    return true;
}

/// Returns the token from --token-file or TELEGRAM_BOT_TOKEN, or an empty string when neither
/// is set. Throws std::runtime_error with a message that never contains the token.
std::string read_token(const command_line& options) {
    std::string token;
    std::string source;
    if (!options.token_file.empty()) {
        source = "token file " + options.token_file;
        struct stat info {};
        if (::stat(options.token_file.c_str(), &info) == 0 && !S_ISREG(info.st_mode)) {
            throw std::runtime_error("token file " + options.token_file +
                                     " is not a regular file: give the path of the file that "
                                     "contains the token");
        }
        std::ifstream file(options.token_file);
        if (!file) {
            throw std::runtime_error("cannot read token file " + options.token_file +
                                     ": check the path and its permissions");
        }
        std::ostringstream contents;
        contents << file.rdbuf();
        token = trim_token(contents.str());
        if ((info.st_mode & 077) != 0) {
            spdlog::warn("token file {} is readable by other users; run chmod 600 on it",
                         options.token_file);
        }
    } else if (const char* value = std::getenv("TELEGRAM_BOT_TOKEN"); value != nullptr) {
        source = "TELEGRAM_BOT_TOKEN";
        token = trim_token(value);
        if (token.empty()) {
            return token;
        }
    } else {
        return token;
    }
    if (!looks_like_token(token)) {
        throw std::runtime_error(
            "invalid bot token in " + source +
            ": expected the form 123456789:ABC-DEF..., as @BotFather gives it");
    }
    return token;
}

std::vector<document> load_documents(const command_line& options) {
    const corpus_format format = parse_corpus_format(options.format);
    std::vector<document> docs;
    if (options.corpus_paths.empty()) {
        spdlog::info("no --corpus given: using the sample corpus built into the binary");
        const load_report report = load_corpus_bytes(
            "sample_corpus.jsonl.gz", sample_corpus_gz(), corpus_format::jsonl, docs,
            [](const load_error& error) {
                spdlog::warn("skipped record {}:{}: {}", error.file, error.line, error.reason);
            });
        spdlog::info("loaded {} documents from the sample corpus", report.loaded);
        return docs;
    }
    for (const std::string& path : options.corpus_paths) {
        std::size_t logged = 0;
        const load_report report =
            load_corpus_file(path, format, docs, [&logged](const load_error& error) {
                if (++logged <= max_logged_load_errors) {
                    spdlog::warn("skipped record {}:{}: {}", error.file, error.line, error.reason);
                } else if (logged == max_logged_load_errors + 1) {
                    spdlog::warn("more malformed records in {}; only their count is reported",
                                 error.file);
                }
            });
        spdlog::info("loaded {} documents from {} ({} malformed records skipped, {} ignored)",
                     report.loaded, path, report.skipped, report.ignored);
    }
    std::string first_duplicate;
    if (const std::size_t duplicates = remove_duplicate_ids(docs, first_duplicate)) {
        spdlog::warn(
            "skipped {} documents whose id repeats an earlier one (the first is \"{}\"); "
            "is a corpus file given twice?",
            duplicates, first_duplicate);
    }
    return docs;
}

/// A SIGTERM or SIGINT received while the corpus loads. Loading cannot be interrupted, but the
/// signal must still end the process with an orderly exit once it is done.
volatile std::sig_atomic_t start_up_stop_signal = 0;

extern "C" void record_stop_signal(int signal_number) { start_up_stop_signal = signal_number; }

int run(const command_line& options) {
    std::signal(SIGTERM, record_stop_signal);
    std::signal(SIGINT, record_stop_signal);
    spdlog::set_level(parse_log_level(options.log_level));
    const std::string token = read_token(options);
    set_redacted_secret(token);

    if (options.poll_timeout_seconds < 0 || options.poll_timeout_seconds > 50) {
        throw std::invalid_argument("invalid --poll-timeout " +
                                    std::to_string(options.poll_timeout_seconds) +
                                    ": expected 0 to 50 seconds");
    }
    if (options.shutdown_timeout_seconds < 0) {
        throw std::invalid_argument("invalid --shutdown-timeout " +
                                    std::to_string(options.shutdown_timeout_seconds) +
                                    ": expected 0 or more seconds");
    }
    if (options.ring_capacity < 2 || options.ring_capacity > max_ring_capacity ||
        (options.ring_capacity & (options.ring_capacity - 1)) != 0) {
        throw std::invalid_argument(
            "invalid --ring-capacity " + std::to_string(options.ring_capacity) +
            ": expected a power of two from 2 to " + std::to_string(max_ring_capacity));
    }
    if (!token.empty() && !options.console) {
        // Fail on a bad URL now rather than after the corpus has been indexed.
        detail::parse_base_url(options.api_url, token);
    }
    if (options.workers < 0 || options.workers > max_workers) {
        throw std::invalid_argument("invalid --workers " + std::to_string(options.workers) +
                                    ": expected 1 to " + std::to_string(max_workers) +
                                    ", or 0 for one per CPU core");
    }
    const std::size_t workers = options.workers != 0
                                    ? static_cast<std::size_t>(options.workers)
                                    : std::max(1u, std::thread::hardware_concurrency());
    const auto ring_capacity = static_cast<std::size_t>(options.ring_capacity);

    const std::size_t resident_before = resident_bytes();
    const auto load_started = std::chrono::steady_clock::now();
    std::vector<document> docs = load_documents(options);
    if (docs.empty()) {
        spdlog::error("no documents to search: every corpus file was empty or malformed");
        return 1;
    }
    const auto index_started = std::chrono::steady_clock::now();
    const std::size_t document_count = docs.size();
    std::shared_ptr<const search_index> index = search_index::build(std::move(docs));
    const auto index_finished = std::chrono::steady_clock::now();
    const std::chrono::duration<double> load_seconds = index_started - load_started;
    const std::chrono::duration<double> build_seconds = index_finished - index_started;
    spdlog::info(
        "indexed {} documents ({} distinct terms) in {:.2f} s after {:.2f} s of loading; "
        "index {:.1f} MiB, process memory grew by {:.1f} MiB",
        document_count, index->term_count(), build_seconds.count(), load_seconds.count(),
        to_mib(index->memory_bytes()), to_mib(resident_bytes() - resident_before));

    if (start_up_stop_signal != 0) {
        spdlog::info("received {} while starting, exiting",
                     start_up_stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
        return 0;
    }

    if (options.console || token.empty()) {
        // Ctrl-C ends a console chat at once, as in any terminal program.
        std::signal(SIGTERM, SIG_DFL);
        std::signal(SIGINT, SIG_DFL);
        if (!options.console) {
            spdlog::info(
                "no bot token configured (TELEGRAM_BOT_TOKEN or --token-file): "
                "starting the console chat");
        }
        console_options console;
        console.workers = workers;
        console.ring_capacity = ring_capacity;
        console.interactive = ::isatty(STDIN_FILENO) != 0 && ::isatty(STDOUT_FILENO) != 0;
        run_console_chat(std::move(index), console, std::cin, std::cout);
        return 0;
    }

    telegram_options telegram;
    telegram.endpoint.base_url = options.api_url;
    telegram.endpoint.token = token;
    telegram.poll_timeout = std::chrono::seconds(options.poll_timeout_seconds);
    telegram.shutdown_timeout = std::chrono::seconds(options.shutdown_timeout_seconds);
    telegram.workers = workers;
    telegram.ring_capacity = ring_capacity;
    return run_telegram_bot(std::move(index), telegram);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "tgsearch: a Telegram bot that searches a corpus of documents.\n"
        "With a bot token (TELEGRAM_BOT_TOKEN or --token-file) it serves Telegram;\n"
        "without one it answers queries typed on standard input."};
    command_line options;
    app.add_option("--corpus", options.corpus_paths,
                   "Corpus file to index (JSONL or Telegram Desktop result.json, optionally "
                   "gzipped); repeatable. Default: the sample corpus built into the binary");
    app.add_option("--format", options.format, "Corpus format: detect, jsonl or telegram")
        ->capture_default_str();
    app.add_option("--workers", options.workers,
                   "Search worker threads (default: the number of CPU cores)");
    app.add_option("--ring-capacity", options.ring_capacity,
                   "Messages the queue to the workers holds (a power of two)")
        ->capture_default_str();
    app.add_flag("--console", options.console,
                 "Answer queries from standard input even when a token is configured");
    app.add_option("--token-file", options.token_file,
                   "File that contains the bot token (takes precedence over TELEGRAM_BOT_TOKEN)");
    app.add_option("--api-url", options.api_url,
                   "Bot API base URL; http:// is allowed for a local Bot API server")
        ->capture_default_str();
    app.add_option("--poll-timeout", options.poll_timeout_seconds,
                   "getUpdates long-poll timeout in seconds (0 to 50)")
        ->capture_default_str();
    app.add_option("--shutdown-timeout", options.shutdown_timeout_seconds,
                   "Seconds to finish queued work after SIGTERM or SIGINT")
        ->capture_default_str();
    app.add_option("--log-level", options.log_level,
                   "trace, debug, info, warn, error, critical or off")
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    setup_logging(spdlog::level::info);
    try {
        return run(options);
    } catch (const std::exception& error) {
        // The logger redacts the token, and no message built above contains it.
        spdlog::error("{}", error.what());
        return 1;
    }
}
