// Measures what rendering adds to a search. For every query of a list it times the search alone
// and the whole reply that the bot builds (search, snippets, HTML and the cut into messages),
// for a chat message and for an inline query. It can also write every reply to a file, so that
// the output of two builds can be compared byte for byte.
//
//   render_bench CORPUS QUERIES [--passes N] [--page-size N] [--dump FILE]
//
// CORPUS is any file the server loads. QUERIES has one query per line, as
// bench/peers/prepare.py writes them. The replies come from reply_builder with a page store, as
// in the Telegram bot. The timings cover the reply to a private chat message and the first page
// of an inline query. The dump also contains the second page of every reply with buttons.

#include "core/bot_replies.hpp"
#include "core/corpus_loader.hpp"
#include "core/reply_pages.hpp"
#include "core/search_index.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using bench_clock = std::chrono::steady_clock;

std::string cpu_model() {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line)) {
        if (line.starts_with("model name") && line.find(':') != std::string::npos) {
            return line.substr(line.find(':') + 2);
        }
    }
    return "unknown CPU";
}

std::string compiler_name() {
#if defined(__clang__)
    return std::string("clang ") + __clang_version__;
#else
    return std::string("g++ ") + __VERSION__;
#endif
}

double micros_since(bench_clock::time_point start) {
    return std::chrono::duration<double, std::micro>(bench_clock::now() - start).count();
}

/// CPU time of this process (user and system) in microseconds.
double process_cpu_micros() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const auto micros = [](const timeval& time) {
        return static_cast<double>(time.tv_sec) * 1e6 + static_cast<double>(time.tv_usec);
    };
    return micros(usage.ru_utime) + micros(usage.ru_stime);
}

std::vector<std::string> read_queries(const std::string& path) {
    std::ifstream file(path);
    if (!file) throw std::runtime_error("failed to open the query file " + path);
    std::vector<std::string> queries;
    std::string line;
    while (std::getline(file, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (!line.empty()) queries.push_back(line);
    }
    if (queries.empty()) throw std::runtime_error("the query file " + path + " has no queries");
    return queries;
}

constexpr std::int64_t bench_chat_id = 1000;
constexpr std::int64_t bench_message_id = 77;

tgsearch::incoming_message chat_message(const std::string& query, std::int64_t update_id) {
    tgsearch::incoming_message message;
    message.type = tgsearch::incoming_message::kind::message;
    message.update_id = update_id;
    message.chat_id = bench_chat_id;
    message.message_id = bench_message_id;
    message.chat_type = "private";
    message.user_id = bench_chat_id;
    message.text = query;
    return message;
}

tgsearch::incoming_message inline_query(const std::string& query, std::int64_t update_id) {
    tgsearch::incoming_message message;
    message.type = tgsearch::incoming_message::kind::inline_query;
    message.update_id = update_id;
    message.user_id = bench_chat_id;
    message.query_id = "q" + std::to_string(update_id);
    message.text = query;
    return message;
}

/// The second page of a reply with buttons, as the ▶ button requests it.
tgsearch::incoming_message next_page_press(const tgsearch::outgoing_reply& reply,
                                           std::int64_t update_id) {
    tgsearch::incoming_message message;
    message.type = tgsearch::incoming_message::kind::callback_query;
    message.update_id = update_id;
    message.chat_id = bench_chat_id;
    message.message_id = bench_message_id;
    message.user_id = bench_chat_id;
    message.query_id = "c" + std::to_string(update_id);
    message.text = reply.buttons.back().callback_data;
    return message;
}

/// Returns a line that describes a button, with the random page store key of its callback data
/// left out, so that two runs compare equal.
std::string describe_button(const tgsearch::inline_button& button) {
    const auto request = tgsearch::parse_page_callback_data(button.callback_data);
    const std::string data =
        request ? fmt::format("page {}", request->page) : "unparsed " + button.callback_data;
    return fmt::format("[{}] {}\n", button.text, data);
}

std::string describe_reply(const tgsearch::outgoing_reply& reply) {
    std::string out = fmt::format("type {}\n", static_cast<int>(reply.type));
    out += "html:\n" + reply.html + "\n";
    for (std::size_t i = 0; i < reply.parts.size(); ++i) {
        out += fmt::format("part {}:\n{}\n", i + 1, reply.parts[i]);
    }
    for (const auto& button : reply.buttons) out += describe_button(button);
    if (!reply.callback_text.empty()) out += "callback: " + reply.callback_text + "\n";
    for (const auto& article : reply.articles) {
        out += fmt::format("article {}\ntitle: {}\ndescription: {}\nurl: {}\nmessage:\n{}\n",
                           article.id, article.title, article.description, article.url,
                           article.message_html);
    }
    if (!reply.next_offset.empty()) out += "next offset: " + reply.next_offset + "\n";
    return out;
}

/// Timings of one pass over the queries, in microseconds per query.
struct pass_timing {
    std::vector<double> micros;
    double cpu_micros = 0;  ///< process CPU time of the pass
};

struct summary {
    double mean = 0;
    double p50 = 0;
    double p99 = 0;
    double cpu_mean = 0;
};

summary summarize(pass_timing pass) {
    std::sort(pass.micros.begin(), pass.micros.end());
    summary result;
    for (const double value : pass.micros) result.mean += value;
    const auto count = static_cast<double>(pass.micros.size());
    result.mean /= count;
    result.p50 = pass.micros[pass.micros.size() / 2];
    result.p99 = pass.micros[std::min(pass.micros.size() - 1, pass.micros.size() * 99 / 100)];
    result.cpu_mean = pass.cpu_micros / count;
    return result;
}

/// Runs `step` once for each query index and returns the pass's timings.
template <typename Step>
pass_timing time_pass(const std::vector<std::string>& queries, Step step) {
    pass_timing pass;
    pass.micros.reserve(queries.size());
    const double cpu_start = process_cpu_micros();
    for (std::size_t i = 0; i < queries.size(); ++i) {
        const auto start = bench_clock::now();
        step(i);
        pass.micros.push_back(micros_since(start));
    }
    pass.cpu_micros = process_cpu_micros() - cpu_start;
    return pass;
}

/// Keeps the lowest mean of several passes: the pass least disturbed by other processes.
void keep_best(summary& best, const summary& candidate, bool first) {
    if (first || candidate.mean < best.mean) best = candidate;
}

}  // namespace

int main(int argc, char** argv) {
    std::string corpus_path;
    std::string queries_path;
    std::string dump_path;
    std::size_t passes = 5;
    std::size_t page_size = tgsearch::results_per_reply;
    CLI::App app{"Measures search alone and search plus reply rendering, per query"};
    app.add_option("corpus", corpus_path, "Corpus file, in any format the server loads")
        ->required()
        ->check(CLI::ExistingFile);
    app.add_option("queries", queries_path, "Query file, one query per line")
        ->required()
        ->check(CLI::ExistingFile);
    app.add_option("--passes", passes, "Timed passes over all queries; the fastest is reported")
        ->check(CLI::Range(1, 1000));
    app.add_option("--page-size", page_size, "Results per page, as the bot's --page-size")
        ->check(CLI::Range(std::size_t{1}, tgsearch::max_results_per_page));
    app.add_option("--dump", dump_path, "Write every reply to this file before timing");
    CLI11_PARSE(app, argc, argv);

    try {
        std::vector<tgsearch::document> docs;
        const auto load_start = bench_clock::now();
        tgsearch::load_corpus_file(corpus_path, tgsearch::corpus_format::detect, docs, {});
        const std::size_t doc_count = docs.size();
        const std::shared_ptr<const tgsearch::search_index> index =
            tgsearch::search_index::build(std::move(docs));
        const std::vector<std::string> queries = read_queries(queries_path);
        std::fprintf(stderr, "loaded and indexed %zu documents in %.1f s; %zu queries\n", doc_count,
                     micros_since(load_start) / 1e6, queries.size());

        tgsearch::page_store pages;
        tgsearch::reply_settings settings;
        settings.bot_username = "render_bench_bot";
        settings.bot_id = 1;
        settings.page_size = page_size;
        settings.pages = &pages;
        const tgsearch::reply_builder builder(*index, settings);
        std::int64_t update_id = 1;

        if (!dump_path.empty()) {
            std::ofstream dump(dump_path, std::ios::binary);
            if (!dump) throw std::runtime_error("failed to open the dump file " + dump_path);
            for (std::size_t i = 0; i < queries.size(); ++i) {
                dump << "=== query " << i + 1 << ": " << queries[i] << "\n--- message\n";
                const tgsearch::outgoing_reply reply =
                    builder.reply_to(chat_message(queries[i], update_id++));
                dump << describe_reply(reply);
                if (!reply.buttons.empty()) {
                    dump << "--- next page\n"
                         << describe_reply(builder.reply_to(next_page_press(reply, update_id++)));
                }
                dump << "--- inline\n"
                     << describe_reply(builder.reply_to(inline_query(queries[i], update_id++)));
            }
        }

        // The searches that reply_builder runs: a page of results plus one for a chat message,
        // a prefix search of 50 plus one for an inline query.
        tgsearch::search_options message_options;
        message_options.limit = page_size + 1;
        tgsearch::search_options inline_options;
        inline_options.limit = tgsearch::max_inline_results + 1;
        inline_options.prefix_last = true;

        std::size_t sink = 0;
        summary message_search;
        summary message_reply;
        summary inline_search;
        summary inline_reply;
        for (std::size_t pass = 0; pass < passes; ++pass) {
            const bool first = pass == 0;
            keep_best(
                message_search,
                summarize(time_pass(queries,
                                    [&](std::size_t i) {
                                        sink +=
                                            index->search(queries[i], message_options).hits.size();
                                    })),
                first);
            keep_best(
                message_reply,
                summarize(time_pass(
                    queries,
                    [&](std::size_t i) {
                        sink += builder.reply_to(chat_message(queries[i], update_id++)).html.size();
                    })),
                first);
            keep_best(
                inline_search,
                summarize(time_pass(queries,
                                    [&](std::size_t i) {
                                        sink +=
                                            index->search(queries[i], inline_options).hits.size();
                                    })),
                first);
            keep_best(
                inline_reply,
                summarize(time_pass(
                    queries,
                    [&](std::size_t i) {
                        sink +=
                            builder.reply_to(inline_query(queries[i], update_id++)).articles.size();
                    })),
                first);
        }

        std::printf("%s, %u hardware threads, %s\n", cpu_model().c_str(),
                    std::thread::hardware_concurrency(), compiler_name().c_str());
        std::printf("%zu queries, page size %zu, best of %zu passes (checksum %zu)\n",
                    queries.size(), page_size, passes, sink);
        std::printf("| what | mean µs | p50 µs | p99 µs | CPU µs |\n|---|---|---|---|---|\n");
        const auto row = [](const char* name, const summary& s) {
            std::printf("| %s | %.1f | %.1f | %.1f | %.1f |\n", name, s.mean, s.p50, s.p99,
                        s.cpu_mean);
        };
        row("message: search alone", message_search);
        row("message: search + render", message_reply);
        row("inline: search alone", inline_search);
        row("inline: search + render", inline_reply);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "error: %s\n", error.what());
        return 2;
    }
    return 0;
}
