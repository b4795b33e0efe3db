// tgsearch: turns a corpus of documents into a Telegram search bot.

#include "app/bot_api_protocol.hpp"
#include "app/console_chat.hpp"
#include "app/logging.hpp"
#include "app/proxy_config.hpp"
#include "app/redis_client.hpp"
#include "app/sample_corpus.hpp"
#include "app/telegram_bot.hpp"
#include "app/webhook_server.hpp"
#include "core/corpus_loader.hpp"
#include "core/index_file.hpp"
#include "core/search_index.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
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

/// Per corpus source, this many malformed records are logged one by one, and the rest counted.
constexpr std::size_t max_logged_load_errors = 20;

/// The loading progress line is redrawn at most this often.
constexpr std::chrono::milliseconds progress_redraw_interval{250};

struct command_line {
    std::vector<std::string> corpus_paths;
    std::string index_path;   ///< --index: an index file to read instead of a corpus
    std::string output_path;  ///< --output of the index command
    std::string format = "detect";
    std::string id_column;
    std::string title_column;
    std::string text_columns;  ///< comma-separated
    std::string url_column;
    std::string channel_username;
    std::int64_t workers = 0;
    std::int64_t ring_capacity = 1024;
    bool console = false;
    std::string token_file;
    std::string api_url = "https://api.telegram.org";
    std::string proxy;
    bool proxy_given = false;  ///< --proxy was on the command line, even as ""
    int poll_timeout_seconds = 50;
    std::string webhook_url;  ///< --webhook-url: receive updates by webhook instead of polling
    std::string listen;       ///< --listen: ADDR:PORT of the webhook server
    int shutdown_timeout_seconds = 10;
    int page_size = static_cast<int>(tgsearch::results_per_reply);
    std::int64_t page_expiry_seconds = 48 * 3600;  ///< --page-expiry, with its unit applied
    std::string log_level = "info";
    /// --flood-limits: "telegram" paces replies to Telegram's limits, "off" does not
    std::string flood_limits = "telegram";
    /// --redis, or TGSEARCH_REDIS_URL when the flag is absent; empty: no Redis
    std::string redis_url;
    std::string metrics;  ///< --metrics: ADDR:PORT of the metrics server; empty: none
    std::string admins;   ///< --admins: comma-separated Telegram user ids allowed /stats
    std::string log_format = "text";  ///< --log-format: text or json
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

/// Checks --webhook-url and --listen, and returns the webhook server's settings with a new
/// random secret token, or nothing when the bot is to poll getUpdates. Throws
/// std::invalid_argument naming the invalid value.
std::optional<webhook_options> make_webhook_options(const command_line& options) {
    if (options.webhook_url.empty()) {
        if (!options.listen.empty()) {
            throw std::invalid_argument("--listen " + options.listen +
                                        " needs --webhook-url, the public HTTPS URL that the "
                                        "reverse proxy forwards to this address");
        }
        return std::nullopt;
    }
    webhook_options webhook;
    webhook.url = options.webhook_url;
    webhook.path = detail::check_webhook_url(options.webhook_url);
    if (options.listen.empty()) {
        throw std::invalid_argument(
            "--webhook-url " + options.webhook_url +
            " needs --listen ADDR:PORT, the address that the reverse proxy forwards webhook "
            "requests to, such as 127.0.0.1:8080");
    }
    const listen_endpoint endpoint = parse_listen_endpoint(options.listen);
    webhook.listen_address = endpoint.address;
    webhook.port = endpoint.port;
    // A new secret on each start means that a secret seen in an old proxy log is useless.
    webhook.secret_token = make_webhook_secret();
    return webhook;
}

/// Draws one line on stderr while a corpus source loads: percent done, documents per second and
/// the time left, estimated from the bytes parsed so far. Draws nothing unless stderr is a
/// terminal, so that logs stay clean.
class load_progress_line {
public:
    load_progress_line() : enabled_(::isatty(STDERR_FILENO) != 0) {}

    void start(const std::string& source) {
        source_ = std::filesystem::path(source).filename().string();
        parsing_ = false;
    }

    void update(const load_progress& progress) {
        const auto now = std::chrono::steady_clock::now();
        if (!parsing_) {
            // Rates count from the first report, which comes once the file is read and
            // decompressed, because only parsing advances bytes_done.
            parsing_ = true;
            started_ = now;
            last_drawn_ = now;
        }
        if (!enabled_ || now - last_drawn_ < progress_redraw_interval || progress.bytes_done == 0 ||
            progress.bytes_total == 0) {
            return;
        }
        last_drawn_ = now;
        const double seconds = std::chrono::duration<double>(now - started_).count();
        const double fraction =
            static_cast<double>(progress.bytes_done) / static_cast<double>(progress.bytes_total);
        std::string line =
            fmt::format("loading {}: {:.0f}% of {:.1f} MiB, {} documents, {:.0f} documents/s",
                        source_, fraction * 100.0, to_mib(progress.bytes_total), progress.documents,
                        static_cast<double>(progress.documents) / seconds);
        if (fraction > 0.0 && fraction < 1.0) {
            line += fmt::format(", about {:.0f} s left", seconds * (1.0 - fraction) / fraction);
        }
        // "\x1b[K" erases the rest of a longer earlier line.
        std::fprintf(stderr, "\r%s\x1b[K", line.c_str());
        std::fflush(stderr);
        drawn_ = true;
    }

    /// Draws the indexing phase: documents tokenized of `total`, documents per second and the
    /// time left. May be called from any build thread, one call at a time.
    void update_indexing(std::size_t done, std::size_t total) {
        const auto now = std::chrono::steady_clock::now();
        if (!indexing_) {
            indexing_ = true;
            started_ = now;
            last_drawn_ = now;
        }
        if (!enabled_ || total == 0 ||
            (now - last_drawn_ < progress_redraw_interval && done < total)) {
            return;
        }
        last_drawn_ = now;
        const double seconds = std::chrono::duration<double>(now - started_).count();
        const double rate = seconds > 0.0 ? static_cast<double>(done) / seconds : 0.0;
        std::string line;
        if (done < total) {
            line = fmt::format("indexing: tokenized {:.0f}% of {} documents, {:.0f} documents/s",
                               100.0 * static_cast<double>(done) / static_cast<double>(total),
                               total, rate);
            if (rate > 0.0) {
                // The merge and encoding steps that follow take a fraction of this time.
                line += fmt::format(", about {:.0f} s left to tokenize",
                                    static_cast<double>(total - done) / rate);
            }
        } else {
            line = fmt::format(
                "indexing: tokenized {} documents, {:.0f} documents/s; "
                "encoding posting lists",
                total, rate);
        }
        std::fprintf(stderr, "\r%s\x1b[K", line.c_str());
        std::fflush(stderr);
        drawn_ = true;
    }

    /// Erases the line, so that log lines start at the left margin.
    void clear() {
        if (drawn_) {
            std::fputs("\r\x1b[K", stderr);
            std::fflush(stderr);
            drawn_ = false;
        }
    }

private:
    bool enabled_;
    bool drawn_ = false;
    bool parsing_ = false;
    bool indexing_ = false;
    std::string source_;
    std::chrono::steady_clock::time_point started_;
    std::chrono::steady_clock::time_point last_drawn_;
};

/// Outcome of one --corpus source, kept for the summary logged after all sources load.
struct source_outcome {
    std::string path;
    load_report report;
    std::size_t first_document = 0;        ///< index of its first document among all sources
    std::vector<load_error> first_errors;  ///< at most max_logged_load_errors
    std::size_t error_count = 0;           ///< all errors reported, listed or not
};

/// Returns "1 document", "2 documents" and so on.
std::string count_of(std::size_t count, std::string_view noun) {
    return fmt::format("{} {}{}", count, noun, count == 1 ? "" : "s");
}

void log_load_error(const load_error& error) {
    const std::string record =
        error.line == 0 ? error.file : fmt::format("record {}:{}", error.file, error.line);
    if (error.record_kept) {
        spdlog::warn("{}: {}", record, error.reason);
    } else {
        spdlog::warn("skipped {}: {}", record, error.reason);
    }
}

/// Logs each source's problems, then its summary, then the total over all sources.
void log_load_summary(const std::vector<source_outcome>& outcomes) {
    load_report total;
    for (const source_outcome& outcome : outcomes) {
        const load_report& report = outcome.report;
        for (const load_error& error : outcome.first_errors) {
            log_load_error(error);
        }
        if (outcome.error_count > outcome.first_errors.size()) {
            spdlog::warn("and {} more problems in {}, not listed",
                         outcome.error_count - outcome.first_errors.size(), outcome.path);
        }
        if (!report.damage.empty()) {
            spdlog::error("{}", report.damage);
        }
        spdlog::info("loaded {} from {} ({} skipped, {} ignored)",
                     count_of(report.loaded, "document"), outcome.path,
                     count_of(report.skipped, "malformed record"), report.ignored);
        if (report.loaded == 0 && report.damage.empty()) {
            spdlog::warn("no documents in {}: it is empty, or every record was skipped or ignored",
                         outcome.path);
        }
        total.loaded += report.loaded;
        total.skipped += report.skipped;
        total.ignored += report.ignored;
    }
    if (outcomes.size() > 1) {
        spdlog::info("loaded {} from {} sources ({} skipped, {} ignored)",
                     count_of(total.loaded, "document"), outcomes.size(),
                     count_of(total.skipped, "malformed record"), total.ignored);
    }
}

/// Returns where document `index` (among all sources, before duplicates were removed) comes
/// from: "file:line", or the file of a text folder document, and the source's outcome.
std::pair<std::string, const source_outcome*> locate_document(
    const std::vector<source_outcome>& outcomes, std::size_t index) {
    for (const source_outcome& outcome : outcomes) {
        const std::size_t offset = index - outcome.first_document;
        if (index < outcome.first_document || offset >= outcome.report.loaded) {
            continue;
        }
        if (offset < outcome.report.lines.size()) {
            return {fmt::format("{}:{}", outcome.path, outcome.report.lines[offset]), &outcome};
        }
        return {outcome.path, &outcome};
    }
    return {"an unknown source", nullptr};
}

/// Removes documents whose id repeats an earlier one and logs where each came from.
void remove_and_log_duplicates(const std::vector<source_outcome>& outcomes,
                               std::vector<document>& docs) {
    std::vector<duplicate_document> removed;
    remove_duplicate_ids(docs, removed);
    // A file given twice repeats every id, so it gets one line instead of one per document.
    std::map<const source_outcome*, std::size_t> repeated_files;
    std::size_t listed = 0;
    for (const duplicate_document& duplicate : removed) {
        const auto [place, source] = locate_document(outcomes, duplicate.index);
        const auto [first_place, first_source] = locate_document(outcomes, duplicate.first_index);
        std::error_code ignored;
        if (source != nullptr && first_source != nullptr && source != first_source &&
            std::filesystem::equivalent(source->path, first_source->path, ignored)) {
            ++repeated_files[source];
            continue;
        }
        if (listed++ < max_logged_load_errors) {
            spdlog::warn(
                "skipped the document at {}: its id \"{}\" repeats the one at {}; give each "
                "record its own id",
                place, duplicate.id, first_place);
        }
    }
    if (listed > max_logged_load_errors) {
        spdlog::warn("and {} more documents whose ids repeat earlier ones, not listed",
                     listed - max_logged_load_errors);
    }
    for (const auto& [source, count] : repeated_files) {
        spdlog::warn(
            "skipped {} of {}, which repeat the ids of an earlier --corpus of the same "
            "file; is it given twice?",
            count_of(count, "document"), source->path);
    }
}

/// Splits a comma-separated list of column names, dropping empty names.
std::vector<std::string> split_columns(const std::string& list) {
    std::vector<std::string> columns;
    std::istringstream stream(list);
    for (std::string column; std::getline(stream, column, ',');) {
        if (column.find_first_not_of(" \t") != std::string::npos) {
            columns.push_back(column);
        }
    }
    return columns;
}

corpus_options make_corpus_options(const command_line& options) {
    corpus_options corpus;
    corpus.format = parse_corpus_format(options.format);
    corpus.columns.id = options.id_column;
    corpus.columns.title = options.title_column;
    corpus.columns.text = split_columns(options.text_columns);
    corpus.columns.url = options.url_column;
    if (!options.channel_username.empty()) {
        corpus.channel_username = parse_channel_username(options.channel_username);
    }
    return corpus;
}

/// Loads the documents of every --corpus source, or of the built-in sample corpus without one.
/// `show_progress` draws the progress line when stderr is a terminal.
std::vector<document> load_documents(const command_line& options, bool show_progress) {
    corpus_options corpus = make_corpus_options(options);
    std::vector<document> docs;
    if (options.corpus_paths.empty()) {
        spdlog::info("no --corpus given: using the sample corpus built into the binary");
        const load_report report =
            load_corpus_bytes("sample_corpus.jsonl.gz", sample_corpus_gz(), corpus_format::jsonl,
                              docs, [](const load_error& error) { log_load_error(error); });
        spdlog::info("loaded {} documents from the sample corpus", report.loaded);
        return docs;
    }
    load_progress_line progress;
    if (show_progress) {
        corpus.on_progress = [&progress](const load_progress& done) { progress.update(done); };
    }
    std::vector<source_outcome> outcomes;
    for (const std::string& argument : options.corpus_paths) {
        const corpus_source source = parse_corpus_source(argument, corpus);
        source_outcome& outcome = outcomes.emplace_back();
        outcome.path = source.path.string();
        outcome.first_document = docs.size();
        progress.start(outcome.path);
        try {
            const auto on_error = [&outcome](const load_error& error) {
                ++outcome.error_count;
                if (outcome.first_errors.size() < max_logged_load_errors) {
                    outcome.first_errors.push_back(error);
                }
            };
            outcome.report = load_corpus(source.path, source.options, docs, on_error);
        } catch (...) {
            progress.clear();
            throw;
        }
        progress.clear();
    }
    log_load_summary(outcomes);
    // One username names one channel, so links built from it for a second chat would open
    // that chat's message numbers in the wrong channel.
    const source_outcome* linked = nullptr;
    for (const source_outcome& outcome : outcomes) {
        if (outcome.report.username_chat.empty()) {
            continue;
        }
        if (linked != nullptr && linked->report.username_chat != outcome.report.username_chat) {
            throw std::runtime_error(fmt::format(
                "--channel-username {} names one channel, but {} (chat {}) and {} (chat {}) are "
                "exports of different chats; run one bot per channel, or leave "
                "--channel-username out to link with t.me/c/<chat id>",
                corpus.channel_username, linked->path, linked->report.username_chat, outcome.path,
                outcome.report.username_chat));
        }
        linked = &outcome;
    }
    remove_and_log_duplicates(outcomes, docs);
    return docs;
}

/// Chooses the proxy for the Bot API from --proxy or the environment and logs the choice,
/// with the proxy password masked.
std::optional<proxy_config> select_proxy(const command_line& options, const detail::base_url& api) {
    const proxy_choice choice = choose_proxy(
        options.proxy_given ? std::optional<std::string_view>(options.proxy) : std::nullopt,
        api.tls, api.host);
    spdlog::info("{}", choice.summary);
    return choice.proxy;
}

/// Builds the index of the --corpus sources (or of the sample corpus), drawing progress when
/// `show_progress` is set and stderr is a terminal. Throws std::runtime_error when no
/// document remains to search.
std::shared_ptr<const search_index> build_index(const command_line& options, bool show_progress) {
    const std::size_t resident_before = resident_bytes();
    const auto load_started = std::chrono::steady_clock::now();
    std::vector<document> docs = load_documents(options, show_progress);
    if (docs.empty()) {
        throw std::runtime_error(
            "no documents to search: every corpus source was empty, damaged or malformed");
    }

    const auto index_started = std::chrono::steady_clock::now();
    const std::size_t document_count = docs.size();
    load_progress_line progress;
    build_progress on_progress;
    if (show_progress) {
        on_progress = [&progress](std::size_t done, std::size_t total) {
            progress.update_indexing(done, total);
        };
    }
    std::shared_ptr<const search_index> index;
    try {
        index = search_index::build(std::move(docs), bm25_params{}, on_progress);
    } catch (...) {
        progress.clear();
        throw;
    }
    progress.clear();

    const auto index_finished = std::chrono::steady_clock::now();
    const std::chrono::duration<double> load_seconds = index_started - load_started;
    const std::chrono::duration<double> build_seconds = index_finished - index_started;
    spdlog::info(
        "indexed {} documents ({} distinct terms) in {:.2f} s after {:.2f} s of loading; "
        "index {:.1f} MiB, process memory grew by {:.1f} MiB",
        document_count, index->term_count(), build_seconds.count(), load_seconds.count(),
        to_mib(index->memory_bytes()), to_mib(resident_bytes() - resident_before));
    return index;
}

/// Reads the --index file, or else builds the index of the corpus.
std::shared_ptr<const search_index> make_index(const command_line& options, bool show_progress) {
    if (options.index_path.empty()) {
        return build_index(options, show_progress);
    }
    const auto started = std::chrono::steady_clock::now();
    std::shared_ptr<const search_index> index = load_index_file(options.index_path);
    const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - started;
    spdlog::info(
        "loaded index file {} in {:.3f} s: {} documents, {} distinct terms, {:.1f} MiB read "
        "from the file and {:.1f} MiB on the heap",
        options.index_path, seconds.count(), index->document_count(), index->term_count(),
        to_mib(index->mapped_bytes()), to_mib(index->memory_bytes()));
    return index;
}

/// The signal that requests a reload of the index.
constexpr int reload_signal = SIGHUP;

/// How often the reload thread checks whether it should stop.
constexpr std::chrono::milliseconds reload_poll_interval{200};

/// Blocks SIGHUP in the calling thread and in every thread it starts afterwards, so that the
/// signal stays pending until reload_watcher takes it instead of ending the process.
void block_reload_signal() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, reload_signal);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

/// Rebuilds the index from the --corpus sources, or reads the --index file again, on each
/// SIGHUP, on a thread of its own, and swaps the result into a replaceable index. Queries keep
/// running on the old index meanwhile, and a failed reload keeps it. A reload runs to its
/// end: SIGHUPs received during one stay pending as a single signal (the kernel does not queue
/// standard signals), so they cause one more reload, which picks up changes made after the
/// first one read its files. Needs block_reload_signal to have run before any thread started.
class reload_watcher {
public:
    reload_watcher(const command_line& options, std::shared_ptr<search_index> target)
        : options_(options), target_(std::move(target)), thread_([this] { watch(); }) {}

    reload_watcher(const reload_watcher&) = delete;
    reload_watcher& operator=(const reload_watcher&) = delete;

    /// Stops watching, after the reload in progress, if any, has finished.
    ~reload_watcher() {
        stopping_ = true;
        thread_.join();
    }

private:
    void watch() {
        sigset_t signals;
        sigemptyset(&signals);
        sigaddset(&signals, reload_signal);
        const auto nanoseconds =
            std::chrono::duration_cast<std::chrono::nanoseconds>(reload_poll_interval).count();
        const timespec timeout{0, static_cast<long>(nanoseconds)};
        while (!stopping_) {
            if (::sigtimedwait(&signals, nullptr, &timeout) == reload_signal) {
                reload();
            }
        }
    }

    void reload() {
        const std::size_t previous_documents = target_->document_count();
        if (options_.index_path.empty()) {
            spdlog::info("received SIGHUP: rebuilding the index from the corpus");
        } else {
            spdlog::info("received SIGHUP: loading index file {} again", options_.index_path);
        }
        try {
            target_->replace(make_index(options_, false));
            spdlog::info("reloaded the index: now {} documents, before {}",
                         target_->document_count(), previous_documents);
        } catch (const std::exception& error) {
            spdlog::error("reload failed, still serving the previous index of {} documents: {}",
                          previous_documents, error.what());
        }
    }

    const command_line& options_;
    std::shared_ptr<search_index> target_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;  ///< last, so that it starts after the members it reads
};

/// A SIGTERM or SIGINT received while the corpus loads. Loading cannot be interrupted, but the
/// signal must still end the process with an orderly exit once it is done.
volatile std::sig_atomic_t start_up_stop_signal = 0;

extern "C" void record_stop_signal(int signal_number) { start_up_stop_signal = signal_number; }

/// Parses the Redis URL of --redis or TGSEARCH_REDIS_URL. The environment variable keeps a
/// password out of the process list. Throws std::invalid_argument with the password masked.
std::optional<redis_endpoint> read_redis_endpoint(const command_line& options) {
    std::string url = options.redis_url;
    std::string source = "--redis";
    if (url.empty()) {
        const char* value = std::getenv("TGSEARCH_REDIS_URL");
        if (value == nullptr || *value == '\0') {
            return std::nullopt;
        }
        url = value;
        source = "TGSEARCH_REDIS_URL";
    }
    try {
        return parse_redis_url(url);
    } catch (const std::invalid_argument& error) {
        throw std::invalid_argument(source + ": " + error.what());
    }
}

/// Parses --admins: Telegram user ids separated by commas, spaces allowed around them.
std::vector<std::int64_t> parse_admin_ids(const std::string& list) {
    std::vector<std::int64_t> ids;
    std::size_t start = 0;
    while (start <= list.size()) {
        const std::size_t comma = std::min(list.find(',', start), list.size());
        const std::string item = trim_token(list.substr(start, comma - start));
        start = comma + 1;
        if (item.empty()) {
            continue;
        }
        std::int64_t id = 0;
        const auto [end, error] = std::from_chars(item.data(), item.data() + item.size(), id);
        if (error != std::errc() || end != item.data() + item.size() || id <= 0) {
            throw std::invalid_argument("invalid user id \"" + item + "\" in --admins \"" + list +
                                        "\": expected positive Telegram user ids separated "
                                        "by commas, such as 12345,67890");
        }
        ids.push_back(id);
    }
    return ids;
}

int run(const command_line& options) {
    block_reload_signal();
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
    if (options.page_size < 1 || options.page_size > static_cast<int>(max_results_per_page)) {
        throw std::invalid_argument("invalid --page-size " + std::to_string(options.page_size) +
                                    ": expected 1 to " + std::to_string(max_results_per_page));
    }
    if (options.page_expiry_seconds < 1) {
        throw std::invalid_argument("invalid --page-expiry " +
                                    std::to_string(options.page_expiry_seconds) +
                                    " s: expected 1 s or more");
    }
    if (options.ring_capacity < 2 || options.ring_capacity > max_ring_capacity ||
        (options.ring_capacity & (options.ring_capacity - 1)) != 0) {
        throw std::invalid_argument(
            "invalid --ring-capacity " + std::to_string(options.ring_capacity) +
            ": expected a power of two from 2 to " + std::to_string(max_ring_capacity));
    }
    if (!options.proxy.empty()) {
        parse_proxy_url(options.proxy);  // a bad --proxy fails even in console mode
    }
    std::optional<proxy_config> proxy;
    if (!token.empty() && !options.console) {
        // Fail on a bad URL or proxy now rather than after the corpus has been indexed.
        const detail::base_url api = detail::parse_base_url(options.api_url, token);
        proxy = select_proxy(options, api);
    }
    const std::optional<webhook_options> webhook = make_webhook_options(options);
    std::optional<metrics_endpoint> metrics;
    if (!options.metrics.empty()) {
        const listen_endpoint endpoint = parse_listen_endpoint(options.metrics, "--metrics");
        metrics = metrics_endpoint{endpoint.address, endpoint.port};
    }
    const std::vector<std::int64_t> admin_ids = parse_admin_ids(options.admins);
    if (options.workers < 0 || options.workers > max_workers) {
        throw std::invalid_argument("invalid --workers " + std::to_string(options.workers) +
                                    ": expected 1 to " + std::to_string(max_workers) +
                                    ", or 0 for one per CPU core");
    }
    const std::size_t workers = options.workers != 0
                                    ? static_cast<std::size_t>(options.workers)
                                    : std::max(1u, std::thread::hardware_concurrency());
    const auto ring_capacity = static_cast<std::size_t>(options.ring_capacity);
    const std::optional<redis_endpoint> redis = read_redis_endpoint(options);

    const std::shared_ptr<search_index> index =
        search_index::make_replaceable(make_index(options, true));

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
        const reload_watcher reloads(options, index);
        run_console_chat(index, console, std::cin, std::cout);
        return 0;
    }

    telegram_options telegram;
    telegram.endpoint.base_url = options.api_url;
    telegram.endpoint.token = token;
    telegram.endpoint.proxy = proxy;
    telegram.poll_timeout = std::chrono::seconds(options.poll_timeout_seconds);
    telegram.shutdown_timeout = std::chrono::seconds(options.shutdown_timeout_seconds);
    telegram.workers = workers;
    telegram.ring_capacity = ring_capacity;
    telegram.webhook = webhook;
    telegram.page_size = static_cast<std::size_t>(options.page_size);
    telegram.pages.expiry = std::chrono::seconds(options.page_expiry_seconds);
    telegram.redis = redis;
    telegram.metrics = metrics;
    telegram.admin_ids = admin_ids;
    if (options.flood_limits == "off") {
        // Rates no server of Telegram's allows: for tests and benchmarks against a fake.
        telegram.flood = flood_limits{1e9,
                                      1e9,
                                      1e9,
                                      1e9,
                                      std::numeric_limits<std::size_t>::max(),
                                      std::chrono::milliseconds(1)};
        telegram.user_queries = user_query_limits{1e9, 1e9};
        spdlog::warn(
            "--flood-limits off: replies are not paced, so Telegram would answer 429; use it "
            "only against a fake or test Bot API server");
    }
    const reload_watcher reloads(options, index);
    return run_telegram_bot(index, telegram);
}

/// Runs `tgsearch index`: builds the index of the corpus and writes it to --output.
int run_index_command(const command_line& options) {
    spdlog::set_level(parse_log_level(options.log_level));
    const auto started = std::chrono::steady_clock::now();
    const std::shared_ptr<const search_index> index = build_index(options, true);
    const auto write_started = std::chrono::steady_clock::now();
    write_index_file(*index, options.output_path);
    const auto finished = std::chrono::steady_clock::now();
    const std::chrono::duration<double> write_seconds = finished - write_started;
    const std::chrono::duration<double> total_seconds = finished - started;
    spdlog::info(
        "wrote index file {} ({:.1f} MiB) in {:.2f} s, {:.2f} s in all; serve it with "
        "`tgsearch --index {}`",
        options.output_path, to_mib(std::filesystem::file_size(options.output_path)),
        write_seconds.count(), total_seconds.count(), options.output_path);
    return 0;
}

/// Adds --corpus and the options that describe how to read it to `app`, the server or the
/// index command. `sample_default` says that without --corpus the built-in sample is used.
void add_corpus_options(CLI::App& app, command_line& options, bool sample_default) {
    app.add_option(
        "--corpus", options.corpus_paths,
        std::string("Corpus to index: a JSONL, CSV or TSV file, a Telegram Desktop "
                    "export (result.json or its folder), or a folder of .txt and .md "
                    "files; files may be gzipped. Repeatable, and formats may be "
                    "mixed. Options for one source follow its path after '#', "
                    "separated by ';': text=COLUMNS, title=, id=, url=, format=, as in "
                    "'faq.csv#text=q,a;title=q'") +
            (sample_default ? ". Default: the sample corpus built into the binary" : ""));
    app.add_option("--format", options.format,
                   "Corpus format of every --corpus: detect, jsonl, csv, tsv, telegram or folder; "
                   "detect decides per source from its name or first line")
        ->capture_default_str();
    app.add_option("--id-column", options.id_column,
                   "CSV/TSV column with the document id in every CSV/TSV source (default: id, "
                   "else <file>:<line>)");
    app.add_option("--title-column", options.title_column,
                   "CSV/TSV column with the title in every CSV/TSV source (default: title)");
    app.add_option("--text-column", options.text_columns,
                   "CSV/TSV column with the text in every CSV/TSV source, or several separated "
                   "by commas, joined with line breaks (default: text, body, content or "
                   "message)");
    app.add_option("--url-column", options.url_column,
                   "CSV/TSV column with the link in every CSV/TSV source (default: url or "
                   "link)");
    app.add_option("--channel-username", options.channel_username,
                   "Public username of the channel or supergroup of a single-chat Telegram "
                   "export (name, @name or https://t.me/name), for https://t.me/name/<id> "
                   "links; without it links use t.me/c/<chat id>, which only members can open");
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "tgsearch: a Telegram bot that searches a corpus of documents.\n"
        "With a bot token (TELEGRAM_BOT_TOKEN or --token-file) it serves Telegram;\n"
        "without one it answers queries typed on standard input."};
    command_line options;
    add_corpus_options(app, options, true);
    app.add_option("--index", options.index_path,
                   "Index file to serve, written by `tgsearch index`; replaces --corpus and "
                   "starts in a fraction of the time")
        ->excludes("--corpus");
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
    app.add_option("--proxy", options.proxy,
                   "Proxy for the Bot API: socks5://[user:password@]host:port (the proxy "
                   "resolves host names) or http://[user:password@]host[:port] (CONNECT). "
                   "Default: https_proxy, HTTPS_PROXY (http_proxy for an http:// API URL), "
                   "all_proxy or ALL_PROXY, except for hosts in no_proxy or NO_PROXY. "
                   "--proxy \"\" connects directly and ignores those variables");
    app.add_option("--webhook-url", options.webhook_url,
                   "Receive updates by webhook at this HTTPS URL instead of polling getUpdates. "
                   "A TLS reverse proxy must forward it to --listen; Telegram connects only to "
                   "ports 443, 80, 88 and 8443");
    app.add_option("--listen", options.listen,
                   "Address and port of the webhook HTTP server, such as 127.0.0.1:8080 or "
                   "[::1]:8080; required with --webhook-url");
    app.add_option("--poll-timeout", options.poll_timeout_seconds,
                   "getUpdates long-poll timeout in seconds (0 to 50)")
        ->capture_default_str();
    app.add_option("--shutdown-timeout", options.shutdown_timeout_seconds,
                   "Seconds to finish queued work after SIGTERM or SIGINT")
        ->capture_default_str();
    app.add_option("--page-size", options.page_size,
                   "Results per page of a Telegram reply (1 to 20); more results are paged "
                   "with buttons")
        ->capture_default_str();
    app.add_option("--page-expiry", options.page_expiry_seconds,
                   "How long the buttons of a result page keep working after their last use: "
                   "seconds, or a number with s, m, h or d, such as 30m or 48h (default: 48h)")
        ->transform(CLI::AsNumberWithUnit(
            std::map<std::string, std::int64_t>{{"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}},
            CLI::AsNumberWithUnit::CASE_SENSITIVE));
    app.add_option("--flood-limits", options.flood_limits,
                   "telegram: pace replies to Telegram's flood limits; off: send at once, only "
                   "for tests and benchmarks against a fake Bot API server")
        ->check(CLI::IsMember({"telegram", "off"}))
        ->capture_default_str();
    app.add_option("--log-level", options.log_level,
                   "trace, debug, info, warn, error, critical or off")
        ->capture_default_str();
    app.add_option("--redis", options.redis_url,
                   "Redis that keeps received updates, answered ids and the offset, so that a "
                   "restart after a crash loses no update and answers none twice, and that "
                   "stores the queries the ring has no room for: redis://[[user]:password@]"
                   "host[:port][/db] or unix:///path/to/redis.sock[?db=N]. Default: "
                   "TGSEARCH_REDIS_URL, which keeps the password out of the process list; "
                   "without either the bot keeps this state in memory only");
    app.add_option("--metrics", options.metrics,
                   "Serve Prometheus metrics at /metrics and the polling health at /healthz on "
                   "this address and port, such as 127.0.0.1:9464. Default: no metrics server");
    app.add_option("--admins", options.admins,
                   "Telegram user ids, separated by commas, that may use /stats");
    app.add_option("--log-format", options.log_format,
                   "text: one readable line per event; json: one JSON object per line, for log "
                   "shippers")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();
    CLI::App* index_command = app.add_subcommand(
        "index", "Build the index of a corpus and write it to a file that --index serves");
    add_corpus_options(*index_command, options, false);
    index_command->get_option("--corpus")->required();
    index_command
        ->add_option("--output", options.output_path,
                     "Index file to write; it is written to FILE.tmp first and renamed")
        ->required();
    index_command
        ->add_option("--log-level", options.log_level,
                     "trace, debug, info, warn, error, critical or off")
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    options.proxy_given = app.get_option("--proxy")->count() > 0;

    setup_logging(spdlog::level::info,
                  options.log_format == "json" ? log_format::json : log_format::text);
    try {
        if (index_command->parsed()) {
            return run_index_command(options);
        }
        return run(options);
    } catch (const std::exception& error) {
        // The logger redacts the token, and no message built above contains it.
        spdlog::error("{}", error.what());
        return 1;
    }
}
