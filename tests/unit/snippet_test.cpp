#include "core/snippet.hpp"
#include "core/html.hpp"
#include "core/text_normalizer.hpp"

#include <utf8proc.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

using tgsearch::make_snippet_html;
using tgsearch::query_terms;
using tgsearch::telegram_html_length;

namespace {

const std::string ellipsis = "\xE2\x80\xA6";

/// Checks UTF-8 validity independently of the code under test: lead byte, continuation
/// bytes, no overlong forms, no surrogates, nothing above U+10FFFF.
bool is_valid_utf8(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size()) {
        const auto lead = static_cast<unsigned char>(text[i]);
        std::size_t length = 0;
        std::uint32_t cp = 0;
        if (lead < 0x80) {
            ++i;
            continue;
        } else if ((lead & 0xE0) == 0xC0) {
            length = 2;
            cp = lead & 0x1F;
        } else if ((lead & 0xF0) == 0xE0) {
            length = 3;
            cp = lead & 0x0F;
        } else if ((lead & 0xF8) == 0xF0) {
            length = 4;
            cp = lead & 0x07;
        } else {
            return false;
        }
        if (i + length > text.size()) return false;
        for (std::size_t k = 1; k < length; ++k) {
            const auto byte = static_cast<unsigned char>(text[i + k]);
            if ((byte & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (byte & 0x3F);
        }
        const std::uint32_t min_for_length[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_for_length[length] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += length;
    }
    return true;
}

std::string snippet(std::string_view text, std::string_view query, std::size_t max_chars) {
    return make_snippet_html(text, query_terms(query), max_chars);
}

bool starts_with(std::string_view text, std::string_view prefix) {
    return text.substr(0, prefix.size()) == prefix;
}

bool ends_with(std::string_view text, std::string_view suffix) {
    return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

std::string repeat(std::string_view word, int count) {
    std::string out;
    for (int i = 0; i < count; ++i) {
        if (i > 0) out += ' ';
        out += word;
    }
    return out;
}

}  // namespace

TEST_CASE("snippet bolds matched words in a short text", "[snippet]") {
    CHECK(snippet("nginx is a web server", "nginx server", 100) ==
          "<b>nginx</b> is a web <b>server</b>");
    CHECK(snippet("Proxy, proxy!", "PROXY", 100) == "<b>Proxy</b>, <b>proxy</b>!");
}

TEST_CASE("snippet escapes HTML in the text", "[snippet]") {
    CHECK(snippet("a <b> & \"c\" apple", "apple", 100) ==
          "a &lt;b&gt; &amp; &quot;c&quot; <b>apple</b>");
    CHECK(snippet("x<y", "x", 100) == "<b>x</b>&lt;y");
}

TEST_CASE("snippet collapses whitespace to single spaces", "[snippet]") {
    CHECK(snippet("  first\n\n  second\tthird \r\n", "second", 100) == "first <b>second</b> third");
    CHECK(snippet("one\u00A0\u2003two", "two", 100) == "one <b>two</b>");
}

TEST_CASE("snippet cuts around the match with ellipses", "[snippet]") {
    const std::string text = repeat("lorem", 40) + " the needle is here " + repeat("ipsum", 40);
    const std::string html = snippet(text, "needle", 60);
    CAPTURE(html);
    CHECK(starts_with(html, ellipsis));
    CHECK(ends_with(html, ellipsis));
    CHECK(html.find("<b>needle</b>") != std::string::npos);
    CHECK(telegram_html_length(html) <= 60);
    // Cuts fall between words, never inside one.
    CHECK(html.find(ellipsis + "lorem") != std::string::npos);
    CHECK(html.find("ipsum" + ellipsis) != std::string::npos);
}

TEST_CASE("snippet prefers more distinct terms", "[snippet]") {
    const std::string text = "alpha " + repeat("filler", 30) + " alpha " + repeat("filler", 30) +
                             " alpha and beta together " + repeat("filler", 30);
    const std::string html = snippet(text, "alpha beta", 50);
    CAPTURE(html);
    CHECK(html.find("<b>alpha</b> and <b>beta</b>") != std::string::npos);
}

TEST_CASE("snippet then prefers more matches", "[snippet]") {
    const std::string text =
        "alpha " + repeat("filler", 30) + " alpha beta alpha " + repeat("filler", 30) + " beta";
    const std::string html = snippet(text, "alpha beta", 40);
    CAPTURE(html);
    CHECK(html.find("<b>alpha</b> <b>beta</b> <b>alpha</b>") != std::string::npos);
}

TEST_CASE("snippet without matches shows text start", "[snippet]") {
    const std::string text = "First words of the text. " + repeat("more", 50);
    const std::string html = snippet(text, "absent", 30);
    CAPTURE(html);
    CHECK(starts_with(html, "First words of the text."));
    CHECK(html.find("<b>") == std::string::npos);
    CHECK(ends_with(html, ellipsis));
    CHECK(telegram_html_length(html) <= 30);
    CHECK(snippet("short text", "absent", 30) == "short text");
}

TEST_CASE("snippet bolds diacritized words for plain queries", "[snippet]") {
    CHECK(snippet("مُحَمَّد رَسُولُ ٱللَّهِ", "محمد", 100) == "<b>مُحَمَّد</b> رَسُولُ ٱللَّهِ");
    CHECK(snippet("رَبِّ ٱلۡعَٰلَمِينَ", "العالمين", 100) == "رَبِّ <b>ٱلۡعَٰلَمِينَ</b>");
    CHECK(snippet("Новогодняя Ёлка", "елка", 100) == "Новогодняя <b>Ёлка</b>");
}

TEST_CASE("snippet keeps UTF-8 sequences whole", "[snippet]") {
    const std::vector<std::string> texts = {
        repeat("ٱلۡحَمۡدُ لِلَّهِ رَبِّ ٱلۡعَٰلَمِينَ", 20),
        repeat("😂👍🏽🐈\u200D⬛", 30),
        repeat("Съешь же ещё этих мягких французских булок", 10),
        std::string(200, 'a') + "😂" + std::string(200, 'b'),
        repeat("محمدمحمدمحمدمحمدمحمد", 10),
    };
    const std::vector<std::string> queries = {"", "الحمد", "😂", "булок", "zzz", "محمد"};
    for (const auto& text : texts) {
        for (const auto& query : queries) {
            for (std::size_t max_chars = 1; max_chars <= 80; max_chars += 3) {
                const std::string html = snippet(text, query, max_chars);
                CAPTURE(text, query, max_chars, html);
                CHECK(is_valid_utf8(html));
                CHECK(telegram_html_length(html) <= max_chars);
            }
        }
    }
}

TEST_CASE("snippet cuts a word longer than the limit", "[snippet]") {
    const std::string word(300, 'x');
    const std::string html = snippet("start " + word + " end", word, 20);
    CAPTURE(html);
    CHECK(telegram_html_length(html) <= 20);
    CHECK(html.find("<b>x") != std::string::npos);
    CHECK(ends_with(html, "</b>" + ellipsis));
}

TEST_CASE("snippet respects max_chars including ellipses", "[snippet]") {
    const std::string text = "The quick brown fox jumps over the lazy dog. " + repeat("Pack", 40) +
                             " my box with five dozen liquor jugs.";
    for (std::size_t max_chars = 0; max_chars <= 120; ++max_chars) {
        for (const char* query : {"fox", "liquor jugs", "nothing", "pack box"}) {
            const std::string html = snippet(text, query, max_chars);
            CAPTURE(max_chars, query, html);
            CHECK(telegram_html_length(html) <= max_chars);
        }
    }
    CHECK(snippet(text, "fox", 0).empty());
    CHECK(snippet("", "fox", 50).empty());
    CHECK(snippet(" \n\t ", "fox", 50).empty());
}

TEST_CASE("snippet replaces invalid UTF-8", "[snippet]") {
    const std::string html = snippet("bad \xFF byte and apple", "apple", 100);
    CAPTURE(html);
    CHECK(is_valid_utf8(html));
    CHECK(html == "bad \xEF\xBF\xBD byte and <b>apple</b>");
}

TEST_CASE("snippet cuts the text start after a whole word", "[snippet]") {
    const std::string text =
        "NGINX is a web server for HTTP and Stream objects, with load balancing and caching.";
    const std::string html = snippet(text, "absent", 40);
    CAPTURE(html);
    REQUIRE(ends_with(html, ellipsis));
    const std::string shown = html.substr(0, html.size() - ellipsis.size());
    // The part shown ends where a word of the text ends.
    REQUIRE(text.starts_with(shown));
    const char after = text[shown.size()];
    CHECK((after == ' ' || after == ','));
}

TEST_CASE("snippet keeps a joined word whole", "[snippet]") {
    const std::string text =
        repeat("filler", 20) + " binutils-x86-64-kfreebsd-gnu and nginx-full " + repeat("tail", 20);
    const std::string html = snippet(text, "x86", 60);
    CAPTURE(html);
    CHECK(html.find("binutils-<b>x86</b>-64-kfreebsd-gnu") != std::string::npos);
    // A query for the joined word bolds each of its parts.
    const std::string joined = snippet(text, "nginx-full", 60);
    CAPTURE(joined);
    CHECK(joined.find("<b>nginx</b>-<b>full</b>") != std::string::npos);
}

TEST_CASE("snippet never splits a grapheme cluster", "[snippet]") {
    // Base letters with combining marks, a flag of two regional indicators, an accent written
    // as a combining mark: cut at every length, no cluster loses its tail.
    const std::vector<std::string> texts = {
        repeat("ٱلۡعَٰلَمِينَ", 12),
        repeat("🇮🇷", 40),
        repeat("cafe\u0301", 30),
    };
    for (const std::string& text : texts) {
        for (std::size_t max_chars = 3; max_chars <= 60; ++max_chars) {
            const std::string html = snippet(text, "absent", max_chars);
            CAPTURE(text, max_chars, html);
            REQUIRE(ends_with(html, ellipsis));
            const std::string shown = html.substr(0, html.size() - ellipsis.size());
            REQUIRE(text.starts_with(shown));
            const std::string_view rest = std::string_view(text).substr(shown.size());
            // What follows the cut starts a new cluster: not a combining mark and not the
            // second half of a flag.
            CHECK_FALSE(rest.starts_with("\u0301"));
            CHECK_FALSE(rest.starts_with("\u0670"));
            CHECK_FALSE(rest.starts_with("\u064E"));
            CHECK_FALSE(rest.starts_with("\u0650"));
            CHECK_FALSE(rest.starts_with("\u06E1"));
            CHECK_FALSE(rest.starts_with("🇷"));
            CHECK(telegram_html_length(html) <= max_chars);
        }
    }
}

namespace {

using tgsearch::find_snippet_words;
using tgsearch::snippet_word;
using tgsearch::snippet_word_scan;

/// Texts that use every ASCII rule of tokenize, and lines of other scripts between them.
const std::vector<std::string> tokenizer_rule_texts = {
    "e-mail x86-64 don't snake_case user@example.org a.b.c 3.14 1.2.3 1,000 v2.0-rc1",
    "C++ and C# and F#, c++11 g++-12 x++y #hashtag @username .net (#tag) [@user] {.ext}",
    "\"#quoted\" '@quoted' /#slash ~.tilde <#angle> a#b a@b a.b #a #1 ## #",
    "trailing punctuation. end! (brackets) [and] {braces}, semi; colon: dash - dash --",
    "a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p-q-r-s-t-u-v-w-x-y-z 1.2.3.4.5.6.7.8.9.10.11.12.13",
    "CamelCase UPPER lower MiXeD 123abc abc123 __init__ --flag -x +plus ++pre post++",
    "tabs\tand  spaces\r\nCRLF line\r\nquotes 'single' \"double\" it's o'clock",
    "ends with a hyphen-\nnext line starts.after a dot\n#tag at a line start\n@user too",
    "Съешь же ещё этих мягких французских булок, да выпей чаю e-mail x86-64",
    "ٱلۡحَمۡدُ لِلَّهِ رَبِّ ٱلۡعَٰلَمِينَ and c++ می خواهم "
    "کتاب‌ها",
    "😂👍🏽 family 👨\u200D👩\u200D👧 flag 🇮🇷 #emoji @😂 keycap 1\uFE0F\u20E3 "
    "c#",
    "mixed line: café naïve Straße ﬁle ①② x²",
};

/// Returns the words of `text` as written, one per token, for use as queries.
std::vector<std::string> words_of(const std::string& text) {
    std::vector<std::string> words;
    std::vector<tgsearch::token> tokens;
    tgsearch::tokenize(text, tokens);
    for (const tgsearch::token& token : tokens) {
        words.push_back(text.substr(token.begin, token.end - token.begin));
    }
    return words;
}

/// Checks that the three scans find the same words of `text` for `query`.
void check_scans_agree(const std::string& text, const std::string& query) {
    const std::vector<std::string> terms = query_terms(query);
    const std::vector<snippet_word> fast =
        find_snippet_words(text, terms, snippet_word_scan::ascii_fast_path);
    const std::vector<snippet_word> by_line =
        find_snippet_words(text, terms, snippet_word_scan::by_line);
    const std::vector<snippet_word> whole =
        find_snippet_words(text, terms, snippet_word_scan::whole_text);
    CAPTURE(text, query);
    CHECK(fast == whole);
    CHECK(by_line == whole);
}

}  // namespace

TEST_CASE("snippet word scans agree on tokenizer rules", "[snippet]") {
    std::string all_lines;
    for (const std::string& text : tokenizer_rule_texts) {
        all_lines += text + "\n";
        check_scans_agree(text, "");
        for (const std::string& word : words_of(text)) {
            check_scans_agree(text, word);
        }
    }
    // All lines at once: pure ASCII lines take the fast path between the others.
    for (const std::string& text : tokenizer_rule_texts) {
        for (const std::string& word : words_of(text)) {
            check_scans_agree(all_lines, word);
        }
    }
}

TEST_CASE("snippet word scans agree on random text", "[snippet]") {
    // Letters, digits, the punctuation tokenize treats specially, and line breaks, so that
    // every rule meets every neighbor. Some texts get a line of Cyrillic and Arabic.
    const std::string alphabet = "aAbZz09 .'-_@,\"+#/(~\n\t";
    std::mt19937 random(20240607);
    for (int round = 0; round < 3000; ++round) {
        std::string text;
        const std::size_t length = 1 + random() % 60;
        for (std::size_t i = 0; i < length; ++i) text += alphabet[random() % alphabet.size()];
        if (round % 4 == 0) text.insert(random() % (text.size() + 1), "\nёлка-палка ٱلۡعَٰلَمِينَ\n");
        // The query is a piece of the text, so that it often matches joined words and parts.
        const std::size_t begin = random() % text.size();
        const std::string query = text.substr(begin, 1 + random() % 12);
        check_scans_agree(text, query);
    }
}

TEST_CASE("snippet ASCII fast path matches mixed scripts", "[snippet]") {
    // Pure ASCII lines between Arabic, Russian and emoji lines give the same snippet as the
    // text with every line tokenized.
    const std::string text =
        "nginx-full is a web-server\n"
        "Веб-сервер nginx для e-mail и x86-64\n"
        "ٱلۡحَمۡدُ لِلَّهِ nginx 😂👍🏽 #nginx\n"
        "the #nginx @nginx .nginx nginx.conf e-mail x86-64 server\n";
    for (const char* query : {"nginx", "e-mail", "x86", "#nginx", "server", "mail", "сервер"}) {
        check_scans_agree(text, query);
    }
    const std::string html = snippet(text, "e-mail", 300);
    CAPTURE(html);
    CHECK(html.find("<b>e</b>-<b>mail</b> и") != std::string::npos);
    CHECK(html.find("<b>e</b>-<b>mail</b> x86-64 server") != std::string::npos);
}

TEST_CASE("snippet whitespace is Unicode space and control", "[snippet]") {
    // The snippet collapses exactly the characters of general category Zs, Zl, Zp and Cc.
    for (std::int32_t cp = 0; cp <= 0x10FFFF; ++cp) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;  // surrogates have no UTF-8 form
        const auto category = utf8proc_category(cp);
        const bool space = category == UTF8PROC_CATEGORY_ZS || category == UTF8PROC_CATEGORY_ZL ||
                           category == UTF8PROC_CATEGORY_ZP || category == UTF8PROC_CATEGORY_CC;
        utf8proc_uint8_t bytes[4];
        const auto length = utf8proc_encode_char(cp, bytes);
        const std::string text =
            "a" + std::string(reinterpret_cast<const char*>(bytes), length) + "b";
        const bool collapsed = make_snippet_html(text, {}, 10) == "a b";
        if (collapsed != space) {
            FAIL_CHECK("code point " << cp << " is whitespace " << space << " in utf8proc");
        }
    }
}

TEST_CASE("snippets of several lengths equal single snippets", "[snippet]") {
    const std::string text = "The quick brown fox jumps over the lazy dog.\n" + repeat("Pack", 40) +
                             "\nmy box with five dozen liquor jugs. ٱلۡعَٰلَمِينَ 😂";
    const std::vector<std::size_t> lengths = {0, 1, 2, 3, 20, 40, 200, 600, 5000};
    for (const char* query : {"fox", "liquor jugs", "nothing", "pack box", "العالمين"}) {
        const std::vector<std::string> terms = query_terms(query);
        const std::vector<std::string> snippets =
            tgsearch::make_snippets_html(text, terms, lengths);
        REQUIRE(snippets.size() == lengths.size());
        for (std::size_t i = 0; i < lengths.size(); ++i) {
            CAPTURE(query, lengths[i]);
            CHECK(snippets[i] == make_snippet_html(text, terms, lengths[i]));
        }
    }
}

namespace {

/// Returns `lines` lines of filler text without any query word, 39 characters each when the
/// line break counts as one space.
std::string filler_lines(std::size_t lines) {
    std::string text;
    for (std::size_t i = 0; i < lines; ++i) text += "lorem ipsum dolor sit amet consectetur\n";
    return text;
}

}  // namespace

TEST_CASE("snippet finds a match deep in a long text", "[snippet]") {
    // 195,000 characters before the only match: the scan goes on until it finds one.
    const std::string text = filler_lines(5000) + "the needle is here\n" + filler_lines(100);
    const std::string html = snippet(text, "needle", 100);
    CAPTURE(html);
    CHECK(starts_with(html, ellipsis));
    CHECK(html.find("<b>needle</b>") != std::string::npos);
    CHECK(ends_with(html, ellipsis));
    CHECK(telegram_html_length(html) <= 100);
}

TEST_CASE("snippet prefers a better passage within the scan", "[snippet]") {
    // The better passage is 195,000 characters past the first match, inside the scan.
    const std::string text = "alpha\n" + filler_lines(5000) + "alpha and beta\n" + filler_lines(10);
    const std::string html = snippet(text, "alpha beta", 100);
    CAPTURE(html);
    CHECK(html.find("<b>alpha</b> and <b>beta</b>") != std::string::npos);
}

TEST_CASE("snippet stops scanning far past the first match", "[snippet]") {
    // The better passage is 273,000 characters past the first match, past the 262,144 that a
    // long text is scanned, so the first match is shown. The same text on one line has no
    // line break to stop at and is scanned whole.
    const std::string text = "alpha\n" + filler_lines(7000) + "alpha and beta\n";
    const std::string html = snippet(text, "alpha beta", 100);
    CAPTURE(html);
    CHECK(starts_with(html, "<b>alpha</b> lorem"));
    CHECK(html.find("beta") == std::string::npos);
    CHECK(ends_with(html, ellipsis));

    std::string one_line = text;
    std::replace(one_line.begin(), one_line.end(), '\n', ' ');
    const std::string whole = snippet(one_line, "alpha beta", 100);
    CAPTURE(whole);
    CHECK(whole.find("<b>alpha</b> and <b>beta</b>") != std::string::npos);
}

TEST_CASE("snippet of a huge text without match shows its start", "[snippet]") {
    // A match past 1,048,576 characters is not looked for.
    const std::string text = "Start of text.\n" + filler_lines(27000) + "needle\n";
    const std::string html = snippet(text, "needle", 60);
    CAPTURE(html);
    CHECK(starts_with(html, "Start of text."));
    CHECK(html.find("<b>") == std::string::npos);
    CHECK(ends_with(html, ellipsis));
}
