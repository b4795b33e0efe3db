// Checks that the spellings people use for one word find each other: Persian words written with
// a ZWNJ, a space or nothing, connected English words, and diacritized Quranic text.

#include "core/text_normalizer.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using tgsearch::parse_query_words;
using tgsearch::token;
using tgsearch::tokenize;

namespace {

using spelling_list = std::vector<std::vector<std::string>>;

/// Returns whether `document` contains the terms of `spelling` at consecutive positions, the
/// rule the searcher applies to a spelling of several terms.
bool contains_phrase(const std::vector<token>& document, const std::vector<std::string>& spelling) {
    for (const token& start : document) {
        if (start.term != spelling.front()) continue;
        bool found = true;
        for (std::size_t k = 1; k < spelling.size() && found; ++k) {
            found = false;
            for (const token& t : document) {
                if (t.position == start.position + k && t.term == spelling[k]) found = true;
            }
        }
        if (found) return true;
    }
    return false;
}

/// Returns whether every word of `query` has a spelling that `document` contains.
bool matches(std::string_view document, std::string_view query) {
    std::vector<token> tokens;
    tokenize(document, tokens);
    const auto words = parse_query_words(query);
    if (words.empty()) return false;
    for (const auto& word : words) {
        bool any = false;
        for (const auto& spelling : word.spellings) any = any || contains_phrase(tokens, spelling);
        if (!any) return false;
    }
    return true;
}

struct persian_pair {
    const char* first;
    const char* second;
};

// Pairs from the Persian localization and GNOME help corpora, where each is written both with
// a ZWNJ and with a space (and some without either).
const persian_pair persian_pairs[] = {
    {"می", "خواهید"}, {"نمی", "توان"}, {"برنامه", "ها"}, {"فایل", "های"},
    {"بیش", "تر"},    {"کرده", "اید"}, {"بی", "سیم"},    {"گونه", "ای"},
};

std::vector<std::string> persian_forms(const persian_pair& pair) {
    const std::string first = pair.first;
    const std::string second = pair.second;
    return {first + "\u200C" + second, first + " " + second, first + second};
}

}  // namespace

TEST_CASE("Persian affix forms match each other", "[normalizer]") {
    const char* form_names[] = {"ZWNJ", "space", "attached"};
    for (const persian_pair& pair : persian_pairs) {
        const auto forms = persian_forms(pair);
        for (std::size_t d = 0; d < forms.size(); ++d) {
            for (std::size_t q = 0; q < forms.size(); ++q) {
                const std::string document = "این " + forms[d] + " است";
                CAPTURE(document, forms[q], form_names[d], form_names[q]);
                CHECK(matches(document, forms[q]));
            }
        }
    }
}

TEST_CASE("Persian parts match only separated forms", "[normalizer]") {
    // A part on its own finds the word where the writer marked the boundary, never inside an
    // attached word, because an attached word is not split.
    CHECK(matches("می\u200Cخواهید", "خواهید"));
    CHECK(matches("می خواهید", "خواهید"));
    CHECK_FALSE(matches("میخواهید", "خواهید"));
    CHECK_FALSE(matches("بیمار", "مار"));
    // Words that are not affixes do not join across a space.
    CHECK_FALSE(matches("سایه روشن", "سایهروشن"));
    CHECK(matches("سایه\u200Cروشن", "سایهروشن"));
    CHECK(matches("سایه\u200Cروشن", "سایه روشن"));
}

TEST_CASE("parse_query_words joins affixed Persian words", "[normalizer]") {
    const std::string query = "من می خواهم";
    const auto words = parse_query_words(query);
    REQUIRE(words.size() == 2);
    CHECK(words[1].spellings == spelling_list{{"مي", "خواهم"}, {"ميخواهم"}});
    CHECK(query.substr(words[1].begin, words[1].end - words[1].begin) == "می خواهم");

    const auto zwnj = parse_query_words("می\u200Cخواهم");
    REQUIRE(zwnj.size() == 1);
    CHECK(zwnj[0].spellings == spelling_list{{"ميخواهم"}, {"مي", "خواهم"}});

    const auto attached = parse_query_words("میخواهم");
    REQUIRE(attached.size() == 1);
    CHECK(attached[0].spellings == spelling_list{{"ميخواهم"}});
}

TEST_CASE("parse_query_words lists every cover", "[normalizer]") {
    // The suffix joins the whole compound before it, so three spellings cover the word.
    const auto words = parse_query_words("برنامه\u200Cنویس ها");
    REQUIRE(words.size() == 1);
    CHECK(words[0].spellings ==
          spelling_list{{"برنامهنويس", "ها"}, {"برنامهنويسها"}, {"برنامه", "نويس", "ها"}});

    const auto hashtag = parse_query_words("#news e-mail");
    REQUIRE(hashtag.size() == 2);
    CHECK(hashtag[0].spellings == spelling_list{{"#news"}, {"news"}});
    CHECK(hashtag[1].spellings == spelling_list{{"email"}, {"e", "mail"}});
}

TEST_CASE("connected English forms match each other", "[normalizer]") {
    struct example {
        const char* document;
        const char* query;
        bool expected;
    };
    const example examples[] = {
        {"send an e-mail", "e-mail", true},
        {"send an e-mail", "email", true},
        {"send an e-mail", "e mail", true},
        {"send an email", "e-mail", true},
        {"send an e mail", "e-mail", true},
        // Two typed words never match a joined one, because nothing marks them as one word.
        {"send an email", "e mail", false},
        {"built for x86_64", "x86-64", true},
        {"built for x86_64", "x86 64", true},
        {"built for x86_64", "x8664", true},
        {"don't panic", "dont", true},
        {"don't panic", "don't", true},
        {"dont panic", "don't", true},
        {"pi is 3.14", "3.14", true},
        {"pi is 3.14", "14", false},
        {"costs 1,000 USD", "1000", true},
        {"mail user@example.org", "example.org", true},
        {"mail user@example.org", "user@example.org", true},
        {"see .NET docs", "net", true},
        {"see .NET docs", ".net", true},
        {"join #python", "python", true},
        {"C++ code", "c++", true},
        {"C code", "c++", false},
        {"C++ code", "c", false},
    };
    for (const auto& [document, query, expected] : examples) {
        CAPTURE(document, query);
        CHECK(matches(document, query) == expected);
    }
}

TEST_CASE("diacritized Quran verses match plain text", "[normalizer]") {
    std::ifstream file(TGSEARCH_FIXTURES_DIR "/normalizer/quran_verses.tsv");
    REQUIRE(file.is_open());
    std::string line;
    int verses = 0;
    while (std::getline(file, line)) {
        if (line.empty() || line[0] == '#') continue;
        const auto first_tab = line.find('\t');
        const auto second_tab = line.find('\t', first_tab + 1);
        REQUIRE(second_tab != std::string::npos);
        const std::string reference = line.substr(0, first_tab);
        const std::string diacritized = line.substr(first_tab + 1, second_tab - first_tab - 1);
        const std::string plain = line.substr(second_tab + 1);
        CAPTURE(reference, diacritized, plain);
        ++verses;

        std::vector<token> from_diacritized;
        tokenize(diacritized, from_diacritized);
        std::vector<token> from_plain;
        tokenize(plain, from_plain);
        REQUIRE_FALSE(from_plain.empty());
        // Every plain word is a term of the diacritized verse at the same position.
        for (const token& word : from_plain) {
            CAPTURE(word.term, word.position);
            bool found = false;
            for (const token& t : from_diacritized) {
                found = found || (t.term == word.term && t.position == word.position);
            }
            CHECK(found);
        }
        CHECK(from_diacritized.back().position == from_plain.back().position);
        // The whole plain verse, as a query, finds the diacritized one.
        CHECK(matches(diacritized, plain));
    }
    CHECK(verses == 20);
}

TEST_CASE("modern spellings find Quranic words", "[normalizer]") {
    CHECK(matches("ٱلۡحَمۡدُ لِلَّهِ رَبِّ ٱلۡعَٰلَمِينَ", "العالمين"));
    CHECK(matches("بِسۡمِ ٱللَّهِ ٱلرَّحۡمَٰنِ ٱلرَّحِيمِ", "الرحمن"));
    CHECK(matches("وَيُقِيمُونَ ٱلصَّلَوٰةَ", "الصلاة"));
    CHECK(matches("ذَٰلِكَ ٱلۡكِتَٰبُ", "ذلك الكتاب"));
    CHECK_FALSE(matches("ذَٰلِكَ ٱلۡكِتَٰبُ", "الكاتب"));
}
