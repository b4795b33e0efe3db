#include "core/search_index.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
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
    for (const auto& hit : result.hits) ids.push_back(index.document_at(hit.doc).id);
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
    // Without the option, or after a space, a prefix is only a word.
    CHECK(run(*index, "zsta", false).hits.empty());
    CHECK(run(*index, "zsta ", true).hits.empty());
    // Only the last word is a prefix.
    CHECK(run(*index, "zsta compression", true).hits.size() == 1);
    CHECK(run(*index, "zsta compression", true).hits[0].matched_words == 1);
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
