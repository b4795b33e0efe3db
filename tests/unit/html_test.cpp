#include "core/html.hpp"

#include <utf8proc.h>
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using tgsearch::append_html_escaped;
using tgsearch::html_escape;
using tgsearch::html_to_plain_text;
using tgsearch::telegram_html_length;
using tgsearch::utf8_floor;
using tgsearch::utf8_length;

TEST_CASE("html_escape replaces the four special characters", "[html]") {
    CHECK(html_escape("a < b > c & d \"e\"") == "a &lt; b &gt; c &amp; d &quot;e&quot;");
    CHECK(html_escape("plain text") == "plain text");
    CHECK(html_escape("") == "");
    CHECK(html_escape("&amp;") == "&amp;amp;");
    CHECK(html_escape("it's") == "it's");
}

TEST_CASE("html_escape replaces invalid UTF-8", "[html]") {
    CHECK(html_escape("مرحبا <ёж> 😂") == "مرحبا &lt;ёж&gt; 😂");
    CHECK(html_escape("a\xFF"
                      "b") ==
          "a\xEF\xBF\xBD"
          "b");
    CHECK(html_escape("\xC3") == "\xEF\xBF\xBD");                  // truncated sequence
    CHECK(html_escape("\xC0\xAF") == "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong '/'
    CHECK(html_escape("\xED\xA0\x80") ==
          "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // UTF-16 surrogate
}

TEST_CASE("append_html_escaped appends to existing text", "[html]") {
    std::string out = "<b>";
    append_html_escaped(out, "1 < 2");
    out += "</b>";
    CHECK(out == "<b>1 &lt; 2</b>");
}

TEST_CASE("utf8_length counts code points", "[html]") {
    CHECK(utf8_length("") == 0);
    CHECK(utf8_length("abc") == 3);
    CHECK(utf8_length("ёж") == 2);
    CHECK(utf8_length("مرحبا") == 5);
    CHECK(utf8_length("😂") == 1);
    CHECK(utf8_length("👍🏽") == 2);  // emoji and skin-tone modifier are two code points
}

TEST_CASE("utf8_floor never ends inside a sequence", "[html]") {
    const std::string text = "aё😂";  // 1 + 2 + 4 bytes
    CHECK(utf8_floor(text, 0) == 0);
    CHECK(utf8_floor(text, 1) == 1);
    CHECK(utf8_floor(text, 2) == 1);  // would split ё
    CHECK(utf8_floor(text, 3) == 3);
    CHECK(utf8_floor(text, 4) == 3);
    CHECK(utf8_floor(text, 5) == 3);
    CHECK(utf8_floor(text, 6) == 3);
    CHECK(utf8_floor(text, 7) == 7);
    CHECK(utf8_floor(text, 100) == 7);
    CHECK(utf8_floor("", 5) == 0);
}

TEST_CASE("telegram_html_length counts entities once", "[html]") {
    CHECK(telegram_html_length("plain") == 5);
    CHECK(telegram_html_length("<b>bold</b>") == 4);
    CHECK(telegram_html_length("<a href=\"https://example.org/?a=1&amp;b=2\">link</a>") == 4);
    CHECK(telegram_html_length("<a href=\"x>y\">t</a>") == 1);  // '>' inside quotes
    CHECK(telegram_html_length("&lt;&gt;&amp;&quot;") == 4);
    CHECK(telegram_html_length("&#123;&#x1F600;&#X41;") == 3);
    CHECK(telegram_html_length("ёж <i>مرحبا</i> 😂") == 10);
    CHECK(telegram_html_length("") == 0);
}

TEST_CASE("telegram_html_length counts bare ampersands", "[html]") {
    CHECK(telegram_html_length("a & b") == 5);
    CHECK(telegram_html_length("&unknown;") == 9);
    CHECK(telegram_html_length("&#;") == 3);
    CHECK(telegram_html_length("&#xZZ;") == 6);
    CHECK(telegram_html_length("&amp") == 4);
    CHECK(telegram_html_length("<unterminated") == 13);
}

TEST_CASE("html_to_plain_text strips tags and decodes entities", "[html]") {
    CHECK(html_to_plain_text("<b>1 &lt; 2</b> &amp; <i>3 &gt; 2</i>") == "1 < 2 & 3 > 2");
    CHECK(html_to_plain_text("&quot;q&quot; &#65;&#x42; &#x1F600;") == "\"q\" AB 😀");
    CHECK(html_to_plain_text("&#0; &#xD800;") == "\xEF\xBF\xBD \xEF\xBF\xBD");
    CHECK(html_to_plain_text("<pre><code class=\"language-sh\">ls</code></pre>") == "ls");
    CHECK(html_to_plain_text("a & b") == "a & b");
    CHECK(html_to_plain_text("") == "");
}

TEST_CASE("html_to_plain_text appends link addresses", "[html]") {
    CHECK(html_to_plain_text("<a href=\"https://nginx.org/\">nginx</a>") ==
          "nginx (https://nginx.org/)");
    CHECK(html_to_plain_text("see <a href=\"https://x.org/?a=1&amp;b=2\"><b>x</b></a>.") ==
          "see x (https://x.org/?a=1&b=2).");
    CHECK(html_to_plain_text("<a href='https://y.org'>y</a>") == "y (https://y.org)");
    // A link that shows its own address is written once.
    CHECK(html_to_plain_text("<a href=\"https://z.org\">https://z.org</a>") == "https://z.org");
    CHECK(html_to_plain_text("<a>bare</a>") == "bare");
}

TEST_CASE("replace_invalid_utf8 keeps valid text", "[html]") {
    CHECK(tgsearch::replace_invalid_utf8("plain ascii") == "plain ascii");
    CHECK(tgsearch::replace_invalid_utf8("مرحبا 😀 ёлка") == "مرحبا 😀 ёлка");
}

TEST_CASE("replace_invalid_utf8 replaces bad bytes", "[html]") {
    CHECK(tgsearch::replace_invalid_utf8("a\xFF"
                                         "b") ==
          "a\uFFFD"
          "b");
    // A truncated sequence at the end, and a lone continuation byte.
    CHECK(tgsearch::replace_invalid_utf8("x\xD8") == "x\uFFFD");
    CHECK(tgsearch::replace_invalid_utf8("\x80"
                                         "y") ==
          "\uFFFD"
          "y");
    // An overlong encoding of '/' is not valid UTF-8.
    CHECK(tgsearch::replace_invalid_utf8("\xC0\xAF") == "\uFFFD\uFFFD");
}

namespace {

/// Escapes one character at a time, the way append_html_escaped is specified, to check its
/// faster copy of whole runs.
std::string escape_by_character(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size();) {
        const auto byte = static_cast<unsigned char>(text[i]);
        if (byte < 0x80) {
            switch (byte) {
                case '<':
                    out += "&lt;";
                    break;
                case '>':
                    out += "&gt;";
                    break;
                case '&':
                    out += "&amp;";
                    break;
                case '"':
                    out += "&quot;";
                    break;
                default:
                    out += static_cast<char>(byte);
            }
            ++i;
            continue;
        }
        utf8proc_int32_t code_point = 0;
        const auto length =
            utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + i),
                             static_cast<utf8proc_ssize_t>(text.size() - i), &code_point);
        if (length <= 0) {
            out += "\xEF\xBF\xBD";
            ++i;
        } else {
            out.append(text.substr(i, static_cast<std::size_t>(length)));
            i += static_cast<std::size_t>(length);
        }
    }
    return out;
}

}  // namespace

TEST_CASE("append_html_escaped copies runs like single characters", "[html]") {
    // Runs of 0 to 19 plain ASCII bytes between the characters that need work.
    const std::vector<std::string> pieces = {"<", ">",    "&",         "\"",           "ё",
                                             "😂", "\xFF", "\xC3",      "\xED\xA0\x80", "'",
                                             " ", "\n",   "plain text"};
    std::mt19937 random(7);
    for (int round = 0; round < 2000; ++round) {
        std::string text;
        const std::size_t count = random() % 12;
        for (std::size_t i = 0; i < count; ++i) {
            text += std::string(random() % 20, 'x');
            text += pieces[random() % pieces.size()];
        }
        CAPTURE(text);
        CHECK(html_escape(text) == escape_by_character(text));
    }
}

namespace {

/// Returns whether `html` has a visible character other than white space, found from the
/// tokens of tokenize_html.
bool has_content_token(std::string_view html) {
    for (const tgsearch::html_token& token : tgsearch::tokenize_html(html)) {
        const bool visible = token.type == tgsearch::html_token::kind::character ||
                             token.type == tgsearch::html_token::kind::entity;
        const std::int32_t cp = token.code_point;
        if (visible && cp != ' ' && cp != '\t' && cp != '\n' && cp != '\r') return true;
    }
    return false;
}

}  // namespace

TEST_CASE("has_visible_content skips tags and white space", "[html]") {
    using tgsearch::has_visible_content;
    CHECK_FALSE(has_visible_content(""));
    CHECK_FALSE(has_visible_content(" \n\t\r"));
    CHECK_FALSE(has_visible_content("<b> </b>\n<a href=\"x y\">\t</a>"));
    CHECK_FALSE(has_visible_content("&#32;&#10;&#x9;&#13;"));
    CHECK(has_visible_content(" x"));
    CHECK(has_visible_content("<b>&amp;</b>"));
    CHECK(has_visible_content("&#160;"));  // a no-break space is shown
    // Telegram supports only four named entities, so this one is text.
    CHECK(has_visible_content("&nbsp;"));
    CHECK(has_visible_content("<unterminated"));
    CHECK(has_visible_content(" & "));
    CHECK(has_visible_content("\xFF"));
    CHECK(has_visible_content(" 😂"));
}

TEST_CASE("has_visible_content agrees with tokenize_html", "[html]") {
    const std::vector<std::string> pieces = {" ", "\n",    "\t",    "<b>",   "</b>", "<a href='<'>",
                                             "&", "&amp;", "&#32;", "&#x20", "<",    ">",
                                             "x", "ё",     "\xFF",  "&#10;", "&lt;", "<i"};
    std::mt19937 random(11);
    for (int round = 0; round < 3000; ++round) {
        std::string html;
        const std::size_t count = random() % 8;
        for (std::size_t i = 0; i < count; ++i) html += pieces[random() % pieces.size()];
        CAPTURE(html);
        CHECK(tgsearch::has_visible_content(html) == has_content_token(html));
    }
}
