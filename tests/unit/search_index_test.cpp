#include "core/search_index.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using tgsearch::bm25_params;
using tgsearch::document;
using tgsearch::search_hit;
using tgsearch::search_index;

namespace {

document doc(std::string id, std::string title, std::string text) {
    return document{std::move(id), std::move(title), std::move(text), ""};
}

std::vector<std::string> ids_of(const search_index& index, const std::vector<search_hit>& hits) {
    std::vector<std::string> ids;
    for (const auto& hit : hits) ids.emplace_back(index.document_at(hit.doc).id);
    return ids;
}

std::vector<search_hit> hits_of(const search_index& index, std::string_view query,
                                std::size_t limit) {
    tgsearch::search_options options;
    options.limit = limit;
    return index.search(query, options).hits;
}

std::vector<std::string> search_ids(const search_index& index, std::string_view query,
                                    std::size_t limit = 10) {
    return ids_of(index, hits_of(index, query, limit));
}

/// Reads a fixture of real documents: a header line, then id, title and text separated by
/// tabs, one document a line.
std::vector<document> load_tsv_fixture(const std::string& path) {
    std::ifstream input(path);
    REQUIRE(input.good());
    std::vector<document> docs;
    std::string line;
    std::getline(input, line);
    while (std::getline(input, line)) {
        std::stringstream fields(line);
        document loaded;
        std::getline(fields, loaded.id, '\t');
        std::getline(fields, loaded.title, '\t');
        std::getline(fields, loaded.text);
        docs.push_back(std::move(loaded));
    }
    return docs;
}

/// BM25 of one term in one document, written out from the definition.
double bm25(double tf, double df, double doc_count, double length, double average_length,
            bm25_params params = {}) {
    const double idf = std::log(1.0 + (doc_count - df + 0.5) / (df + 0.5));
    const double norm = params.k1 * (1.0 - params.b + params.b * length / average_length);
    return idf * tf * (params.k1 + 1.0) / (tf + norm);
}

}  // namespace

TEST_CASE("index ranks higher term frequency first", "[index]") {
    // Same length (3 words), same idf: only the count of "apple" differs.
    const auto index = search_index::build({
        doc("once", "", "apple pear plum"),
        doc("twice", "", "apple apple pear"),
        doc("none", "", "fig pear plum"),
    });
    CHECK(search_ids(*index, "apple") == std::vector<std::string>{"twice", "once"});
}

TEST_CASE("index ranks rarer terms higher", "[index]") {
    // "common" is in three documents and "rare" in one, so idf(rare) > idf(common); each
    // document matches one query word once and all have two words.
    const auto index = search_index::build({
        doc("common-1", "", "common filler"),
        doc("rare", "", "rare filler"),
        doc("common-2", "", "common other"),
        doc("common-3", "", "common thing"),
    });
    const auto hits = hits_of(*index, "common rare", 10);
    REQUIRE(hits.size() == 4);
    CHECK(index->document_at(hits[0].doc).id == "rare");
    CHECK(hits[0].score > hits[1].score);
}

TEST_CASE("index prefers shorter documents for the same count", "[index]") {
    // Both contain "apple" once; the longer one is penalised by length normalization (b > 0).
    const auto index = search_index::build({
        doc("long", "", "apple one two three four five six seven eight nine"),
        doc("short", "", "apple one"),
    });
    CHECK(search_ids(*index, "apple") == std::vector<std::string>{"short", "long"});
}

TEST_CASE("index scores match the BM25 formula", "[index]") {
    // Lengths are 3, 1 and 2 words (titles empty), so the average length is 2.
    const auto index = search_index::build({
        doc("a", "", "apple apple pear"),
        doc("b", "", "apple"),
        doc("c", "", "pear plum"),
    });
    const auto hits = hits_of(*index, "apple", 10);
    REQUIRE(hits.size() == 2);
    // "apple" is in 2 of 3 documents: tf 2 in a 3-word document, tf 1 in a 1-word one.
    const double expected_a = bm25(2, 2, 3, 3, 2);
    const double expected_b = bm25(1, 2, 3, 1, 2);
    for (const auto& hit : hits) {
        const std::string_view id = index->document_at(hit.doc).id;
        CAPTURE(id);
        CHECK(hit.matched_words == 1);
        CHECK(hit.score == Approx(id == "a" ? expected_a : expected_b).epsilon(1e-5));
    }
}

TEST_CASE("index weighs title words by title_boost", "[index]") {
    // With boost 3 both documents have length 5: "title" has tf 3 (one title word), "body"
    // has tf 1, so the title match ranks first.
    const auto index = search_index::build({
        doc("body", "", "apple x y z w"),
        doc("title", "apple", "x y"),
    });
    const auto hits = hits_of(*index, "apple", 10);
    REQUIRE(hits.size() == 2);
    CHECK(index->document_at(hits[0].doc).id == "title");
    const double expected_title = bm25(3, 2, 2, 5, 5);
    CHECK(hits[0].score == Approx(expected_title).epsilon(1e-5));

    bm25_params no_boost;
    no_boost.title_boost = 1.0f;
    const auto plain = search_index::build(
        {doc("body", "", "apple x y z w"), doc("title", "apple", "x y")}, no_boost);
    // Without the boost, "title" is simply the shorter document (3 words against 5) and still
    // wins, but by less than with the boost.
    const auto plain_hits = hits_of(*plain, "apple", 10);
    REQUIRE(plain_hits.size() == 2);
    CHECK(plain->document_at(plain_hits[0].doc).id == "title");
    CHECK(plain_hits[0].score < hits[0].score);
}

TEST_CASE("index ranks all-words matches first", "[index]") {
    // "focused" repeats the rare word in a short text, so its score is the highest. "both" has
    // each word once in a long text, but it is the only document with both query words.
    const auto index = search_index::build({
        doc("focused", "zeta", "zeta zeta zeta"),
        doc("both", "", "zeta and omega in a much longer text with many other words around"),
        doc("omega-1", "", "omega"),
        doc("omega-2", "", "omega"),
    });
    const auto hits = hits_of(*index, "zeta omega", 10);
    REQUIRE(hits.size() == 4);
    CHECK(index->document_at(hits[0].doc).id == "both");
    CHECK(hits[0].matched_words == 2);
    CHECK(index->document_at(hits[1].doc).id == "focused");
    CHECK(hits[1].matched_words == 1);
    CHECK(hits[1].score > hits[0].score);
}

TEST_CASE("index counts duplicate query terms once", "[index]") {
    const auto index = search_index::build({
        doc("a", "", "apple pear"),
        doc("b", "", "pear plum"),
    });
    const auto once = hits_of(*index, "apple", 10);
    const auto thrice = hits_of(*index, "apple Apple APPLE", 10);
    REQUIRE(once.size() == 1);
    REQUIRE(thrice.size() == 1);
    CHECK(thrice[0].matched_words == 1);
    CHECK(thrice[0].score == once[0].score);
}

TEST_CASE("index finds diacritized text by a plain query", "[index]") {
    const auto index = search_index::build({
        doc("quran", "", "ٱلۡحَمۡدُ لِلَّهِ رَبِّ ٱلۡعَٰلَمِينَ"),
        doc("name", "", "مُحَمَّد رَسُولُ ٱللَّهِ"),
        doc("other", "", "كتاب مفيد"),
        doc("russian", "Ёлка", "Новогодняя ёлка"),
    });
    CHECK(search_ids(*index, "محمد") == std::vector<std::string>{"name"});
    CHECK(search_ids(*index, "الحمد لله رب العالمين") == std::vector<std::string>{"quran"});
    CHECK(search_ids(*index, "کتاب") == std::vector<std::string>{"other"});
    CHECK(search_ids(*index, "елка") == std::vector<std::string>{"russian"});
    const auto hits = hits_of(*index, "الحمد لله رب العالمين", 10);
    REQUIRE(hits.size() == 1);
    CHECK(hits[0].matched_words == 4);
}

TEST_CASE("index ignores empty and unknown queries", "[index]") {
    const auto index = search_index::build({doc("a", "", "apple pear")});
    CHECK(hits_of(*index, "", 10).empty());
    CHECK(hits_of(*index, "   ", 10).empty());
    CHECK(hits_of(*index, "?!, -- ...", 10).empty());
    CHECK(hits_of(*index, "banana", 10).empty());
    CHECK(hits_of(*index, "apple", 0).empty());

    const auto empty = search_index::build({});
    CHECK(empty->document_count() == 0);
    CHECK(empty->term_count() == 0);
    CHECK(hits_of(*empty, "apple", 10).empty());
}

TEST_CASE("index limit keeps the best hits in order", "[index]") {
    std::vector<document> docs;
    for (int i = 0; i < 50; ++i) {
        // Document i has i + 1 words of filler, so shorter documents rank higher.
        std::string text = "needle";
        for (int j = 0; j <= i; ++j) text += " filler";
        docs.push_back(doc("d" + std::to_string(i), "", text));
    }
    const auto index = search_index::build(std::move(docs));
    const auto all = hits_of(*index, "needle", 100);
    REQUIRE(all.size() == 50);
    for (std::size_t limit : {1u, 3u, 10u, 49u}) {
        CAPTURE(limit);
        const auto top = hits_of(*index, "needle", limit);
        REQUIRE(top.size() == limit);
        for (std::size_t i = 0; i < limit; ++i) {
            CHECK(top[i].doc == all[i].doc);
            CHECK(top[i].score == all[i].score);
        }
    }
    CHECK(index->document_at(all.front().doc).id == "d0");
    CHECK(index->document_at(all.back().doc).id == "d49");
}

TEST_CASE("index breaks score ties by document order", "[index]") {
    const auto index = search_index::build({
        doc("first", "", "same words here"),
        doc("other", "", "different"),
        doc("second", "", "same words here"),
        doc("third", "", "same words here"),
    });
    for (int round = 0; round < 3; ++round) {
        const auto hits = hits_of(*index, "same words", 10);
        REQUIRE(hits.size() == 3);
        CHECK(hits[0].doc == 0);
        CHECK(hits[1].doc == 2);
        CHECK(hits[2].doc == 3);
        CHECK(hits[0].score == hits[1].score);
    }
    // With limit 2 the heap must still keep the lower document numbers among equals.
    const auto top = hits_of(*index, "same words", 2);
    REQUIRE(top.size() == 2);
    CHECK(top[0].doc == 0);
    CHECK(top[1].doc == 2);
}

TEST_CASE("index results match across threads", "[index]") {
    std::vector<document> docs;
    const char* words[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"};
    for (int i = 0; i < 2000; ++i) {
        std::string text;
        for (int j = 0; j < 12; ++j) {
            text += words[(i * 7 + j * 3 + (i / 5) * j) % 8];
            text += ' ';
        }
        docs.push_back(doc("d" + std::to_string(i), words[i % 8], text));
    }
    const auto index = search_index::build(std::move(docs));
    const std::vector<std::string> queries = {"alpha",     "beta gamma",  "delta epsilon zeta",
                                              "theta eta", "alpha omega", "gamma gamma"};
    std::vector<std::vector<search_hit>> expected;
    for (const auto& query : queries) expected.push_back(hits_of(*index, query, 20));

    constexpr int thread_count = 4;
    std::vector<int> mismatches(thread_count, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < thread_count; ++t) {
        threads.emplace_back([&, t] {
            for (int round = 0; round < 200; ++round) {
                const std::size_t q = static_cast<std::size_t>(round + t) % queries.size();
                const auto hits = hits_of(*index, queries[q], 20);
                bool same = hits.size() == expected[q].size();
                for (std::size_t i = 0; same && i < hits.size(); ++i) {
                    same = hits[i].doc == expected[q][i].doc &&
                           hits[i].score == expected[q][i].score &&
                           hits[i].matched_words == expected[q][i].matched_words;
                }
                if (!same) ++mismatches[static_cast<std::size_t>(t)];
            }
        });
    }
    for (auto& thread : threads) thread.join();
    for (int t = 0; t < thread_count; ++t) {
        CAPTURE(t);
        CHECK(mismatches[static_cast<std::size_t>(t)] == 0);
    }
    for (const auto& hits : expected) CHECK_FALSE(hits.empty());
}

TEST_CASE("index accumulator serves two indexes", "[index]") {
    std::vector<document> large;
    for (int i = 0; i < 500; ++i) large.push_back(doc("l" + std::to_string(i), "", "apple"));
    const auto big = search_index::build(std::move(large));
    const auto small = search_index::build({doc("s0", "", "apple pear"), doc("s1", "", "pear")});

    const auto before = hits_of(*small, "apple pear", 10);
    CHECK(hits_of(*big, "apple", 1000).size() == 500);
    const auto after = hits_of(*small, "apple pear", 10);
    REQUIRE(before.size() == 2);
    REQUIRE(after.size() == 2);
    for (std::size_t i = 0; i < 2; ++i) {
        CHECK(after[i].doc == before[i].doc);
        CHECK(after[i].score == before[i].score);
        CHECK(after[i].matched_words == before[i].matched_words);
    }
}

TEST_CASE("index builds large corpora correctly", "[index]") {
    // Enough documents for the build to split them across threads where there are several.
    constexpr int doc_count = 5000;
    std::vector<document> docs;
    for (int i = 0; i < doc_count; ++i) {
        docs.push_back(doc("d" + std::to_string(i), "group" + std::to_string(i % 10),
                           "common unique" + std::to_string(i)));
    }
    const auto index = search_index::build(std::move(docs));
    CHECK(index->term_count() == 1 + 10 + doc_count);

    for (int i : {0, 1, 2499, 2500, 2501, 4999}) {
        CAPTURE(i);
        const auto hits = hits_of(*index, "unique" + std::to_string(i), 10);
        REQUIRE(hits.size() == 1);
        CHECK(hits[0].doc == static_cast<std::uint32_t>(i));
    }

    // Every document of a group has the same length and counts, so all scores tie and the
    // hits must come in document order across the whole range.
    const auto group = hits_of(*index, "group3", doc_count);
    REQUIRE(group.size() == doc_count / 10);
    for (std::size_t rank = 0; rank < group.size(); ++rank) {
        CHECK(group[rank].doc == 3 + 10 * rank);
        CHECK(group[rank].score == group[0].score);
    }
    CHECK(hits_of(*index, "common", doc_count).size() == doc_count);
}

TEST_CASE("index reports terms and memory", "[index]") {
    const std::string long_text(1000, 'x');
    const auto index = search_index::build({
        doc("a", "Apple", "apple pear"),
        doc("b", "", "pear " + long_text),
    });
    CHECK(index->document_count() == 2);
    CHECK(index->term_count() == 3);  // apple, pear, xxx…
    CHECK(index->memory_bytes() > long_text.size());
    CHECK(index->document_at(1).id == "b");
}

TEST_CASE("index ranks real multilingual documents", "[index]") {
    // Package descriptions, Quran verses in Uthmani script, Persian and Russian application
    // texts and emoji names, each query typed the way a user would.
    const auto index =
        search_index::build(load_tsv_fixture(TGSEARCH_FIXTURES_DIR "/search/mixed_corpus.tsv"));
    REQUIRE(index->document_count() == 41);
    struct expectation {
        const char* query;
        const char* top_id;
    };
    const expectation expectations[] = {
        {"zstd fast lossless compression", "debian:en:zstd"},
        {"lame mp3 encoder", "debian:en:lame"},
        {"ban hosts that cause multiple authentication errors", "debian:en:fail2ban"},
        {"بسم الله الرحمن الرحيم", "quran:1:1"},
        {"الحمد لله رب العالمين", "quran:1:2"},
        {"اهدنا الصراط المستقيم", "quran:1:6"},
        {"انا اعطيناك الكوثر", "quran:108:1"},
        {"مرورگر وب", "appstream:fa:org.gnome.Epiphany.desktop"},
        {"پخش موسیقی", "appstream:fa:org.gnome.Rhythmbox3.desktop"},
        {"командная оболочка zsh", "debian:ru:zsh"},
        {"передача данных с синтаксисом URL", "debian:ru:curl"},
        {"HTTP-сервер Apache", "debian:ru:apache2"},
        {"🐈‍⬛", "cldr:en:1F408-200D-2B1B"},
        {"روده‌بر", "cldr:fa:1F602"},
    };
    for (const auto& [query, top_id] : expectations) {
        CAPTURE(query);
        const auto ids = search_ids(*index, query, 3);
        REQUIRE_FALSE(ids.empty());
        CHECK(ids.front() == top_id);
    }

    const auto nginx = search_ids(*index, "nginx reverse proxy", 3);
    REQUIRE(nginx.size() == 3);
    CHECK(nginx[0].rfind("debian:en:nginx", 0) == 0);

    // Arabic yeh and kaf typed for Persian ones still find the Persian text editor.
    const auto editor = search_ids(*index, "ويرايشگر متن", 2);
    REQUIRE(editor.size() == 2);
    CHECK(editor[0] == "appstream:fa:org.gnome.TextEditor.desktop");
    CHECK(editor[1] == "appstream:fa:org.gnome.gedit.desktop");

    // The emoji is in the English and the Persian entry and nowhere else.
    auto laughing = search_ids(*index, "😂", 10);
    std::sort(laughing.begin(), laughing.end());
    CHECK(laughing == std::vector<std::string>{"cldr:en:1F602", "cldr:fa:1F602"});
}

TEST_CASE("index counts document length in word positions", "[index]") {
    // "e-mail" yields email, e and mail over two positions, so both documents are three
    // words long and score "memo" alike. Counting tokens would make the first one four long.
    const auto index = search_index::build({
        doc("joined", "", "e-mail memo"),
        doc("plain", "", "send memo today"),
    });
    const auto hits = hits_of(*index, "memo", 10);
    REQUIRE(hits.size() == 2);
    CHECK(hits[0].score == Approx(hits[1].score).epsilon(1e-6));
    CHECK(hits[0].score == Approx(bm25(1, 2, 2, 3, 3)).epsilon(1e-5));
}

TEST_CASE("index matches phrases across joined terms", "[index]") {
    const auto index = search_index::build({
        doc("zwnj", "", "من می\u200cخواهم بروم"),
        doc("hyphen", "", "send e-mail address now"),
        doc("other", "", "خواهم بروم email"),
    });
    // The joined spelling of a ZWNJ word followed by the next word.
    CHECK(search_ids(*index, "\"میخواهم بروم\"") == std::vector<std::string>{"zwnj"});
    // The written spelling still matches through its parts.
    CHECK(search_ids(*index, "\"می\u200cخواهم بروم\"") == std::vector<std::string>{"zwnj"});
    // A joined term with the word after it, and with the word before it.
    CHECK(search_ids(*index, "\"email address\"") == std::vector<std::string>{"hyphen"});
    CHECK(search_ids(*index, "\"send email\"") == std::vector<std::string>{"hyphen"});
    // A joined term between two words, whose parts the phrase must step over.
    CHECK(search_ids(*index, "\"send email address\"") == std::vector<std::string>{"hyphen"});
    CHECK(search_ids(*index, "\"من میخواهم بروم\"") == std::vector<std::string>{"zwnj"});
    // Words that are not adjacent still do not match.
    CHECK(search_ids(*index, "\"من بروم\"").empty());
    CHECK(search_ids(*index, "\"email now\"").empty());
    CHECK(search_ids(*index, "\"send email now\"").empty());
    CHECK(search_ids(*index, "\"email mail address\"").empty());
}

TEST_CASE("index counts a joined word once", "[index]") {
    // Both documents are three positions long and contain "email" once.
    const auto index = search_index::build({
        doc("joined", "", "e-mail memo"),
        doc("plain", "", "email memo today"),
    });
    const auto hits = hits_of(*index, "email", 10);
    REQUIRE(hits.size() == 2);
    CHECK(hits[0].score == Approx(hits[1].score).epsilon(1e-6));
    CHECK(hits[0].score == Approx(bm25(1, 2, 2, 3, 3)).epsilon(1e-5));
}

TEST_CASE("index hides span terms from prefixes and typos", "[index]") {
    const auto index = search_index::build({
        doc("joined", "", "news-letter today"),
        doc("other", "", "letters arrive"),
    });
    tgsearch::search_options options;
    // Two substituted letters turn this into the span term of "newsletter", and two deleted
    // ones into "newsletter" itself: only the real term may be the correction.
    const auto corrected = index->search("xxnewsletter", options);
    REQUIRE(corrected.corrections.size() == 1);
    CHECK(corrected.corrections.front().corrected == "newsletter");
    CHECK(ids_of(*index, corrected.hits) == std::vector<std::string>{"joined"});
    options.prefix_last = true;
    const auto prefixed = index->search("news", options);
    CHECK(ids_of(*index, prefixed.hits) == std::vector<std::string>{"joined"});
    CHECK(index->search(std::string(1, '\x01'), options).hits.empty());
}

TEST_CASE("index completes an unmatched word before correcting it", "[index]") {
    const auto index = search_index::build({
        doc("pg", "postgresql", "object-relational database server"),
        doc("poster", "poster", "a poster of a dog"),
        doc("lan", "", "router at 192.168.1.10 on the lan"),
        doc("pos", "", "point of sale"),
    });
    tgsearch::search_options options;
    // `postgr` is one edit from nothing and the start of postgresql.
    const auto completed = index->search("postgr", options);
    CHECK(completed.corrections.empty());
    CHECK(ids_of(*index, completed.hits) == std::vector<std::string>{"pg"});
    // A word that starts no term is still corrected.
    const auto corrected = index->search("postre", options);
    REQUIRE(corrected.corrections.size() == 1);
    CHECK(corrected.corrections.front().corrected == "poster");
    // Three letters are too few to complete, so `sal` is corrected.
    const auto short_word = index->search("sal", options);
    REQUIRE(short_word.corrections.size() == 1);
    CHECK(short_word.corrections.front().corrected == "sale");
    // Numbers are neither completed nor corrected.
    CHECK(index->search("192.168.1.1", options).hits.empty());
    CHECK(index->search("192.168", options).hits.empty());
    // Without typo correction nothing is completed either.
    options.correct_typos = false;
    CHECK(index->search("postgr", options).hits.empty());
}
