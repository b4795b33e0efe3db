#include "core/snippet.hpp"
#include "core/html.hpp"
#include "core/text_normalizer.hpp"

#include <catch2/catch.hpp>

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
