// Measures tgsearch's index side by side with Xapian and SQLite FTS5 on the same corpus and the
// same queries, and prints a Markdown report. bench/search.sh builds and runs it and writes the
// report into docs/benchmarks.md.
//
// All three engines index the terms that tgsearch's `tokenize` produces, so they see identical
// words: Xapian receives them as terms, FTS5 as text of space-separated terms that its tokenizer
// splits only at spaces. Titles count three times in all three (tgsearch's title_boost, a wdf
// increment of 3 in Xapian, a column weight of 3.0 in FTS5's bm25()).

#include "core/corpus_loader.hpp"
#include "core/search_index.hpp"
#include "core/text_normalizer.hpp"

#include <fmt/format.h>
#include <sqlite3.h>
#include <xapian.h>
#include <CLI/CLI.hpp>

#include <malloc.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace {

using bench_clock = std::chrono::steady_clock;
using doc_list = std::vector<std::uint32_t>;  // document numbers, best first

/// Xapian's glass backend rejects longer terms, so such terms are left out of its index.
constexpr std::size_t xapian_max_term_bytes = 245;
constexpr std::size_t top_k = 10;
constexpr unsigned title_weight = 3;  // times a title term counts, as tgsearch's title_boost

double seconds_since(bench_clock::time_point start) {
    return std::chrono::duration<double>(bench_clock::now() - start).count();
}

// ---------------------------------------------------------------------------------------------
// Machine description, quiet wait and memory

std::string cpu_model() {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line)) {
        if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
            return line.substr(line.find(':') + 2);
        }
    }
    return "unknown CPU";
}

std::string compiler_name() {
#if defined(__clang__)
    return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    return std::string("g++ ") + __VERSION__;
#else
    return "unknown compiler";
#endif
}

/// Returns the "some avg10" CPU pressure in percent, or nullopt where the kernel has no PSI.
std::optional<double> cpu_pressure() {
    std::ifstream pressure("/proc/pressure/cpu");
    std::string word;
    while (pressure >> word) {
        if (word.rfind("avg10=", 0) == 0) return std::atof(word.c_str() + 6);
    }
    return std::nullopt;
}

/// Waits until CPU pressure drops below `threshold` percent or `timeout_s` seconds pass, and
/// returns the pressure when measuring starts.
std::optional<double> wait_for_quiet(double threshold, double timeout_s) {
    const auto start = bench_clock::now();
    for (;;) {
        const auto pressure = cpu_pressure();
        if (!pressure || *pressure < threshold || seconds_since(start) > timeout_s) return pressure;
        std::fprintf(stderr, "waiting for a quiet machine: cpu pressure avg10=%.1f%%\n", *pressure);
        std::this_thread::sleep_for(std::chrono::seconds(5));
    }
}

/// Resident set size of this process in bytes, from /proc/self/status.
double rss_bytes() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) * 1024.0;
    }
    return 0;
}

/// Bytes of malloc heap in use, including chunks served by mmap.
double heap_bytes() {
    const struct mallinfo2 info = mallinfo2();
    return static_cast<double>(info.uordblks + info.hblkhd);
}

/// Memory taken by one build: the growth of RSS and of the malloc heap in use. Freed memory is
/// returned to the kernel first, so earlier phases inflate the RSS baseline as little as
/// possible. Both are estimates, because the allocator may still reuse pages kept from before.
struct memory_probe {
    double rss_before;
    double heap_before;
    memory_probe() : rss_before((malloc_trim(0), rss_bytes())), heap_before(heap_bytes()) {}
    double rss_growth() const { return rss_bytes() - rss_before; }
    double heap_growth() const { return heap_bytes() - heap_before; }
};

// ---------------------------------------------------------------------------------------------
// Corpus, terms and queries

struct corpus {
    std::string name;
    std::vector<tgsearch::document> docs;
    double text_bytes = 0;  ///< bytes of title and text
};

corpus load_corpus(const std::filesystem::path& path) {
    corpus loaded{path.filename().string(), {}, 0};
    const tgsearch::load_report report =
        tgsearch::load_corpus_file(path, tgsearch::corpus_format::detect, loaded.docs, {});
    if (report.skipped > 0) {
        std::fprintf(stderr, "warning: %s: skipped %zu malformed records\n", loaded.name.c_str(),
                     report.skipped);
    }
    for (const auto& doc : loaded.docs) loaded.text_bytes += doc.title.size() + doc.text.size();
    return loaded;
}

/// Appends the normalized terms of `text` to `terms`, alternatives included, as tgsearch
/// indexes them.
void append_terms(std::string_view text, std::vector<tgsearch::token>& scratch,
                  std::vector<std::string>& terms) {
    scratch.clear();
    tgsearch::tokenize(text, scratch);
    for (auto& token : scratch) terms.push_back(std::move(token.term));
}

/// True when a query made of `term` alone parses to exactly that term, so tgsearch, Xapian and
/// FTS5 all search the same single term for it.
bool is_plain_term(const std::string& term) {
    if (term.size() > xapian_max_term_bytes) return false;
    std::vector<tgsearch::token> tokens;
    tgsearch::tokenize(term, tokens);
    return tokens.size() == 1 && tokens[0].term == term;
}

/// One benchmark query: 1 to 3 distinct terms, all of them in at least one common document.
struct bench_query {
    std::vector<std::string> terms;
    std::string text;  ///< the terms joined by spaces, as tgsearch receives them
};

/// Draws `count` queries: a random document, then 1 to 3 distinct plain terms of it that occur
/// in at most `max_df` of all documents. Because all words come from one document, every AND
/// query has at least one match.
std::vector<bench_query> draw_queries(const corpus& source, std::size_t count, double max_df,
                                      unsigned seed) {
    std::unordered_map<std::string, std::uint32_t> document_frequency;
    std::vector<tgsearch::token> scratch;
    std::vector<std::string> terms;
    std::vector<std::vector<std::string>> doc_terms(source.docs.size());
    for (std::size_t doc = 0; doc < source.docs.size(); ++doc) {
        terms.clear();
        append_terms(source.docs[doc].title, scratch, terms);
        append_terms(source.docs[doc].text, scratch, terms);
        std::sort(terms.begin(), terms.end());
        terms.erase(std::unique(terms.begin(), terms.end()), terms.end());
        for (const auto& term : terms) ++document_frequency[term];
        doc_terms[doc] = terms;
    }
    const double df_limit = max_df * static_cast<double>(source.docs.size());
    std::unordered_map<std::string, bool> plain;
    std::mt19937 random(seed);
    std::vector<bench_query> queries;
    std::size_t attempts = 0;
    while (queries.size() < count && ++attempts < count * 100) {
        const auto& candidates = doc_terms[random() % doc_terms.size()];
        std::vector<std::string> eligible;
        for (const auto& term : candidates) {
            auto [slot, inserted] = plain.try_emplace(term, false);
            if (inserted) slot->second = is_plain_term(term);
            if (slot->second && document_frequency[term] <= df_limit) eligible.push_back(term);
        }
        const std::size_t words = 1 + random() % 3;
        if (eligible.size() < words) continue;
        std::shuffle(eligible.begin(), eligible.end(), random);
        bench_query query;
        query.terms.assign(eligible.begin(), eligible.begin() + static_cast<long>(words));
        for (const auto& term : query.terms) query.text += (query.text.empty() ? "" : " ") + term;
        queries.push_back(std::move(query));
    }
    return queries;
}

enum class match_mode { all_words, any_word };

/// Queries each engine runs in a row in the warm-cache latency measurement.
constexpr std::size_t warm_run = 100;

// ---------------------------------------------------------------------------------------------
// Engines. Each has build(), a per-thread searcher, and search(query, mode) returning up to 10
// document numbers (positions in the corpus) best first.

/// tgsearch searches AND with search_options::match_all, and OR with its default ranking, in
/// which documents that match all words come before those that match some.
struct tgsearch_engine {
    std::shared_ptr<const tgsearch::search_index> index;

    void build(const std::vector<tgsearch::document>& docs) {
        index = tgsearch::search_index::build(docs);
    }
    struct searcher {
        const tgsearch::search_index* index;
        doc_list search(const bench_query& query, match_mode mode) const {
            tgsearch::search_options options;
            options.limit = top_k;
            options.correct_typos = false;
            options.match_all = mode == match_mode::all_words;
            doc_list result;
            for (const auto& hit : index->search(query.text, options).hits) {
                if (mode == match_mode::all_words && hit.matched_words < query.terms.size()) break;
                result.push_back(hit.doc);
            }
            return result;
        }
    };
    searcher make_searcher() const { return {index.get()}; }
};

/// Xapian with a glass database in a temporary directory, which is removed on destruction.
struct xapian_engine {
    std::filesystem::path directory;

    void build(const std::vector<tgsearch::document>& docs) {
        std::string pattern = (std::filesystem::temp_directory_path() / "search_bench.XXXXXX");
        if (mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("cannot create a temporary directory from " + pattern);
        }
        directory = pattern;
        // Without fsync, as the other two engines never write to disk.
        Xapian::WritableDatabase db(directory.string(),
                                    Xapian::DB_CREATE_OR_OVERWRITE | Xapian::DB_NO_SYNC);
        std::vector<tgsearch::token> scratch;
        std::vector<std::string> terms;
        for (std::size_t doc = 0; doc < docs.size(); ++doc) {
            Xapian::Document entry;
            terms.clear();
            append_terms(docs[doc].title, scratch, terms);
            for (const auto& term : terms) {
                if (term.size() <= xapian_max_term_bytes) entry.add_term(term, title_weight);
            }
            terms.clear();
            append_terms(docs[doc].text, scratch, terms);
            for (const auto& term : terms) {
                if (term.size() <= xapian_max_term_bytes) entry.add_term(term, 1);
            }
            db.replace_document(static_cast<Xapian::docid>(doc + 1), entry);
        }
        db.commit();
        db.close();
    }
    double disk_bytes() const {
        double total = 0;
        for (const auto& entry : std::filesystem::directory_iterator(directory)) {
            if (entry.is_regular_file()) total += static_cast<double>(entry.file_size());
        }
        return total;
    }
    ~xapian_engine() {
        std::error_code ignored;
        if (!directory.empty()) std::filesystem::remove_all(directory, ignored);
    }

    struct searcher {
        Xapian::Database db;
        Xapian::Enquire enquire;
        explicit searcher(const std::string& path) : db(path), enquire(db) {
            // k1 = 1.2 and b = 0.75 as in tgsearch; k2 = 0, k3 = 1 and min_normlen = 0.5 are
            // Xapian's defaults.
            enquire.set_weighting_scheme(Xapian::BM25Weight(1.2, 0, 1, 0.75, 0.5));
        }
        doc_list search(const bench_query& query, match_mode mode) {
            const auto op =
                mode == match_mode::all_words ? Xapian::Query::OP_AND : Xapian::Query::OP_OR;
            enquire.set_query(Xapian::Query(op, query.terms.begin(), query.terms.end()));
            const Xapian::MSet matches = enquire.get_mset(0, top_k);
            doc_list result;
            for (auto it = matches.begin(); it != matches.end(); ++it) result.push_back(*it - 1);
            return result;
        }
    };
    std::unique_ptr<searcher> make_searcher() const {
        return std::make_unique<searcher>(directory.string());
    }
};

void check_sqlite(int code, sqlite3* db, const char* operation) {
    if (code != SQLITE_OK && code != SQLITE_DONE && code != SQLITE_ROW) {
        throw std::runtime_error(fmt::format("sqlite: {} failed: {}", operation,
                                             db ? sqlite3_errmsg(db) : sqlite3_errstr(code)));
    }
}

sqlite3* open_memory_db() {
    sqlite3* db = nullptr;
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    check_sqlite(sqlite3_open_v2(":memory:", &db, flags, nullptr), db, "open :memory:");
    return db;
}

/// Returns `term` in FTS5 double quotes, so that FTS5 reads it as one string and never as an
/// operator or column filter.
std::string fts5_quoted(const std::string& term) {
    std::string quoted = "\"";
    for (const char c : term) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    return quoted + '"';
}

/// SQLite FTS5 in an in-memory database. Each searcher thread gets its own copy through
/// sqlite3_serialize and sqlite3_deserialize, because an in-memory database belongs to one
/// connection, and a shared-cache one would serialize the readers.
struct fts5_engine {
    sqlite3* db = nullptr;

    void build(const std::vector<tgsearch::document>& docs) {
        db = open_memory_db();
        // The text contains tgsearch's terms separated by spaces, so every character except
        // separators (Z*) and controls (Cc) is made a token character.
        check_sqlite(sqlite3_exec(db,
                                  "CREATE VIRTUAL TABLE t USING fts5(title, text, tokenize = "
                                  "\"unicode61 remove_diacritics 0 categories "
                                  "'L* N* M* P* S* Co Cf Cn Cs'\");"
                                  "INSERT INTO t(t, rank) VALUES('rank', 'bm25(3.0, 1.0)');"
                                  "BEGIN;",
                                  nullptr, nullptr, nullptr),
                     db, "create the FTS5 table");
        sqlite3_stmt* insert = nullptr;
        check_sqlite(sqlite3_prepare_v2(db, "INSERT INTO t(rowid, title, text) VALUES(?, ?, ?)", -1,
                                        &insert, nullptr),
                     db, "prepare insert");

        std::vector<tgsearch::token> scratch;
        std::vector<std::string> terms;
        std::string title;
        std::string text;
        const auto join = [&](std::string_view source, std::string& out) {
            terms.clear();
            append_terms(source, scratch, terms);
            out.clear();
            for (const auto& term : terms) (out += term) += ' ';
        };

        for (std::size_t doc = 0; doc < docs.size(); ++doc) {
            join(docs[doc].title, title);
            join(docs[doc].text, text);
            sqlite3_bind_int64(insert, 1, static_cast<sqlite3_int64>(doc + 1));
            sqlite3_bind_text(insert, 2, title.data(), static_cast<int>(title.size()),
                              SQLITE_STATIC);
            sqlite3_bind_text(insert, 3, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
            check_sqlite(sqlite3_step(insert), db, "insert a document");
            sqlite3_reset(insert);
        }
        sqlite3_finalize(insert);

        // Merging the segments into one is what a static index would do before serving.
        check_sqlite(sqlite3_exec(db, "COMMIT; INSERT INTO t(t) VALUES('optimize');", nullptr,
                                  nullptr, nullptr),
                     db, "commit and optimize");
    }
    double database_bytes() const {
        sqlite3_int64 size = 0;
        sqlite3_free(sqlite3_serialize(db, "main", &size, 0));
        return static_cast<double>(size);
    }
    ~fts5_engine() { sqlite3_close(db); }

    struct searcher {
        sqlite3* db = nullptr;
        bool owns_db = false;
        sqlite3_stmt* select = nullptr;
        searcher(sqlite3* connection, bool owns) : db(connection), owns_db(owns) {
            check_sqlite(
                sqlite3_prepare_v2(db, "SELECT rowid FROM t WHERE t MATCH ? ORDER BY rank LIMIT 10",
                                   -1, &select, nullptr),
                db, "prepare select");
        }
        ~searcher() {
            sqlite3_finalize(select);
            if (owns_db) sqlite3_close(db);
        }
        searcher(const searcher&) = delete;
        searcher& operator=(const searcher&) = delete;
        doc_list search(const bench_query& query, match_mode mode) {
            std::string expression;
            const char* joiner = mode == match_mode::all_words ? " AND " : " OR ";
            for (const auto& term : query.terms) {
                if (!expression.empty()) expression += joiner;
                expression += fts5_quoted(term);
            }
            sqlite3_bind_text(select, 1, expression.data(), static_cast<int>(expression.size()),
                              SQLITE_STATIC);
            doc_list result;
            while (sqlite3_step(select) == SQLITE_ROW) {
                result.push_back(static_cast<std::uint32_t>(sqlite3_column_int64(select, 0) - 1));
            }
            sqlite3_reset(select);
            return result;
        }
    };
    /// Returns a searcher on the build connection, for use by one thread only.
    std::unique_ptr<searcher> make_searcher() const {
        return std::make_unique<searcher>(db, false);
    }
    /// Returns a searcher on a private copy of the database, for another thread.
    std::unique_ptr<searcher> make_copy_searcher() const {
        sqlite3_int64 size = 0;
        unsigned char* image = sqlite3_serialize(db, "main", &size, 0);
        if (image == nullptr) throw std::runtime_error("sqlite: serialize failed");
        sqlite3* copy = open_memory_db();
        check_sqlite(
            sqlite3_deserialize(copy, "main", image, size, size,
                                SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE),
            copy, "deserialize");
        return std::make_unique<searcher>(copy, true);
    }
};

// ---------------------------------------------------------------------------------------------
// Measuring

struct latency_summary {
    double p50_us = 0;
    double p99_us = 0;
};

latency_summary summarize(std::vector<double> micros) {
    if (micros.empty()) return {};
    std::sort(micros.begin(), micros.end());
    const auto at = [&](double fraction) {
        const auto rank = static_cast<std::size_t>(fraction * static_cast<double>(micros.size()));
        return micros[std::min(rank, micros.size() - 1)];
    };
    return {at(0.50), at(0.99)};
}

constexpr std::size_t engine_count = 3;
constexpr const char* engine_names[engine_count] = {"tgsearch", "Xapian", "SQLite FTS5"};

struct engine_row {
    double build_seconds = 0;
    double rss_growth = 0;
    double heap_growth = 0;
    std::string size_note;
    latency_summary latency[2];       ///< by match_mode, engines taking turns query by query
    latency_summary warm_latency[2];  ///< by match_mode, each engine running a run of queries
    double qps[2] = {0, 0};           ///< by match_mode, all threads
    double mean_results[2] = {0, 0};
    double overlap[2] = {0, 0};  ///< mean top-10 overlap with tgsearch, by match_mode
};

/// Returns |a ∩ b| divided by the larger of the two sizes, which is 10 whenever either engine
/// returned a full top 10. Returns nullopt when both are empty.
std::optional<double> overlap_of(const doc_list& a, const doc_list& b) {
    const std::size_t larger = std::max(a.size(), b.size());
    if (larger == 0) return std::nullopt;
    std::size_t shared = 0;
    for (const auto doc : a) shared += std::count(b.begin(), b.end(), doc);
    return static_cast<double>(shared) / static_cast<double>(larger);
}

/// Runs every query on every thread, each thread starting at a different query, and returns the
/// queries per second over all threads. `make` builds one searcher per thread.
template <typename make_searcher>
double measure_qps(const std::vector<bench_query>& queries, match_mode mode, unsigned threads,
                   make_searcher make) {
    std::vector<decltype(make())> searchers;
    for (unsigned i = 0; i < threads; ++i) searchers.push_back(make());
    std::vector<std::thread> workers;
    std::vector<std::size_t> sinks(threads);
    const auto start = bench_clock::now();
    for (unsigned i = 0; i < threads; ++i) {
        workers.emplace_back([&, i] {
            for (std::size_t n = 0; n < queries.size(); ++n) {
                const auto& query = queries[(n + i * queries.size() / threads) % queries.size()];
                sinks[i] += searchers[i]->search(query, mode).size();
            }
        });
    }
    for (auto& worker : workers) worker.join();
    return static_cast<double>(queries.size() * threads) / seconds_since(start);
}

struct options {
    std::vector<std::string> corpora;
    std::size_t queries = 2000;
    std::string sample;
    std::string recall_corpora;
    double max_df = 0.2;
    unsigned seed = 20240607;
    unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    double quiet_threshold = 10.0;
    double quiet_timeout = 600.0;
    std::string commit = "unknown";
    std::string output;
};

std::string megabytes(double bytes) { return fmt::format("{:.1f} MB", bytes / 1e6); }

/// Returns " (2.08x)", the ratio of `value` to `reference`, with two significant digits below 0.1.
std::string ratio_note(double value, double reference) {
    if (reference <= 0) return {};
    const double ratio = value / reference;
    return ratio < 0.1 ? fmt::format(" ({:.2g}x)", ratio) : fmt::format(" ({:.2f}x)", ratio);
}

/// Builds the three engines on one corpus, runs the queries and appends the report section.
void bench_corpus(const options& o, const std::string& path, std::string& report) {
    const corpus source = load_corpus(path);
    if (source.docs.empty()) throw std::runtime_error("corpus " + path + " has no documents");
    std::fprintf(stderr, "%s: %zu documents, drawing queries\n", source.name.c_str(),
                 source.docs.size());
    const std::vector<bench_query> queries = draw_queries(source, o.queries, o.max_df, o.seed);
    if (queries.empty()) {
        throw std::runtime_error("no query could be drawn from " + path +
                                 ": raise --max-df or use a larger corpus");
    }
    if (queries.size() < o.queries) {
        std::fprintf(stderr, "warning: %s: drew only %zu of %zu queries\n", source.name.c_str(),
                     queries.size(), o.queries);
    }

    // Tokenizing alone, which every build below includes.
    auto start = bench_clock::now();
    {
        std::vector<tgsearch::token> scratch;
        std::vector<std::string> terms;
        for (const auto& doc : source.docs) {
            terms.clear();
            append_terms(doc.title, scratch, terms);
            append_terms(doc.text, scratch, terms);
        }
    }
    const double tokenize_seconds = seconds_since(start);

    engine_row rows[engine_count];
    tgsearch_engine tgsearch;
    xapian_engine xapian;
    fts5_engine fts5;
    const auto timed_build = [&](engine_row& row, auto& engine) {
        std::fprintf(stderr, "%s: building\n", source.name.c_str());
        const memory_probe probe;
        const auto build_start = bench_clock::now();
        engine.build(source.docs);
        row.build_seconds = seconds_since(build_start);
        row.rss_growth = probe.rss_growth();
        row.heap_growth = probe.heap_growth();
    };
    timed_build(rows[0], tgsearch);
    rows[0].size_note = "memory_bytes() " + megabytes(tgsearch.index->memory_bytes()) +
                        ", which includes a copy of the documents";
    timed_build(rows[1], xapian);
    rows[1].size_note = "glass database on disk " + megabytes(xapian.disk_bytes());
    timed_build(rows[2], fts5);
    rows[2].size_note = "serialized database " + megabytes(fts5.database_bytes()) +
                        ", copied once more for each further thread";

    // Latency on one thread: each query runs on all three engines in a rotating order, so load
    // from other processes falls on all of them alike.
    std::fprintf(stderr, "%s: timing %zu queries\n", source.name.c_str(), queries.size());
    const auto tg_searcher = tgsearch.make_searcher();
    const auto xapian_searcher = xapian.make_searcher();
    const auto fts5_searcher = fts5.make_searcher();
    const auto run = [&](std::size_t engine, const bench_query& query, match_mode mode) {
        if (engine == 0) return tg_searcher.search(query, mode);
        if (engine == 1) return xapian_searcher->search(query, mode);
        return fts5_searcher->search(query, mode);
    };
    for (const auto mode : {match_mode::all_words, match_mode::any_word}) {
        const auto m = static_cast<std::size_t>(mode);
        for (const auto& query : queries) {  // warm-up
            for (std::size_t engine = 0; engine < engine_count; ++engine) run(engine, query, mode);
        }
        std::vector<double> micros[engine_count];
        double overlap_sum[engine_count] = {0, 0, 0};
        std::size_t overlap_count[engine_count] = {0, 0, 0};
        double result_sum[engine_count] = {0, 0, 0};
        for (std::size_t q = 0; q < queries.size(); ++q) {
            doc_list results[engine_count];
            for (std::size_t step = 0; step < engine_count; ++step) {
                const std::size_t engine = (q + step) % engine_count;
                const auto query_start = bench_clock::now();
                results[engine] = run(engine, queries[q], mode);
                micros[engine].push_back(seconds_since(query_start) * 1e6);
                result_sum[engine] += static_cast<double>(results[engine].size());
            }
            for (std::size_t engine = 1; engine < engine_count; ++engine) {
                if (const auto overlap = overlap_of(results[0], results[engine])) {
                    overlap_sum[engine] += *overlap;
                    ++overlap_count[engine];
                }
            }
        }
        // Warm: each engine runs warm_run queries in a row before the next takes its turn, so
        // its own data, not the other engines', is in the caches, as on a server that
        // answers queries back to back.
        std::vector<double> warm_micros[engine_count];
        for (std::size_t begin = 0; begin < queries.size(); begin += warm_run) {
            const std::size_t end = std::min(queries.size(), begin + warm_run);
            for (std::size_t step = 0; step < engine_count; ++step) {
                const std::size_t engine = (begin / warm_run + step) % engine_count;
                for (std::size_t q = begin; q < end; ++q) {
                    const auto query_start = bench_clock::now();
                    run(engine, queries[q], mode);
                    warm_micros[engine].push_back(seconds_since(query_start) * 1e6);
                }
            }
        }
        for (std::size_t engine = 0; engine < engine_count; ++engine) {
            rows[engine].warm_latency[m] = summarize(warm_micros[engine]);
            rows[engine].latency[m] = summarize(micros[engine]);
            rows[engine].mean_results[m] = result_sum[engine] / static_cast<double>(queries.size());
            if (overlap_count[engine] > 0) {
                rows[engine].overlap[m] =
                    overlap_sum[engine] / static_cast<double>(overlap_count[engine]);
            }
        }
    }

    std::fprintf(stderr, "%s: measuring throughput on %u threads\n", source.name.c_str(),
                 o.threads);
    for (const auto mode : {match_mode::all_words, match_mode::any_word}) {
        const auto m = static_cast<std::size_t>(mode);
        rows[0].qps[m] = measure_qps(queries, mode, o.threads, [&] {
            return std::make_unique<tgsearch_engine::searcher>(tgsearch.make_searcher());
        });
        rows[1].qps[m] =
            measure_qps(queries, mode, o.threads, [&] { return xapian.make_searcher(); });
        rows[2].qps[m] =
            measure_qps(queries, mode, o.threads, [&] { return fts5.make_copy_searcher(); });
    }

    std::size_t words_histogram[4] = {0, 0, 0, 0};
    for (const auto& query : queries) ++words_histogram[query.terms.size()];
    report += fmt::format(
        "### {}\n\n{} documents, {} of title and text. {} queries ({} of one word, {} of two, {} "
        "of three) drawn with seed {} from terms in at most {:.0f}% of the documents. Tokenizing "
        "the corpus alone takes {:.2f} s, and every build below includes it.\n\n",
        source.name, source.docs.size(), megabytes(source.text_bytes), queries.size(),
        words_histogram[1], words_histogram[2], words_histogram[3], o.seed, o.max_df * 100,
        tokenize_seconds);
    report +=
        "| engine | build | MB/s | RSS growth | heap growth | size |\n|---|---|---|---|---|---|\n";
    for (std::size_t engine = 0; engine < engine_count; ++engine) {
        const auto& row = rows[engine];
        report +=
            fmt::format("| {} | {:.2f} s{} | {:.1f} | {} | {} | {} |\n", engine_names[engine],
                        row.build_seconds, ratio_note(row.build_seconds, rows[0].build_seconds),
                        source.text_bytes / 1e6 / row.build_seconds, megabytes(row.rss_growth),
                        megabytes(row.heap_growth), row.size_note);
    }
    report += fmt::format(
        "\nLatency in µs on one thread, and queries per second on {} threads. The factor in "
        "brackets is relative to tgsearch.\n\n",
        o.threads);
    report +=
        "| engine | AND p50 | AND p99 | OR p50 | OR p99 | AND q/s | OR q/s |\n"
        "|---|---|---|---|---|---|---|\n";
    for (std::size_t engine = 0; engine < engine_count; ++engine) {
        const auto& row = rows[engine];
        const auto& base = rows[0];
        report += fmt::format(
            "| {} | {:.1f}{} | {:.1f}{} | {:.1f}{} | {:.1f}{} | {:.0f}{} | {:.0f}{} |\n",
            engine_names[engine], row.latency[0].p50_us,
            ratio_note(row.latency[0].p50_us, base.latency[0].p50_us), row.latency[0].p99_us,
            ratio_note(row.latency[0].p99_us, base.latency[0].p99_us), row.latency[1].p50_us,
            ratio_note(row.latency[1].p50_us, base.latency[1].p50_us), row.latency[1].p99_us,
            ratio_note(row.latency[1].p99_us, base.latency[1].p99_us), row.qps[0],
            ratio_note(row.qps[0], base.qps[0]), row.qps[1], ratio_note(row.qps[1], base.qps[1]));
    }
    report += fmt::format(
        "\nThe same latency with warm caches: each engine runs {} queries in a row before the "
        "next one takes its turn.\n\n",
        warm_run);
    report +=
        "| engine | AND p50 | AND p99 | OR p50 | OR p99 |\n"
        "|---|---|---|---|---|\n";
    for (std::size_t engine = 0; engine < engine_count; ++engine) {
        const auto& row = rows[engine].warm_latency;
        const auto& base = rows[0].warm_latency;
        report += fmt::format("| {} | {:.1f}{} | {:.1f}{} | {:.1f}{} | {:.1f}{} |\n",
                              engine_names[engine], row[0].p50_us,
                              ratio_note(row[0].p50_us, base[0].p50_us), row[0].p99_us,
                              ratio_note(row[0].p99_us, base[0].p99_us), row[1].p50_us,
                              ratio_note(row[1].p50_us, base[1].p50_us), row[1].p99_us,
                              ratio_note(row[1].p99_us, base[1].p99_us));
    }
    report += "\nTop-10 agreement with tgsearch, and the mean number of results per query.\n\n";
    report +=
        "| engine | AND overlap | OR overlap | AND results | OR results |\n|---|---|---|---|---|\n";
    for (std::size_t engine = 0; engine < engine_count; ++engine) {
        const auto& row = rows[engine];
        report +=
            fmt::format("| {} | {} | {} | {:.2f} | {:.2f} |\n", engine_names[engine],
                        engine == 0 ? std::string("-") : fmt::format("{:.3f}", row.overlap[0]),
                        engine == 0 ? std::string("-") : fmt::format("{:.3f}", row.overlap[1]),
                        row.mean_results[0], row.mean_results[1]);
    }
    report += '\n';
}

// ---------------------------------------------------------------------------------------------
// Recall on the sample queries

struct sample_query {
    std::string lang;
    std::string text;
    std::vector<std::string> expected_ids;
};

/// Reads a TSV file with a header and the columns lang, query and expected_ids, the ids
/// separated by commas.
std::vector<sample_query> load_samples(const std::string& path) {
    std::ifstream input(path);
    if (!input) throw std::runtime_error("cannot open the sample queries " + path);
    std::vector<sample_query> samples;
    std::string line;
    std::getline(input, line);
    while (std::getline(input, line)) {
        std::vector<std::string> columns;
        std::stringstream fields(line);
        std::string field;
        while (std::getline(fields, field, '\t')) columns.push_back(field);
        if (columns.size() < 3 || columns[1].empty()) continue;
        sample_query sample{columns[0], columns[1], {}};
        std::stringstream ids(columns[2]);
        while (std::getline(ids, field, ',')) {
            if (!field.empty()) sample.expected_ids.push_back(field);
        }
        if (!sample.expected_ids.empty()) samples.push_back(std::move(sample));
    }
    return samples;
}

/// Loads every JSON Lines file in `directory` that contains an expected id into one index, as the
/// bot serves several corpora from one index, and appends the recall@10 of each language.
void bench_recall(const std::string& sample_path, const std::string& directory,
                  std::string& report) {
    const std::vector<sample_query> samples = load_samples(sample_path);
    std::unordered_set<std::string> expected;
    for (const auto& sample : samples)
        expected.insert(sample.expected_ids.begin(), sample.expected_ids.end());

    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(directory)) {
        const std::string name = entry.path().filename().string();
        if (name.ends_with(".jsonl") || name.ends_with(".jsonl.gz")) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    std::vector<tgsearch::document> docs;
    std::vector<std::string> used;
    for (const auto& file : files) {
        corpus part = load_corpus(file);
        const bool relevant = std::any_of(part.docs.begin(), part.docs.end(),
                                          [&](const auto& doc) { return expected.count(doc.id); });
        if (!relevant) continue;
        used.push_back(part.name);
        std::move(part.docs.begin(), part.docs.end(), std::back_inserter(docs));
    }
    std::string first_duplicate;
    tgsearch::remove_duplicate_ids(docs, first_duplicate);
    const auto index = tgsearch::search_index::build(std::move(docs));

    struct tally {
        std::size_t judged = 0;
        std::size_t found = 0;
        std::vector<std::string> missed;
    };
    std::map<std::string, tally> by_lang;
    const tgsearch::search_options options;  // what the bot uses: top 10, typo correction on
    for (const auto& sample : samples) {
        tally& counts = by_lang[sample.lang];
        ++counts.judged;
        bool found = false;
        for (const auto& hit : index->search(sample.text, options).hits) {
            const auto& doc = index->document_at(hit.doc);
            found |= std::find(sample.expected_ids.begin(), sample.expected_ids.end(), doc.id) !=
                     sample.expected_ids.end();
        }
        if (found) {
            ++counts.found;
        } else {
            counts.missed.push_back(sample.text);
        }
    }

    std::string files_list;
    for (const auto& name : used) files_list += (files_list.empty() ? "" : ", ") + name;
    report += fmt::format(
        "### Recall@10 of tgsearch on the sample queries\n\n"
        "One index over the {} corpus files that contain an expected document ({} documents): {}. "
        "A query counts as found when any of its expected documents is in the top 10. Default "
        "search options, as the bot uses them (typo correction on).\n\n"
        "| language | queries | found | recall@10 | missed |\n|---|---|---|---|---|\n",
        used.size(), index->document_count(), files_list);
    for (const auto& [lang, counts] : by_lang) {
        std::string missed;
        for (const auto& text : counts.missed) missed += (missed.empty() ? "" : "; ") + text;
        report +=
            fmt::format("| {} | {} | {} | {:.2f} | {} |\n", lang, counts.judged, counts.found,
                        static_cast<double>(counts.found) / static_cast<double>(counts.judged),
                        missed.empty() ? std::string("-") : missed);
    }
    report += '\n';
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    CLI::App app{
        "Compares tgsearch's index with Xapian and SQLite FTS5 on the same corpus and "
        "queries, and prints a Markdown report."};
    app.add_option("corpus", o.corpora, "Corpus files to measure, each on its own")
        ->required()
        ->check(CLI::ExistingFile);
    app.add_option("--queries", o.queries, "Number of queries drawn from each corpus")
        ->check(CLI::Range(1, 1000000));
    app.add_option("--sample", o.sample,
                   "TSV of sample queries (lang, query, expected_ids) for recall@10")
        ->check(CLI::ExistingFile);
    app.add_option("--recall-corpora", o.recall_corpora,
                   "Directory of JSONL corpora for the sample queries; default: the directory "
                   "of --sample")
        ->check(CLI::ExistingDirectory);
    app.add_option("--max-df", o.max_df,
                   "Leave out of the drawn queries terms found in more than this fraction of "
                   "documents")
        ->check(CLI::Range(0.0, 1.0));
    app.add_option("--seed", o.seed, "Seed of the query draw");
    app.add_option("--threads", o.threads, "Threads for the queries-per-second runs")
        ->check(CLI::Range(1u, 1024u));
    app.add_option("--quiet-threshold", o.quiet_threshold,
                   "Wait until CPU pressure (avg10, percent) is below this before measuring");
    app.add_option("--quiet-timeout", o.quiet_timeout,
                   "Seconds to wait for a quiet machine before measuring anyway");
    app.add_option("--commit", o.commit, "Commit to name in the report");
    app.add_option("--output", o.output, "Also write the report to this file");
    CLI11_PARSE(app, argc, argv);
    if (!o.sample.empty() && o.recall_corpora.empty()) {
        o.recall_corpora = std::filesystem::path(o.sample).parent_path().string();
        if (o.recall_corpora.empty()) o.recall_corpora = ".";
    }

    // Statistics on every allocation take a global mutex, which would serialize the FTS5
    // threads.
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);

    const auto pressure = wait_for_quiet(o.quiet_threshold, o.quiet_timeout);
    std::string report = fmt::format(
        "Commit {}; {}, {} hardware threads; {}; Xapian {}; SQLite {}; CPU pressure at start "
        "{}.\n\n",
        o.commit, cpu_model(), std::thread::hardware_concurrency(), compiler_name(),
        Xapian::version_string(), sqlite3_libversion(),
        pressure ? fmt::format("{:.1f}%", *pressure) : std::string("unknown"));
    try {
        for (const auto& path : o.corpora) bench_corpus(o, path, report);
        if (!o.sample.empty()) bench_recall(o.sample, o.recall_corpora, report);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "error: %s\n", error.what());
        return 1;
    } catch (const Xapian::Error& error) {
        std::fprintf(stderr, "error: Xapian: %s\n", error.get_description().c_str());
        return 1;
    }
    std::fputs(report.c_str(), stdout);
    if (!o.output.empty()) {
        std::ofstream output(o.output);
        output << report;
        if (!output) {
            std::fprintf(stderr, "error: cannot write the report to %s\n", o.output.c_str());
            return 1;
        }
    }
    return 0;
}
