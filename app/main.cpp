// tgsearch: turns a corpus of documents into a Telegram search bot.

#include "app/config.hpp"
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

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

namespace {

using namespace tgsearch;

/// Per corpus source, this many malformed records are logged one by one, and the rest counted.
constexpr std::size_t max_logged_load_errors = 20;

/// The loading progress line is redrawn at most this often.
constexpr std::chrono::milliseconds progress_redraw_interval{250};

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

corpus_options make_corpus_options(const settings& options) {
    corpus_options corpus;
    corpus.format = parse_corpus_format(options.format);
    corpus.columns.id = options.id_column;
    corpus.columns.title = options.title_column;
    corpus.columns.text = options.text_columns;
    corpus.columns.url = options.url_column;
    if (!options.channel_username.empty()) {
        corpus.channel_username = parse_channel_username(options.channel_username);
    }
    return corpus;
}

/// Loads the documents of every --corpus source, or of the built-in sample corpus without one.
/// `show_progress` draws the progress line when stderr is a terminal.
std::vector<document> load_documents(const settings& options, bool show_progress) {
    corpus_options corpus = make_corpus_options(options);
    std::vector<document> docs;
    if (options.corpus.empty()) {
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
    for (const std::string& argument : options.corpus) {
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

/// Builds the index of the --corpus sources (or of the sample corpus), drawing progress when
/// `show_progress` is set and stderr is a terminal. Throws std::runtime_error when no
/// document remains to search.
std::shared_ptr<const search_index> build_index(const settings& options, bool show_progress) {
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
std::shared_ptr<const search_index> make_index(const settings& options, bool show_progress) {
    if (options.index.empty()) {
        return build_index(options, show_progress);
    }
    const auto started = std::chrono::steady_clock::now();
    std::shared_ptr<const search_index> index = load_index_file(options.index);
    const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - started;
    spdlog::info(
        "loaded index file {} in {:.3f} s: {} documents, {} distinct terms, {:.1f} MiB read "
        "from the file and {:.1f} MiB on the heap",
        options.index, seconds.count(), index->document_count(), index->term_count(),
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
    reload_watcher(const settings& options, std::shared_ptr<search_index> target)
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
        if (options_.index.empty()) {
            spdlog::info("received SIGHUP: rebuilding the index from the corpus");
        } else {
            spdlog::info("received SIGHUP: loading index file {} again", options_.index);
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

    const settings& options_;
    std::shared_ptr<search_index> target_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;  ///< last, so that it starts after the members it reads
};

/// A SIGTERM or SIGINT received while the corpus loads. Loading cannot be interrupted, but the
/// signal must still end the process with an orderly exit once it is done.
volatile std::sig_atomic_t start_up_stop_signal = 0;

extern "C" void record_stop_signal(int signal_number) { start_up_stop_signal = signal_number; }

/// Serves the bot with the checked settings. Without a token, or with console set, it runs the
/// console chat, and otherwise it serves Telegram.
int run(const settings& options, const server_plan& plan) {
    block_reload_signal();
    std::signal(SIGTERM, record_stop_signal);
    std::signal(SIGINT, record_stop_signal);
    if (plan.proxy) {
        spdlog::info("{}", plan.proxy->summary);
    }
    std::optional<webhook_options> webhook;
    if (plan.webhook) {
        webhook.emplace();
        webhook->url = plan.webhook->url;
        webhook->path = plan.webhook->path;
        webhook->listen_address = plan.webhook->listen.address;
        webhook->port = plan.webhook->listen.port;
        // A new secret on each start means that a secret seen in an old proxy log is useless.
        webhook->secret_token = make_webhook_secret();
    }
    std::optional<metrics_endpoint> metrics;
    if (plan.metrics) {
        metrics = metrics_endpoint{plan.metrics->address, plan.metrics->port};
    }
    const auto ring_capacity = static_cast<std::size_t>(options.ring_capacity);

    const std::shared_ptr<search_index> index =
        search_index::make_replaceable(make_index(options, true));

    if (start_up_stop_signal != 0) {
        spdlog::info("received {} while starting, exiting",
                     start_up_stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
        return 0;
    }

    if (!plan.serves_telegram) {
        // Ctrl-C ends a console chat at once, as in any terminal program.
        std::signal(SIGTERM, SIG_DFL);
        std::signal(SIGINT, SIG_DFL);
        if (!options.console) {
            spdlog::info(
                "no bot token configured (TELEGRAM_BOT_TOKEN or --token-file): "
                "starting the console chat");
        }
        console_options console;
        console.workers = plan.workers;
        console.ring_capacity = ring_capacity;
        console.interactive = ::isatty(STDIN_FILENO) != 0 && ::isatty(STDOUT_FILENO) != 0;
        const reload_watcher reloads(options, index);
        run_console_chat(index, console, std::cin, std::cout);
        return 0;
    }

    telegram_options telegram;
    telegram.endpoint.base_url = options.api_url;
    telegram.endpoint.token = plan.token.value;
    telegram.endpoint.proxy = plan.proxy ? plan.proxy->proxy : std::nullopt;
    telegram.poll_timeout = std::chrono::seconds(options.poll_timeout_seconds);
    telegram.shutdown_timeout = std::chrono::seconds(options.shutdown_timeout_seconds);
    telegram.workers = plan.workers;
    telegram.ring_capacity = ring_capacity;
    telegram.webhook = webhook;
    telegram.page_size = static_cast<std::size_t>(options.page_size);
    telegram.pages.expiry = std::chrono::seconds(options.page_expiry_seconds);
    telegram.redis = plan.redis;
    telegram.metrics = metrics;
    telegram.admin_ids = options.admins;
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

/// Runs `tgsearch index`, which builds the index of the corpus and writes it to the output file.
int run_index_command(const settings& options) {
    const auto started = std::chrono::steady_clock::now();
    const std::shared_ptr<const search_index> index = build_index(options, true);
    const auto write_started = std::chrono::steady_clock::now();
    write_index_file(*index, options.output);
    const auto finished = std::chrono::steady_clock::now();
    const std::chrono::duration<double> write_seconds = finished - write_started;
    const std::chrono::duration<double> total_seconds = finished - started;
    spdlog::info(
        "wrote index file {} ({:.1f} MiB) in {:.2f} s, {:.2f} s in all; serve it with "
        "`tgsearch --index {}`",
        options.output, to_mib(std::filesystem::file_size(options.output)), write_seconds.count(),
        total_seconds.count(), options.output);
    return 0;
}

/// Runs `tgsearch check-config`. Prints the effective settings with their sources and returns 0,
/// or prints every problem and returns 2. Warnings go to stderr in both cases.
int run_check_config(loaded_settings loaded, const environment_map& environment) {
    const settings_check check = check_settings(loaded.values, environment, command::check_config);
    // Only now is the token known, and any setting may contain it.
    mask_secrets_in(loaded.errors, check.plan.token.value);
    mask_secrets_in(loaded.warnings, check.plan.token.value);
    for (const auto* warnings : {&std::as_const(loaded.warnings), &check.warnings}) {
        for (const std::string& warning : *warnings) {
            std::cerr << "warning: " << warning << '\n';
        }
    }
    const std::size_t error_count = loaded.errors.size() + check.errors.size();
    if (error_count > 0) {
        for (const auto* errors : {&std::as_const(loaded.errors), &check.errors}) {
            for (const std::string& error : *errors) {
                std::cerr << "error: " << error << '\n';
            }
        }
        std::cerr << fmt::format("{} in the settings, so the server would not start\n",
                                 count_of(error_count, "error"));
        return 2;
    }
    for (const std::string& line : describe_settings(loaded.values, check.plan)) {
        std::cout << line << '\n';
    }
    return 0;
}

/// Returns the variables of the process environment.
environment_map read_environment() {
    environment_map variables;
    for (char** entry = environ; *entry != nullptr; ++entry) {
        const std::string_view text(*entry);
        const auto equals = text.find('=');
        if (equals != std::string_view::npos) {
            variables.emplace(text.substr(0, equals), text.substr(equals + 1));
        }
    }
    return variables;
}

}  // namespace

int main(int argc, char** argv) {
    // A write to a closed pipe, such as stderr piped to a process that has exited, must fail
    // with EPIPE instead of killing the bot.
    std::signal(SIGPIPE, SIG_IGN);
    const environment_map environment = read_environment();
    std::variant<loaded_settings, command_line_exit> parsed =
        load_settings(std::vector<std::string>(argv, argv + argc), environment);
    if (const auto* exit = std::get_if<command_line_exit>(&parsed)) {
        std::cout << exit->output << std::flush;
        std::cerr << exit->error_output << std::flush;
        return exit->exit_code;
    }
    loaded_settings& loaded = std::get<loaded_settings>(parsed);
    if (loaded.command == command::check_config) {
        return run_check_config(std::move(loaded), environment);
    }

    const settings& options = loaded.values;
    setup_logging(spdlog::level::info,
                  options.log_format == "json" ? log_format::json : log_format::text);
    const settings_check check = check_settings(options, environment, loaded.command);
    // The token is registered with the logger before any settings message is logged, and the
    // messages are masked as well, because the logger redacts only the whole token.
    set_redacted_secret(check.plan.token.value);
    mask_secrets_in(loaded.errors, check.plan.token.value);
    mask_secrets_in(loaded.warnings, check.plan.token.value);
    try {
        spdlog::set_level(parse_log_level(options.log_level));
    } catch (const std::invalid_argument&) {
        // check_settings reported it, and the level stays at info.
    }
    if (!options.config_path.empty()) {
        spdlog::info("read settings from config file {}", options.config_path);
    }
    for (const auto* warnings : {&std::as_const(loaded.warnings), &check.warnings}) {
        for (const std::string& warning : *warnings) {
            spdlog::warn("{}", warning);
        }
    }
    if (!loaded.errors.empty() || !check.errors.empty()) {
        for (const auto* errors : {&std::as_const(loaded.errors), &check.errors}) {
            for (const std::string& error : *errors) {
                spdlog::error("{}", error);
            }
        }
        return 1;
    }
    try {
        if (loaded.command == command::index) {
            return run_index_command(options);
        }
        return run(options, check.plan);
    } catch (const std::exception& error) {
        // The logger redacts the token, and the mask also covers URL passwords.
        spdlog::error("{}", mask_secrets_in(error.what(), check.plan.token.value));
        return 1;
    }
}
