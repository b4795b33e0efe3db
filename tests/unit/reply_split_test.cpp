#include "core/reply_split.hpp"
#include "core/html.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace tgsearch;

namespace {

/// Returns an empty string when `html` is well-formed Telegram HTML as the splitter must keep
/// it: valid UTF-8, no bare "<" or "&", and every end tag matching the last open start tag.
/// Otherwise returns what is wrong.
std::string html_problem(const std::string& html) {
    std::vector<std::string> open;
    for (const html_token& token : tokenize_html(html)) {
        switch (token.type) {
            case html_token::kind::character:
                if (token.code_point < 0) {
                    return "invalid UTF-8 at byte " + std::to_string(token.begin);
                }
                if (token.code_point == '<' || token.code_point == '&') {
                    return "bare < or & at byte " + std::to_string(token.begin);
                }
                break;
            case html_token::kind::entity:
                break;
            case html_token::kind::start_tag:
                open.push_back(token.name);
                break;
            case html_token::kind::end_tag:
                if (open.empty() || open.back() != token.name) {
                    return "unmatched </" + token.name + "> at byte " + std::to_string(token.begin);
                }
                open.pop_back();
                break;
        }
    }
    return open.empty() ? std::string() : "unclosed <" + open.back() + ">";
}

/// Returns the text Telegram shows for `html`: tags removed and entities decoded. Unlike
/// html_to_plain_text it leaves out link addresses, which a cut inside a link would repeat.
std::string visible_text(const std::string& html) {
    std::string without_tags;
    for (const html_token& token : tokenize_html(html)) {
        if (token.type == html_token::kind::character || token.type == html_token::kind::entity) {
            without_tags.append(html, token.begin, token.end - token.begin);
        }
    }
    return html_to_plain_text(without_tags);
}

std::string joined_text(const std::vector<std::string>& parts) {
    std::string text;
    for (const std::string& part : parts) {
        text += visible_text(part);
    }
    return text;
}

/// Builds a reply of at least `min_chars` characters from numbered paragraphs that each hold a
/// linked title, a bold word, an entity and `word` repeated: the shape of a results page.
std::string long_reply(const std::string& word, std::size_t min_chars) {
    std::string html = "🔎 <b>" + word + "</b>\n";
    for (int number = 1; telegram_html_length(html) < min_chars; ++number) {
        html += "\n" + std::to_string(number) +
                ". <a href=\"https://example.org/?a=1&amp;b=" + std::to_string(number) + "\">" +
                word + " &amp; " + word + "</a>\n";
        for (int i = 0; i < 30; ++i) {
            html += (i % 7 == 3) ? "<b>" + word + "</b> " : word + " ";
        }
        html += "&lt;end&gt;\n";
    }
    return html;
}

void check_parts(const std::string& html, const std::vector<std::string>& parts) {
    REQUIRE(parts.size() >= 3);
    for (const std::string& part : parts) {
        CAPTURE(part.substr(0, 80));
        CHECK(telegram_html_length(part) <= telegram_max_message_chars);
        CHECK(part.size() <= telegram_max_message_bytes);
        CHECK(html_problem(part).empty());
        CHECK(visible_text(part).find_first_not_of(" \n") != std::string::npos);
    }
    CHECK(joined_text(parts) == visible_text(html));
}

}  // namespace

TEST_CASE("split keeps a short reply whole", "[reply_split]") {
    const std::string html = "<b>nginx</b> &amp; friends";
    const std::vector<std::string> parts = split_html_message(html);
    REQUIRE(parts.size() == 1);
    CHECK(parts[0] == html);
}

TEST_CASE("split returns nothing for white space", "[reply_split]") {
    CHECK(split_html_message("").empty());
    CHECK(split_html_message(" \n\n<b> </b>\n").empty());
}

TEST_CASE("split cuts 10000 Latin characters at paragraphs", "[reply_split]") {
    const std::string html = long_reply("proxy", 10'000);
    REQUIRE(telegram_html_length(html) >= 10'000);
    const std::vector<std::string> parts = split_html_message(html);
    check_parts(html, parts);
    // Every paragraph is far shorter than a message, so each cut follows a blank line.
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
        CAPTURE(i);
        CHECK(visible_text(parts[i]).ends_with("\n\n"));
    }
}

TEST_CASE("split cuts 10000 Arabic characters", "[reply_split]") {
    const std::string html = long_reply("الحمد لله رب العالمين", 10'000);
    check_parts(html, split_html_message(html));
}

TEST_CASE("split cuts 10000 emoji characters", "[reply_split]") {
    const std::string html = long_reply("😂🚀", 10'000);
    check_parts(html, split_html_message(html));
}

TEST_CASE("split falls back to lines, then words", "[reply_split]") {
    std::string lines;
    while (telegram_html_length(lines) < 10'000) {
        lines += "one line of words &amp; more\n";
    }
    std::vector<std::string> parts = split_html_message(lines);
    check_parts(lines, parts);
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
        CHECK(parts[i].ends_with("\n"));
    }

    std::string words;
    while (telegram_html_length(words) < 10'000) {
        words += "word&amp;word ";
    }
    parts = split_html_message(words);
    check_parts(words, parts);
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
        CHECK(parts[i].ends_with("word "));
    }
}

TEST_CASE("split closes and reopens tags at a cut", "[reply_split]") {
    std::string inner;
    while (telegram_html_length(inner) < 9'000) {
        inner += "linked text ";
    }
    const std::string html =
        "<i>x <a href=\"https://example.org/a?b=1&amp;c=2\">" + inner + "</a> y</i>";
    const std::vector<std::string> parts = split_html_message(html);
    check_parts(html, parts);
    CHECK(parts[0].ends_with("</a></i>"));
    CHECK(parts[1].starts_with("<i><a href=\"https://example.org/a?b=1&amp;c=2\">"));
    CHECK(parts[1].ends_with("</a></i>"));
}

TEST_CASE("split never cuts inside an entity or a grapheme cluster", "[reply_split]") {
    // No spaces, so the cuts fall between characters. Each unit is one entity or one family
    // emoji: man, woman and girl joined by zero-width joiners, five code points in all.
    const std::string man = "\U0001F468";
    const std::string girl = "\U0001F467";
    const std::string family = man + "\u200D\U0001F469\u200D" + girl;
    std::string html;
    for (int i = 0; i < 2000; ++i) {
        html += (i % 2 == 0) ? "&amp;" : family;
    }
    const std::vector<std::string> parts = split_html_message(html, 1000);
    REQUIRE(parts.size() >= 2);
    for (const std::string& part : parts) {
        CAPTURE(part.substr(0, 40));
        CHECK(telegram_html_length(part) <= 1000);
        CHECK(html_problem(part).empty());
        CHECK((part.starts_with("&amp;") || part.starts_with(man)));
        CHECK((part.ends_with("&amp;") || part.ends_with(girl)));
    }
    CHECK(joined_text(parts) == visible_text(html));
}

TEST_CASE("split keeps each part within the byte bound", "[reply_split]") {
    // 4000 entities are 4000 characters but 20000 bytes, so a 6000-byte bound cuts by bytes.
    std::string html;
    for (int i = 0; i < 4000; ++i) {
        html += (i % 10 == 9) ? " " : "&amp;";
    }
    const std::vector<std::string> parts = split_html_message(html, 4096, 6000);
    REQUIRE(parts.size() >= 4);
    for (const std::string& part : parts) {
        CHECK(part.size() <= 6000);
    }
    CHECK(joined_text(parts) == visible_text(html));
}

TEST_CASE("split keeps a reply at the limits whole", "[reply_split]") {
    // Exactly max_chars characters, and exactly max_bytes bytes, still fit one message.
    std::string html = "<b>" + std::string(4000, 'a') + "</b>&amp;" + std::string(95, 'b');
    REQUIRE(telegram_html_length(html) == telegram_max_message_chars);
    std::vector<std::string> parts = split_html_message(html);
    REQUIRE(parts.size() == 1);
    CHECK(parts[0] == html);

    html += "c";
    parts = split_html_message(html);
    CHECK(parts.size() == 2);

    const std::string bytes = std::string(99, 'a') + "ёж";  // 103 bytes
    CHECK(split_html_message(bytes, 200, 103) == std::vector<std::string>{bytes});
    CHECK(split_html_message(bytes, 200, 102).size() == 2);
}

TEST_CASE("split returns nothing for spaces written as entities", "[reply_split]") {
    CHECK(split_html_message("&#32;<b>&#10;</b>&#x9;").empty());
    CHECK(split_html_message("&#32;x") == std::vector<std::string>{"&#32;x"});
}
