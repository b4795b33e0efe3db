// Measures index build time, memory and query latency on a JSONL corpus.
//
//   index_bench CORPUS [QUERIES.tsv]
//
// CORPUS is any file the server loads: JSONL or a Telegram export, optionally gzipped.
//
// QUERIES.tsv has a header line and the query in its second tab-separated column; the third,
// when present, lists the expected document ids separated by commas. The program also draws
// queries from the corpus itself: one to three adjacent words of a document, which all occur
// together, and two words from two different documents, which rarely do. The adjacent words
// are also timed as a quoted phrase, as a prefix being typed and with one letter changed, and
// both with pruning and scoring every match. The 2-3 word queries among them are timed alone.
// It also writes the index to a file in the temporary folder and times mapping it back.
// It prints the machine, the numbers, and the top results of a fixed query. When the corpus
// has nginx packages, it exits 1
// unless "nginx reverse proxy" ranks one of them in the top 3.

#include "core/corpus_loader.hpp"
#include "core/index_file.hpp"
#include "core/search_index.hpp"
#include "core/snippet.hpp"
#include "core/text_normalizer.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

using bench_clock = std::chrono::steady_clock;

double seconds_since(bench_clock::time_point start) {
    return std::chrono::duration<double>(bench_clock::now() - start).count();
}

/// Loads a corpus with the project's own loader, so the bench measures what the server does.
std::vector<tgsearch::document> load_corpus(const char* path) {
    std::vector<tgsearch::document> docs;
    try {
        const tgsearch::load_report report = tgsearch::load_corpus_file(
            path, tgsearch::corpus_format::detect, docs, tgsearch::load_error_handler());
        if (report.skipped > 0) {
            std::fprintf(stderr, "warning: skipped %zu malformed records\n", report.skipped);
        }
    } catch (const std::exception& error) {
        std::fprintf(stderr, "error: %s\n", error.what());
        std::exit(2);
    }
    return docs;
}

/// Returns a field of /proc/self/status in KiB, such as "VmRSS" or "VmHWM", or 0.
std::size_t proc_status_kib(std::string_view field) {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.compare(0, field.size(), field) == 0 && line.size() > field.size() &&
            line[field.size()] == ':') {
            return std::stoul(line.substr(field.size() + 1));
        }
    }
    return 0;
}

std::string cpu_model() {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line)) {
        if (line.rfind("model name", 0) == 0) {
            const auto colon = line.find(':');
            if (colon != std::string::npos) return line.substr(colon + 2);
        }
    }
    return "unknown";
}

struct sample_query {
    std::string text;
    std::vector<std::string> expected_ids;
};

std::vector<sample_query> load_queries(const char* path) {
    std::ifstream input(path);
    if (!input) {
        std::fprintf(stderr, "error: cannot open queries %s\n", path);
        std::exit(2);
    }
    std::vector<sample_query> queries;
    std::string line;
    std::getline(input, line);  // header
    while (std::getline(input, line)) {
        std::vector<std::string> columns;
        std::stringstream fields(line);
        std::string field;
        while (std::getline(fields, field, '\t')) columns.push_back(field);
        if (columns.size() < 2 || columns[1].empty()) continue;
        sample_query query{columns[1], {}};
        if (columns.size() > 2) {
            std::stringstream ids(columns[2]);
            while (std::getline(ids, field, ',')) {
                if (!field.empty()) query.expected_ids.push_back(field);
            }
        }
        queries.push_back(std::move(query));
    }
    return queries;
}

/// Draws queries of one to three adjacent words from random documents.
std::vector<std::string> corpus_queries(const tgsearch::search_index& index, std::size_t count) {
    std::mt19937 random(12345);
    std::vector<std::string> queries;
    std::vector<tgsearch::token> tokens;
    while (queries.size() < count) {
        const auto doc = static_cast<std::uint32_t>(random() % index.document_count());
        const std::string_view text = index.document_at(doc).text;
        tokens.clear();
        tgsearch::tokenize(text, tokens);
        if (tokens.empty()) continue;
        const std::size_t words = 1 + random() % 3;
        const std::size_t first = random() % tokens.size();
        const std::size_t last = std::min(tokens.size() - 1, first + words - 1);
        std::string query;
        for (std::size_t i = first; i <= last; ++i) {
            if (!query.empty()) query += ' ';
            query += text.substr(tokens[i].begin, tokens[i].end - tokens[i].begin);
        }
        queries.push_back(std::move(query));
    }
    return queries;
}

struct latency_summary {
    double p50 = 0;
    double p90 = 0;
    double p99 = 0;
    double max = 0;
    double mean = 0;
};

latency_summary summarize(std::vector<double> micros) {
    latency_summary summary;
    if (micros.empty()) return summary;
    std::sort(micros.begin(), micros.end());
    const auto at = [&](double fraction) {
        const auto rank = static_cast<std::size_t>(fraction * static_cast<double>(micros.size()));
        return micros[std::min(rank, micros.size() - 1)];
    };
    summary.p50 = at(0.50);
    summary.p90 = at(0.90);
    summary.p99 = at(0.99);
    summary.max = micros.back();
    double total = 0;
    for (const double value : micros) total += value;
    summary.mean = total / static_cast<double>(micros.size());
    return summary;
}

void print_latency(const char* label, std::size_t count, const latency_summary& summary) {
    std::printf(
        "%-28s n=%-6zu p50=%8.1f us  p90=%8.1f us  p99=%8.1f us  max=%8.1f us  "
        "mean=%8.1f us\n",
        label, count, summary.p50, summary.p90, summary.p99, summary.max, summary.mean);
}

/// Draws queries of two words, each from a different random document.
std::vector<std::string> scattered_queries(const tgsearch::search_index& index, std::size_t count) {
    std::mt19937 random(54321);
    std::vector<std::string> queries;
    std::vector<tgsearch::token> tokens;
    std::string query;
    while (queries.size() < count) {
        const auto doc = static_cast<std::uint32_t>(random() % index.document_count());
        const std::string_view text = index.document_at(doc).text;
        tokens.clear();
        tgsearch::tokenize(text, tokens);
        if (tokens.empty()) continue;
        const tgsearch::token& word = tokens[random() % tokens.size()];
        if (!query.empty()) query += ' ';
        query += text.substr(word.begin, word.end - word.begin);
        if (query.find(' ') != std::string::npos) queries.push_back(std::exchange(query, {}));
    }
    return queries;
}

/// Returns each query in double quotes.
std::vector<std::string> quoted(const std::vector<std::string>& queries) {
    std::vector<std::string> result;
    for (const std::string& query : queries) result.push_back('"' + query + '"');
    return result;
}

/// Returns each query cut inside its last word, as while typing it: the first half of the
/// word's bytes, moved back to the start of a UTF-8 sequence, and at least one byte.
std::vector<std::string> typed_prefixes(const std::vector<std::string>& queries) {
    std::vector<std::string> result;
    for (const std::string& query : queries) {
        const std::size_t word_start =
            query.rfind(' ') == std::string::npos ? 0 : query.rfind(' ') + 1;
        std::size_t cut = word_start + std::max<std::size_t>(1, (query.size() - word_start) / 2);
        while (cut > word_start + 1 && (static_cast<unsigned char>(query[cut]) & 0xC0) == 0x80) {
            --cut;
        }
        result.push_back(query.substr(0, cut));
    }
    return result;
}

/// Returns each query with one random lowercase ASCII letter replaced by another. Most such
/// words are unknown, so typo correction runs.
std::vector<std::string> misspelled(const std::vector<std::string>& queries) {
    std::vector<std::string> result;
    std::mt19937 random(777);
    for (std::string query : queries) {
        std::vector<std::size_t> letters;
        for (std::size_t i = 0; i < query.size(); ++i) {
            if (query[i] >= 'a' && query[i] <= 'z') letters.push_back(i);
        }
        if (!letters.empty()) {
            const std::size_t at = letters[random() % letters.size()];
            query[at] = static_cast<char>('a' + (query[at] - 'a' + 1 + random() % 25) % 26);
        }
        result.push_back(std::move(query));
    }
    return result;
}

/// Runs every query once, timing each search alone, and returns the latencies in µs.
std::vector<double> time_queries(const tgsearch::search_index& index,
                                 const std::vector<std::string>& queries,
                                 const tgsearch::search_options& options) {
    std::vector<double> micros;
    micros.reserve(queries.size());
    std::size_t sink = 0;
    for (const std::string& query : queries) {
        const auto start = bench_clock::now();
        const auto hits = index.search(query, options).hits;
        micros.push_back(seconds_since(start) * 1e6);
        sink += hits.size();
    }
    if (sink == static_cast<std::size_t>(-1)) std::puts("");
    return micros;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3) {
        std::fprintf(stderr, "usage: %s CORPUS [QUERIES.tsv]\n", argv[0]);
        return 2;
    }
    constexpr std::size_t results_limit = 10;
    constexpr std::size_t snippet_chars = 200;

    std::printf("cpu: %s, %u hardware threads\n", cpu_model().c_str(),
                std::thread::hardware_concurrency());
    std::printf("compiler: g++ %s%s\n", __VERSION__,
#ifdef NDEBUG
                ", NDEBUG"
#else
                ", assertions on"
#endif
    );

    auto start = bench_clock::now();
    std::vector<tgsearch::document> docs = load_corpus(argv[1]);
    std::size_t text_bytes = 0;
    for (const auto& doc : docs) text_bytes += doc.title.size() + doc.text.size();
    std::printf("load: %zu documents, %.1f MB of title+text in %.2f s, RSS %.1f MB\n", docs.size(),
                static_cast<double>(text_bytes) / 1e6, seconds_since(start),
                static_cast<double>(proc_status_kib("VmRSS")) / 1024.0);
    if (docs.empty()) {
        std::fprintf(stderr, "error: corpus %s has no documents\n", argv[1]);
        return 2;
    }

    start = bench_clock::now();
    const auto index = tgsearch::search_index::build(std::move(docs));
    const double build_seconds = seconds_since(start);
    std::printf("build: %zu documents, %zu terms in %.2f s, %.1f MB/s of title+text\n",
                index->document_count(), index->term_count(), build_seconds,
                static_cast<double>(text_bytes) / 1e6 / build_seconds);
    // The documents' share of memory_bytes: their fields, at least three length bytes and
    // one offset each.
    std::size_t document_bytes = (index->document_count() + 1) * sizeof(std::uint64_t);
    for (std::uint32_t doc = 0; doc < index->document_count(); ++doc) {
        const tgsearch::document_view stored = index->document_at(doc);
        document_bytes +=
            stored.id.size() + stored.title.size() + stored.text.size() + stored.url.size() + 3;
    }
    std::printf(
        "memory_bytes: %.1f MB (documents %.1f MB, index %.1f MB), %.2f x title+text; "
        "RSS %.1f MB, peak RSS %.1f MB\n",
        static_cast<double>(index->memory_bytes()) / 1e6, static_cast<double>(document_bytes) / 1e6,
        static_cast<double>(index->memory_bytes() - document_bytes) / 1e6,
        static_cast<double>(index->memory_bytes()) / static_cast<double>(text_bytes),
        static_cast<double>(proc_status_kib("VmRSS")) / 1024.0,
        static_cast<double>(proc_status_kib("VmHWM")) / 1024.0);

    // Index file: write it, then map it as `tgsearch --index` does. The page cache contains the
    // file after writing, so the load time excludes reading from disk.
    {
        const std::string index_path =
            (std::filesystem::temp_directory_path() / "index_bench.idx").string();
        start = bench_clock::now();
        tgsearch::write_index_file(*index, index_path);
        const double write_seconds = seconds_since(start);
        start = bench_clock::now();
        const auto loaded = tgsearch::load_index_file(index_path);
        const double load_seconds = seconds_since(start);
        std::printf(
            "index file: %.1f MB written in %.2f s (with fsync), loaded in %.3f s (%.0f x faster "
            "than building), %.1f MB of heap besides the mapping\n",
            static_cast<double>(loaded->mapped_bytes()) / 1e6, write_seconds, load_seconds,
            build_seconds / load_seconds, static_cast<double>(loaded->memory_bytes()) / 1e6);
        std::filesystem::remove(index_path);
    }

    // Latency: the sample queries repeated, then queries drawn from the corpus.
    std::vector<sample_query> samples;
    if (argc == 3) samples = load_queries(argv[2]);
    std::vector<std::string> sample_texts;
    constexpr std::size_t timed_queries = 3000;
    while (!samples.empty() && sample_texts.size() < timed_queries) {
        for (const auto& sample : samples) sample_texts.push_back(sample.text);
    }
    tgsearch::search_options options;
    options.limit = results_limit;
    tgsearch::search_options exhaustive = options;
    exhaustive.exhaustive = true;
    tgsearch::search_options typing = options;
    typing.prefix_last = true;
    const std::vector<std::string> drawn = corpus_queries(*index, timed_queries);
    time_queries(*index, drawn, options);  // warm caches
    if (!sample_texts.empty()) {
        const auto micros = time_queries(*index, sample_texts, options);
        print_latency("search, sample queries", micros.size(), summarize(micros));
    }
    const auto time_and_print = [&](const char* label, const std::vector<std::string>& queries,
                                    const tgsearch::search_options& with) {
        const auto micros = time_queries(*index, queries, with);
        print_latency(label, micros.size(), summarize(micros));
    };
    time_and_print("search, corpus words", drawn, options);
    time_and_print("  same, every match scored", drawn, exhaustive);
    std::vector<std::string> several_words;
    for (const std::string& query : drawn) {
        if (query.find(' ') != std::string::npos) several_words.push_back(query);
    }
    time_and_print("  of them 2-3 words", several_words, options);
    const std::vector<std::string> scattered = scattered_queries(*index, timed_queries);
    time_and_print("search, scattered words", scattered, options);
    time_and_print("  same, every match scored", scattered, exhaustive);
    time_and_print("search, quoted corpus words", quoted(drawn), options);
    time_and_print("search, last word half typed", typed_prefixes(drawn), typing);
    time_and_print("search, one letter changed", misspelled(drawn), options);
    {
        std::vector<double> micros;
        tgsearch::search_options top5 = options;
        top5.limit = 5;
        for (const std::string& query : drawn) {
            const auto terms = tgsearch::query_terms(query);
            for (const auto& hit : index->search(query, top5).hits) {
                const auto snippet_start = bench_clock::now();
                const std::string html = tgsearch::make_snippet_html(
                    index->document_at(hit.doc).text, terms, snippet_chars);
                micros.push_back(seconds_since(snippet_start) * 1e6);
            }
        }
        print_latency("snippet, 200 chars", micros.size(), summarize(micros));
    }

    // Recall@10 over the sample queries whose expected documents are in this corpus.
    if (!samples.empty()) {
        std::unordered_map<std::string_view, std::uint32_t> doc_by_id;
        for (std::uint32_t doc = 0; doc < index->document_count(); ++doc) {
            doc_by_id.emplace(index->document_at(doc).id, doc);
        }
        std::size_t judged = 0;
        std::size_t found = 0;
        for (const auto& sample : samples) {
            bool any_expected = false;
            for (const auto& id : sample.expected_ids) any_expected |= doc_by_id.count(id) > 0;
            if (!any_expected) continue;
            ++judged;
            bool hit_expected = false;
            for (const auto& hit : index->search(sample.text, options).hits) {
                const std::string_view id = index->document_at(hit.doc).id;
                hit_expected |= std::find(sample.expected_ids.begin(), sample.expected_ids.end(),
                                          id) != sample.expected_ids.end();
            }
            if (hit_expected) {
                ++found;
            } else {
                std::printf("  no expected document in top 10: %s\n", sample.text.c_str());
            }
        }
        std::printf("recall@10: %zu of %zu sample queries with expected documents here\n", found,
                    judged);
    }

    // Ranking check: an nginx package must be in the top 3 for this query.
    const std::string_view check_query = "nginx reverse proxy";
    const std::string_view nginx_prefix = "debian:en:nginx";
    bool corpus_has_nginx = false;
    for (std::uint32_t doc = 0; doc < index->document_count() && !corpus_has_nginx; ++doc) {
        corpus_has_nginx = index->document_at(doc).id.rfind(nginx_prefix, 0) == 0;
    }
    tgsearch::search_options top5 = options;
    top5.limit = 5;
    const auto hits = index->search(check_query, top5).hits;
    std::printf("top 5 for \"%.*s\":\n", static_cast<int>(check_query.size()), check_query.data());
    bool nginx_in_top3 = false;
    for (std::size_t rank = 0; rank < hits.size(); ++rank) {
        const tgsearch::document_view doc = index->document_at(hits[rank].doc);
        std::printf("  %zu. %-32.*s matched=%u score=%.3f  %.*s\n", rank + 1,
                    static_cast<int>(doc.id.size()), doc.id.data(), hits[rank].matched_words,
                    static_cast<double>(hits[rank].score), static_cast<int>(doc.title.size()),
                    doc.title.data());
        if (rank < 3 && doc.id.rfind(nginx_prefix, 0) == 0) nginx_in_top3 = true;
    }
    if (corpus_has_nginx) {
        std::printf("check: nginx package in top 3: %s\n", nginx_in_top3 ? "yes" : "NO");
        if (!nginx_in_top3) return 1;
    }
    return 0;
}
