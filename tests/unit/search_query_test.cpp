#include "core/search_index.hpp"
#include "core/search_typos.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

using tgsearch::document;
using tgsearch::search_index;
using tgsearch::search_options;
using tgsearch::search_result;

namespace {

document doc(std::string id, std::string title, std::string text) {
    return document{std::move(id), std::move(title), std::move(text), ""};
}

search_result run(const search_index& index, std::string_view query, bool prefix_last = false,
                  std::size_t limit = 10) {
    search_options options;
    options.limit = limit;
    options.prefix_last = prefix_last;
    return index.search(query, options);
}

/// Ids of the hits, sorted, for checks that do not depend on rank.
std::vector<std::string> id_set(const search_index& index, const search_result& result) {
    std::vector<std::string> ids;
    for (const auto& hit : result.hits) ids.emplace_back(index.document_at(hit.doc).id);
    std::sort(ids.begin(), ids.end());
    return ids;
}

std::vector<std::string> ids(std::initializer_list<const char*> list) {
    std::vector<std::string> result(list.begin(), list.end());
    std::sort(result.begin(), result.end());
    return result;
}

std::shared_ptr<const search_index> phrase_index() {
    return search_index::build({
        doc("adjacent", "", "a reverse proxy server"),
        doc("reversed", "", "proxy reverse server"),
        doc("apart", "", "reverse the proxy"),
        doc("boundary", "fast reverse", "proxy server"),
        doc("title", "fast reverse proxy", "nothing else"),
        doc("nginx", "", "nginx is a reverse proxy"),
    });
}

}  // namespace

TEST_CASE("phrase matches adjacent words in order", "[index]") {
    const auto index = phrase_index();
    const auto result = run(*index, "\"reverse proxy\"");
    CHECK(id_set(*index, result) == ids({"adjacent", "nginx", "title"}));
    for (const auto& hit : result.hits) CHECK(hit.matched_words == 2);
    CHECK(result.total_matches == 3);
}

TEST_CASE("phrase rejects reversed, separated and cross-field words", "[index]") {
    const auto index = phrase_index();
    const auto found = id_set(*index, run(*index, "\"reverse proxy\""));
    CHECK(std::find(found.begin(), found.end(), "reversed") == found.end());
    CHECK(std::find(found.begin(), found.end(), "apart") == found.end());
    // "reverse" ends the title and "proxy" starts the body.
    CHECK(std::find(found.begin(), found.end(), "boundary") == found.end());
    CHECK(id_set(*index, run(*index, "\"proxy reverse\"")) == ids({"reversed"}));
}

TEST_CASE("phrase and plain words rank together", "[index]") {
    const auto index = phrase_index();
    const auto result = run(*index, "\"reverse proxy\" nginx");
    REQUIRE_FALSE(result.hits.empty());
    CHECK(index->document_at(result.hits[0].doc).id == "nginx");
    CHECK(result.hits[0].matched_words == 3);
    // Documents with only "reverse" and "proxy" apart match no query word at all.
    CHECK(id_set(*index, result) == ids({"adjacent", "nginx", "title"}));
}

TEST_CASE("unclosed quote reads the rest as plain words", "[index]") {
    const auto index = phrase_index();
    const auto result = run(*index, "\"reverse proxy");
    CHECK(id_set(*index, result) ==
          ids({"adjacent", "apart", "boundary", "nginx", "reversed", "title"}));
    for (const auto& hit : result.hits) CHECK(hit.matched_words == 2);
}

TEST_CASE("phrase of one word is that word", "[index]") {
    const auto index = phrase_index();
    CHECK(id_set(*index, run(*index, "\"nginx\"")) == ids({"nginx"}));
    CHECK(id_set(*index, run(*index, "“nginx”")) == ids({"nginx"}));
    CHECK(run(*index, "\"\"").hits.empty());
}

TEST_CASE("phrase matches either alternative spelling", "[index]") {
    // The Uthmani word yields both العلمين and العالمين at one position.
    const auto index = search_index::build({
        doc("quran", "", "ٱلۡحَمۡدُ لِلَّهِ رَبِّ ٱلۡعَٰلَمِينَ"),
        doc("other", "", "العالمين رب"),
    });
    CHECK(id_set(*index, run(*index, "\"رب العالمين\"")) == ids({"quran"}));
    CHECK(id_set(*index, run(*index, "\"رب العلمين\"")) == ids({"quran"}));
    CHECK(id_set(*index, run(*index, "\"العالمين رب\"")) == ids({"other"}));
}

TEST_CASE("prefix search finds a word while it is typed", "[index]") {
    const auto index = search_index::build({
        doc("zstd", "zstandard", "fast compression"),
        doc("zebra", "", "zebra stripes"),
        doc("zsh", "", "zsh shell"),
        doc("zoo", "", "zoo animals"),
    });
    const std::string word = "zstandard";
    for (std::size_t length = 1; length <= word.size(); ++length) {
        const std::string typed = word.substr(0, length);
        CAPTURE(typed);
        const auto result = run(*index, typed, true);
        const auto found = id_set(*index, result);
        CHECK(std::find(found.begin(), found.end(), "zstd") != found.end());
        // From "zst" on, no other document has a term with the prefix.
        if (length >= 3) {
            CHECK(found == ids({"zstd"}));
        }
    }
    // Without the option, or after a space, a prefix is only a word (typo correction, on by
    // default, would complete an unmatched word).
    const auto whole_words = [&](std::string_view query) {
        search_options options;
        options.prefix_last = true;
        options.correct_typos = false;
        return index->search(query, options);
    };
    search_options plain;
    plain.correct_typos = false;
    CHECK(index->search("zsta", plain).hits.empty());
    CHECK(whole_words("zsta ").hits.empty());
    // Only the last word is a prefix.
    CHECK(whole_words("zsta compression").hits.size() == 1);
    CHECK(whole_words("zsta compression").hits[0].matched_words == 1);
}

TEST_CASE("prefix expands to the most frequent terms only", "[index]") {
    std::vector<document> docs;
    docs.push_back(doc("rare", "", "qrare"));
    // 70 terms with the same prefix, each in 3 documents: more than the 64 expanded terms.
    for (int term = 0; term < 70; ++term) {
        for (int copy = 0; copy < 3; ++copy) {
            docs.push_back(doc("c" + std::to_string(term) + "-" + std::to_string(copy), "",
                               "qcommon" + std::to_string(term)));
        }
    }
    const auto index = search_index::build(std::move(docs));
    const auto one_letter = run(*index, "q", true, 1000);
    CHECK(one_letter.hits.size() == 64 * 3);
    const auto found = id_set(*index, one_letter);
    CHECK(std::find(found.begin(), found.end(), "rare") == found.end());
    CHECK(id_set(*index, run(*index, "qr", true)) == ids({"rare"}));
    // The exact word is always kept, even when rarer than the 64 others.
    std::vector<document> with_exact;
    with_exact.push_back(doc("exact", "", "qc"));
    for (int term = 0; term < 70; ++term) {
        for (int copy = 0; copy < 3; ++copy) {
            with_exact.push_back(doc("c" + std::to_string(term) + "-" + std::to_string(copy), "",
                                     "qc" + std::to_string(term)));
        }
    }
    const auto exact_index = search_index::build(std::move(with_exact));
    const auto exact_found = id_set(*exact_index, run(*exact_index, "qc", true, 1000));
    CHECK(std::find(exact_found.begin(), exact_found.end(), "exact") != exact_found.end());
}

TEST_CASE("typo within one edit is corrected and reported", "[index]") {
    const auto index = search_index::build({
        doc("nginx", "", "nginx web server"),
        doc("apache", "", "apache web server"),
    });
    const auto result = run(*index, "ngnix server");
    REQUIRE(result.corrections.size() == 1);
    CHECK(result.corrections[0].original == "ngnix");
    CHECK(result.corrections[0].corrected == "nginx");
    CHECK(result.corrections[0].begin == 0);
    CHECK(result.corrections[0].end == 5);
    CHECK(result.corrected_query == "nginx server");
    REQUIRE_FALSE(result.hits.empty());
    CHECK(index->document_at(result.hits[0].doc).id == "nginx");
    CHECK(result.hits[0].matched_words == 2);

    // A word that exists is never corrected.
    const auto exact = run(*index, "nginx");
    CHECK(exact.corrections.empty());
    CHECK(exact.corrected_query.empty());
    // Two edits in a word of fewer than 8 letters are too many.
    CHECK(run(*index, "ngaxx").hits.empty());
    // Words of fewer than 3 letters are not corrected.
    CHECK(run(*index, "ng").corrections.empty());
}

TEST_CASE("typo within two edits is corrected in long words", "[index]") {
    const auto index = search_index::build({
        doc("zstd", "", "lossless compression algorithm"),
        doc("other", "", "something different"),
    });
    const auto one = run(*index, "compresson");
    REQUIRE(one.corrections.size() == 1);
    CHECK(one.corrections[0].corrected == "compression");
    const auto two = run(*index, "comprezzion");
    REQUIRE(two.corrections.size() == 1);
    CHECK(two.corrections[0].corrected == "compression");
    CHECK(id_set(*index, two) == ids({"zstd"}));
    CHECK(run(*index, "compzezzion").hits.empty());  // three edits
}

TEST_CASE("typo correction prefers more frequent terms", "[index]") {
    const auto index = search_index::build({
        doc("car-1", "", "car"),
        doc("car-2", "", "car"),
        doc("cat", "", "cat"),
    });
    const auto result = run(*index, "cax");
    REQUIRE(result.corrections.size() == 1);
    CHECK(result.corrections[0].corrected == "car");
    CHECK(id_set(*index, result) == ids({"car-1", "car-2"}));
}

TEST_CASE("typo correction counts code points in other scripts", "[index]") {
    const auto index = search_index::build({
        doc("ru", "", "командная оболочка"),
        doc("ar", "", "محرر نصوص"),
        doc("fa", "", "پخش موسیقی"),
    });
    const auto russian = run(*index, "комондная");
    REQUIRE(russian.corrections.size() == 1);
    CHECK(russian.corrections[0].corrected == "командная");
    CHECK(id_set(*index, russian) == ids({"ru"}));

    const auto arabic = run(*index, "نصوس");
    REQUIRE(arabic.corrections.size() == 1);
    CHECK(id_set(*index, arabic) == ids({"ar"}));

    // One swapped pair of adjacent letters is one edit.
    const auto persian = run(*index, "موسیقي موسقیی");
    CHECK(id_set(*index, persian) == ids({"fa"}));
}

TEST_CASE("typo correction can be turned off", "[index]") {
    const auto index = search_index::build({doc("nginx", "", "nginx web server")});
    search_options options;
    options.correct_typos = false;
    const auto result = index->search("ngnix", options);
    CHECK(result.hits.empty());
    CHECK(result.corrections.empty());
}

TEST_CASE("typo correction equals a scan of every term", "[index]") {
    // A small alphabet makes many terms lie within one or two edits of each other, including
    // ones that differ in their first letter and ones with swapped letters.
    namespace detail = tgsearch::detail;
    std::mt19937 random(4242);
    const std::vector<std::string> letters = {"a", "b", "c", "d", "é", "ж"};
    const auto draw_term = [&](std::size_t min_length, std::size_t max_length) {
        const std::size_t length = min_length + random() % (max_length - min_length + 1);
        std::string term;
        for (std::size_t i = 0; i < length; ++i) term += letters[random() % letters.size()];
        return term;
    };
    std::vector<std::string> vocabulary;
    for (int i = 0; i < 3000; ++i) vocabulary.push_back(draw_term(1, 10));
    std::sort(vocabulary.begin(), vocabulary.end());
    vocabulary.erase(std::unique(vocabulary.begin(), vocabulary.end()), vocabulary.end());
    std::string term_text;
    std::vector<std::uint32_t> term_offsets{0};
    std::vector<std::uint32_t> doc_frequency;
    std::vector<std::vector<char32_t>> code_points(vocabulary.size());
    for (std::size_t t = 0; t < vocabulary.size(); ++t) {
        term_text += vocabulary[t];
        term_offsets.push_back(static_cast<std::uint32_t>(term_text.size()));
        doc_frequency.push_back(1 + static_cast<std::uint32_t>(random() % 4));
        REQUIRE(detail::decode_code_points(vocabulary[t], 64, code_points[t]));
    }

    int corrected = 0;
    for (int q = 0; q < 400; ++q) {
        const std::string word = draw_term(3, 11);
        CAPTURE(word);
        std::vector<char32_t> query;
        REQUIRE(detail::decode_code_points(word, 64, query));
        const std::size_t max_edits = query.size() >= detail::two_edit_code_points ? 2 : 1;
        std::uint32_t expected = detail::no_correction;
        std::size_t expected_edits = max_edits + 1;
        for (std::size_t t = 0; t < vocabulary.size(); ++t) {
            const std::size_t edits =
                detail::bounded_edit_distance(query, code_points[t], max_edits);
            if (edits == 0 || edits > max_edits) continue;
            const bool better =
                edits < expected_edits ||
                (edits == expected_edits && doc_frequency[t] > doc_frequency[expected]);
            if (better) {
                expected = static_cast<std::uint32_t>(t);
                expected_edits = edits;
            }
        }
        const std::uint32_t found =
            detail::find_correction(word, term_text, term_offsets, doc_frequency);
        CHECK(found == expected);
        if (expected != detail::no_correction) ++corrected;
    }
    // Nearly half the words have a correction, so the comparison covers the tie-breaking.
    CHECK(corrected > 150);
}
