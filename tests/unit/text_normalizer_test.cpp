#include "core/text_normalizer.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using tgsearch::normalize_word;
using tgsearch::query_terms;
using tgsearch::token;
using tgsearch::tokenize;

namespace {

std::vector<token> tokens_of(std::string_view text) {
    std::vector<token> tokens;
    tokenize(text, tokens);
    return tokens;
}

std::vector<std::string> terms_of(std::string_view text) { return query_terms(text); }

}  // namespace

TEST_CASE("normalize_word folds Latin case and accents", "[normalizer]") {
    struct example {
        const char* input;
        const char* expected;
    };
    const example examples[] = {
        {"Nginx", "nginx"},    {"HELLO", "hello"},
        {"Café", "cafe"},      {"CAFÉ", "cafe"},
        {"naïve", "naive"},    {"Ångström", "angstrom"},
        {"straße", "strasse"}, {"STRASSE", "strasse"},
        {"ﬁle", "file"},       // NFKC expands the ligature
        {"Ｆｕｌｌ", "full"},  // fullwidth forms
    };
    for (const auto& [input, expected] : examples) {
        CAPTURE(input);
        CHECK(normalize_word(input) == expected);
    }
}

TEST_CASE("normalize_word unifies diacritized Arabic", "[normalizer]") {
    struct pair {
        const char* diacritized;
        const char* plain;
    };
    const pair pairs[] = {
        {"ٱلْحَمْدُ", "الحمد"},      // alef wasla, sukun, damma
        {"مُحَمَّد", "محمد"},        // damma, fatha, shadda
        {"محـــمد", "محمد"},     // tatweel
        {"أحمد", "احمد"},        // alef with hamza above
        {"إسلام", "اسلام"},      // alef with hamza below
        {"آمن", "امن"},          // alef with madda
        {"مستشفى", "مستشفي"},    // alef maqsura and yeh
        {"مدرسة", "مدرسه"},      // teh marbuta and heh
        {"کتاب", "كتاب"},        // Persian kaf
        {"فارسی", "فارسي"},      // Persian yeh
        {"ﺍﻟﻌﺮﺑﻴﺔ", "العربيه"},  // presentation forms
        {"ٱلۡقُرۡءَانُ", "القرآن"},   // Quranic hamza + alef
    };
    for (const auto& [diacritized, plain] : pairs) {
        CAPTURE(diacritized, plain);
        CHECK(normalize_word(diacritized) == normalize_word(plain));
        CHECK_FALSE(normalize_word(plain).empty());
    }
}

TEST_CASE("normalize_word unifies Arabic letter forms", "[normalizer]") {
    CHECK(normalize_word("أ") == "ا");
    CHECK(normalize_word("إ") == "ا");
    CHECK(normalize_word("آ") == "ا");
    CHECK(normalize_word("ٱ") == "ا");
    CHECK(normalize_word("ى") == "ي");
    CHECK(normalize_word("ی") == "ي");
    CHECK(normalize_word("ة") == "ه");
    CHECK(normalize_word("ک") == "ك");
}

TEST_CASE("normalize_word maps Eastern digits to ASCII", "[normalizer]") {
    CHECK(normalize_word("٢٠٢٤") == "2024");
    CHECK(normalize_word("۱۴۰۳") == "1403");
    CHECK(normalize_word("٠١٢٣٤٥٦٧٨٩") == "0123456789");
}

TEST_CASE("normalize_word removes Quranic marks", "[normalizer]") {
    // U+06E5 small waw and U+06DA small jeem are Quranic annotations; U+0670 is superscript
    // alef; U+0615 is a small high tah.
    CHECK(normalize_word("إِنَّهُۥ") == "انه");
    CHECK(normalize_word("ٱلۡعَٰلَمِينَ") == "العلمين");
    CHECK(normalize_word("ذَٰلِكَۚ") == "ذلك");
    CHECK(normalize_word("محمد\u0615") == "محمد");
}

TEST_CASE("normalize_word folds ё but keeps й", "[normalizer]") {
    CHECK(normalize_word("Ёлка") == "елка");
    CHECK(normalize_word("ёж") == "еж");
    CHECK(normalize_word("Йод") == "йод");
    CHECK(normalize_word("йод") != "иод");
    CHECK(normalize_word("МОЙ") == "мой");
    CHECK(normalize_word("ўсё") == "ўсе");
    // A decomposed й (и + combining breve) is the same term as the precomposed one.
    CHECK(normalize_word("и\u0306од") == "йод");
}

TEST_CASE("normalize_word removes zero-width joiners", "[normalizer]") {
    CHECK(normalize_word("می\u200Cخواهم") == normalize_word("میخواهم"));
    CHECK(normalize_word("a\u200Db") == "ab");
}

TEST_CASE("normalize_word drops invalid UTF-8 bytes", "[normalizer]") {
    CHECK(normalize_word("ab\xFF"
                         "cd") == "abcd");
    CHECK(normalize_word("\xC3") == "");
    CHECK(normalize_word("caf\xC3\xA9\x80") == "cafe");
    CHECK(normalize_word("\xED\xA0\x80x") == "x");  // a UTF-16 surrogate is not valid UTF-8
    CHECK(normalize_word("") == "");
}

TEST_CASE("tokenize records original byte offsets", "[normalizer]") {
    const std::string text = "Hello, Café  мир!";
    const auto tokens = tokens_of(text);
    REQUIRE(tokens.size() == 3);
    for (const auto& t : tokens) {
        CAPTURE(t.term);
        CHECK(t.begin < t.end);
        CHECK(t.end <= text.size());
    }
    CHECK(tokens[0].term == "hello");
    CHECK(text.substr(tokens[0].begin, tokens[0].end - tokens[0].begin) == "Hello");
    CHECK(tokens[1].term == "cafe");
    CHECK(text.substr(tokens[1].begin, tokens[1].end - tokens[1].begin) == "Café");
    CHECK(tokens[2].term == "мир");
    CHECK(text.substr(tokens[2].begin, tokens[2].end - tokens[2].begin) == "мир");
}

TEST_CASE("tokenize numbers words and symbols in order", "[normalizer]") {
    const auto tokens = tokens_of("new 🇩🇪 flag, 🔥 x");
    REQUIRE(tokens.size() == 5);
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        CAPTURE(tokens[i].term);
        CHECK(tokens[i].position == i);
    }
}

TEST_CASE("tokenize joins and splits connected words", "[normalizer]") {
    using terms = std::vector<std::string>;
    CHECK(terms_of("don't") == terms{"dont", "don", "t"});
    CHECK(terms_of("x-ray") == terms{"xray", "x", "ray"});
    CHECK(terms_of("x86_64 (amd64)") == terms{"x8664", "x86", "64", "amd64"});
    CHECK(terms_of("web/proxy.server") == terms{"web", "proxyserver", "proxy", "server"});
    CHECK(terms_of("«Привет», — сказал") == terms{"привет", "сказал"});
    // A connector without a letter or digit on both sides separates.
    CHECK(terms_of("rock - roll -x y- 'q' a..b") == terms{"rock", "roll", "x", "y", "q", "a", "b"});
    CHECK(terms_of("").empty());
    CHECK(terms_of("  ,.;!? ").empty());
}

TEST_CASE("tokenize places parts after their joined term", "[normalizer]") {
    const std::string text = "see e-mail now";
    const auto tokens = tokens_of(text);
    REQUIRE(tokens.size() == 5);
    CHECK(tokens[1].term == "email");
    CHECK(tokens[1].position == 1);
    CHECK(tokens[1].span == 2);
    CHECK(text.substr(tokens[1].begin, tokens[1].end - tokens[1].begin) == "e-mail");
    CHECK(tokens[2].term == "e");
    CHECK(tokens[2].position == 1);
    CHECK(tokens[2].span == 1);
    CHECK(tokens[3].term == "mail");
    CHECK(tokens[3].position == 2);
    CHECK(text.substr(tokens[3].begin, tokens[3].end - tokens[3].begin) == "mail");
    // The next word continues after the parts.
    CHECK(tokens[4].term == "now");
    CHECK(tokens[4].position == 3);
}

TEST_CASE("tokenize cuts a chain of parts at 16", "[normalizer]") {
    std::string text = "a";
    for (char c = 'b'; c <= 'r'; ++c) text += std::string("-") + c;  // 18 parts
    const auto tokens = tokens_of(text);
    REQUIRE_FALSE(tokens.empty());
    CHECK(tokens[0].term == "abcdefghijklmnop");
    CHECK(tokens[0].span == 16);
    CHECK(tokens[17].term == "qr");
    CHECK(tokens[17].position == 16);
    CHECK(tokens[17].span == 2);
}

TEST_CASE("tokenize keeps diacritized words whole", "[normalizer]") {
    const std::string text = "بِسۡمِ ٱللَّهِ";
    const auto tokens = tokens_of(text);
    REQUIRE(tokens.size() == 2);
    CHECK(tokens[0].term == "بسم");
    CHECK(text.substr(tokens[0].begin, tokens[0].end - tokens[0].begin) == "بِسۡمِ");
    CHECK(tokens[1].term == "الله");
    CHECK(tokens[1].end == text.size());
}

TEST_CASE("tokenize splits words at ZWNJ and joins them", "[normalizer]") {
    const std::string text = "سایه\u200Cروشن";
    const auto tokens = tokens_of(text);
    REQUIRE(tokens.size() == 3);
    CHECK(tokens[0].term == normalize_word("سایهروشن"));
    CHECK(tokens[0].begin == 0);
    CHECK(tokens[0].end == text.size());
    CHECK(tokens[0].span == 2);
    CHECK(tokens[1].term == normalize_word("سایه"));
    CHECK(tokens[1].position == 0);
    CHECK(tokens[2].term == normalize_word("روشن"));
    CHECK(tokens[2].position == 1);
    // At the end of a word the joiner belongs to no word.
    const auto trailing = tokens_of("ab\u200C cd");
    REQUIRE(trailing.size() == 2);
    CHECK(trailing[0].end == 2);
}

TEST_CASE("tokenize makes each emoji a token", "[normalizer]") {
    CHECK(terms_of("I ❤ tea😂") == std::vector<std::string>{"i", "❤", "tea", "😂"});
    // Skin tones and the emoji variation selector are dropped, so both spellings match.
    CHECK(terms_of("👍🏽") == std::vector<std::string>{"👍"});
    CHECK(terms_of("❤️") == std::vector<std::string>{"❤"});
    // A ZWJ sequence is one token and keeps its joiner.
    CHECK(terms_of("🐈\u200D⬛") == std::vector<std::string>{"🐈\u200D⬛"});
    CHECK(terms_of("🐈 \u200D⬛") == std::vector<std::string>{"🐈", "⬛"});
    // A lone skin-tone modifier is still a symbol.
    CHECK(terms_of("🏽") == std::vector<std::string>{"🏽"});
}

TEST_CASE("tokenize pairs regional indicators into flags", "[normalizer]") {
    const std::string text = "🇺🇦🇩🇪";
    const auto tokens = tokens_of(text);
    REQUIRE(tokens.size() == 2);
    CHECK(tokens[0].term == "🇺🇦");
    CHECK(tokens[0].begin == 0);
    CHECK(tokens[0].end == 8);
    CHECK(tokens[1].term == "🇩🇪");
    CHECK(tokens[1].end == 16);
}

TEST_CASE("tokenize adds superscript alef variants", "[normalizer]") {
    const std::string text = "رَبِّ ٱلۡعَٰلَمِينَ";
    const auto tokens = tokens_of(text);
    REQUIRE(tokens.size() == 3);
    CHECK(tokens[1].term == "العلمين");
    CHECK(tokens[2].term == "العالمين");
    CHECK(tokens[1].begin == tokens[2].begin);
    CHECK(tokens[1].end == tokens[2].end);
    CHECK(tokens[0].position == 0);
    CHECK(tokens[1].position == 1);
    CHECK(tokens[2].position == 1);
    // After waw the mark stands for the alef that replaces it; after yeh it is silent.
    CHECK(terms_of("ٱلصَّلَوٰةَ") == std::vector<std::string>{"الصلوه", "الصلاه"});
    CHECK(terms_of("عَلَىٰ") == std::vector<std::string>{"علي"});
}

TEST_CASE("tokenize survives invalid UTF-8", "[normalizer]") {
    const std::string text =
        "ab\xFF\xFE"
        "cd \xC3 \xE2\x82 ok\xF0\x9F";
    const auto tokens = tokens_of(text);
    std::vector<std::string> terms;
    for (const auto& t : tokens) {
        CHECK(t.end <= text.size());
        terms.push_back(t.term);
    }
    CHECK(terms == std::vector<std::string>{"ab", "cd", "ok"});
}

TEST_CASE("query_terms keeps duplicates in order", "[normalizer]") {
    CHECK(query_terms("Proxy proxy PROXY server") ==
          std::vector<std::string>{"proxy", "proxy", "proxy", "server"});
}

TEST_CASE("parse_query_words groups alternative spellings", "[normalizer]") {
    const std::string query = "رَبِّ ٱلۡعَٰلَمِينَ";
    const auto words = tgsearch::parse_query_words(query);
    REQUIRE(words.size() == 2);
    CHECK(words[0].spellings == std::vector<std::vector<std::string>>{{"رب"}});
    CHECK(words[1].spellings == std::vector<std::vector<std::string>>{{"العلمين"}, {"العالمين"}});
    CHECK(query.substr(words[1].begin, words[1].end - words[1].begin) == "ٱلۡعَٰلَمِينَ");
}
