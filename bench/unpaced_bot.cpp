// unpaced_bot: tgsearch's Telegram bot with its flood pacing lifted, for the latency benchmark.
//
// The tgsearch binary paces replies to Telegram's limits (about 30 messages per second overall)
// and limits each user's queries, so at a higher offered rate its latency measures the pacing.
// This program runs the same code path (run_telegram_bot: poller, ring, search workers, sender
// connections) with limits high enough never to apply, so that the benchmark measures the work
// per update. It must never talk to Telegram itself, which would reject its replies with 429s.

#include "app/logging.hpp"
#include "app/telegram_bot.hpp"
#include "core/corpus_loader.hpp"
#include "core/search_index.hpp"

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace tgsearch;

/// A rate no benchmark reaches; the token buckets then never run dry.
constexpr double unlimited_rate = 1e9;

std::string read_token(const std::string& path) {
    std::ifstream file(path);
    std::string token;
    if (!file || !std::getline(file, token) || token.empty()) {
        throw std::runtime_error("cannot read a token from " + path);
    }
    return token;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"tgsearch's Telegram bot without flood pacing, for a local load server only"};
    std::vector<std::string> corpus_paths;
    std::string token_file;
    std::string api_url;
    std::size_t workers = 0;
    int poll_timeout = 50;
    std::string log_level = "warn";
    app.add_option("--corpus", corpus_paths, "Corpus files to index")->required();
    app.add_option("--token-file", token_file, "File with the bot token")->required();
    app.add_option("--api-url", api_url, "Base URL of the load server")->required();
    app.add_option("--workers", workers, "Search worker threads (0: one per core)")
        ->capture_default_str();
    app.add_option("--poll-timeout", poll_timeout, "getUpdates timeout in seconds")
        ->capture_default_str();
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    setup_logging(parse_log_level(log_level));
    try {
        const std::string token = read_token(token_file);
        set_redacted_secret(token);
        std::vector<document> docs;
        for (const std::string& path : corpus_paths) {
            load_corpus(path, corpus_options{}, docs, [](const load_error& error) {
                spdlog::warn("skipped record {}:{}: {}", error.file, error.line, error.reason);
            });
        }
        if (docs.empty()) {
            throw std::runtime_error("no documents in the corpus");
        }
        const auto index = search_index::make_replaceable(search_index::build(std::move(docs)));

        telegram_options telegram;
        telegram.endpoint.base_url = api_url;
        telegram.endpoint.token = token;
        telegram.poll_timeout = std::chrono::seconds(poll_timeout);
        telegram.workers =
            workers != 0 ? workers : std::max(1u, std::thread::hardware_concurrency());
        telegram.flood.messages_per_second = unlimited_rate;
        telegram.flood.burst = unlimited_rate;
        telegram.flood.chat_messages_per_second = unlimited_rate;
        telegram.flood.chat_burst = unlimited_rate;
        telegram.flood.group_messages = static_cast<std::size_t>(unlimited_rate);
        telegram.user_queries.burst = unlimited_rate;
        telegram.user_queries.queries_per_minute = unlimited_rate;
        return run_telegram_bot(index, telegram);
    } catch (const std::exception& error) {
        spdlog::error("{}", error.what());
        return 1;
    }
}
