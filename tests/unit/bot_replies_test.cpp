#include "core/bot_replies.hpp"
#include "core/html.hpp"
#include "core/snippet.hpp"
#include "core/text_normalizer.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <utility>
#include <vector>

using namespace tgsearch;

// The version /about reports, the project() version of the top-level CMakeLists.txt.
#define TGSEARCH_TEST_VERSION "0.1.0"

namespace {

std::shared_ptr<const search_index> make_index() {
    std::vector<document> docs;
    docs.push_back({"web:nginx", "nginx — web server",
                    "A small and fast web server and reverse proxy.", "https://nginx.org/"});
    docs.push_back({"web:apache", "apache2 — Apache HTTP Server",
                    "The Apache HTTP Server, a popular web server.", "https://httpd.apache.org/"});
    docs.push_back({"misc:tags", "Tags <b> & \"quotes\"", "Text with <script> & ampersands.",
                    "javascript:alert(1)"});
    docs.push_back({"misc:nourl", "", "A document without title or url about gardening.", ""});
    return search_index::build(std::move(docs));
}

incoming_message message(std::string chat_type, std::string text) {
    incoming_message result;
    result.update_id = 1;
    result.chat_id = chat_type == "private" ? 42 : -100123;
    result.message_id = 7;
    result.chat_type = std::move(chat_type);
    result.text = std::move(text);
    return result;
}

}  // namespace

TEST_CASE("reply to private text is a search", "[replies]") {
    const auto index = make_index();
    const reply_builder builder(*index, "tgsearch_bot");
    const outgoing_reply reply = builder.reply_to(message("private", "reverse proxy"));
    CHECK(reply.update_id == 1);
    CHECK(reply.chat_id == 42);
    CHECK(reply.reply_to_message_id == 0);
    CHECK(reply.html.find("<a href=\"https://nginx.org/\">nginx — web server</a>") !=
          std::string::npos);
    CHECK(reply.html.find("<b>proxy</b>") != std::string::npos);
}

TEST_CASE("reply ignores plain group chatter", "[replies]") {
    const auto index = make_index();
    const reply_builder builder(*index, "tgsearch_bot");
    CHECK(builder.reply_to(message("group", "web server")).html.empty());
    CHECK(builder.reply_to(message("supergroup", "web server")).html.empty());
    CHECK(builder.reply_to(message("channel", "web server")).html.empty());
}

TEST_CASE("reply answers group search commands", "[replies]") {
    const auto index = make_index();
    const reply_builder builder(*index, "tgsearch_bot");
    for (const char* text : {"/search web server", "/search@tgsearch_bot web server",
                             "/search@TGSearch_Bot web server"}) {
        CAPTURE(text);
        const outgoing_reply reply = builder.reply_to(message("supergroup", text));
        CHECK(reply.reply_to_message_id == 7);
        CHECK(reply.html.find("nginx") != std::string::npos);
    }
}

TEST_CASE("reply reads commands in any letter case", "[replies]") {
    const auto index = make_index();
    const reply_builder builder(*index, "tgsearch_bot");
    const std::string help = builder.render_help();
    CHECK(builder.reply_to(message("private", "/Start")).html == help);
    CHECK(builder.reply_to(message("private", "/HELP")).html == help);
    const outgoing_reply group = builder.reply_to(message("group", "/SEARCH web server"));
    CHECK(group.html.find("nginx") != std::string::npos);
    const outgoing_reply named = builder.reply_to(message("group", "/Search@TGSEARCH_BOT nginx"));
    CHECK(named.html.find("nginx") != std::string::npos);
    CHECK(builder.reply_to(message("group", "/SEARCH@OtherBot nginx")).html.empty());
}

TEST_CASE("reply ignores commands for other bots", "[replies]") {
    const auto index = make_index();
    const reply_builder builder(*index, "tgsearch_bot");
    CHECK(builder.reply_to(message("group", "/search@OtherBot web server")).html.empty());
    CHECK(builder.reply_to(message("private", "/help@OtherBot")).html.empty());
    CHECK(builder.reply_to(message("group", "/weather")).html.empty());
}

TEST_CASE("reply gives usage for start, help and empty queries", "[replies]") {
    const auto index = make_index();
    const reply_builder builder(*index, "tgsearch_bot");
    const std::string help = builder.render_help();
    CHECK(help.find("/search@tgsearch_bot") != std::string::npos);
    CHECK(help.find("4 documents") != std::string::npos);
    CHECK(builder.reply_to(message("private", "/start")).html == help);
    CHECK(builder.reply_to(message("private", "/help")).html == help);
    CHECK(builder.reply_to(message("group", "/help@tgsearch_bot")).html == help);
    CHECK_FALSE(builder.reply_to(message("private", "  \n\t ")).html.empty());
    CHECK(builder.reply_to(message("group", "/search")).html.find("Usage") != std::string::npos);
}

TEST_CASE("reply escapes query and corpus text", "[replies]") {
    const auto index = make_index();
    const reply_builder builder(*index, "");
    const std::string html = builder.render_search("tags <b> & \"quotes\"");
    CHECK(html.find("&lt;b&gt;") != std::string::npos);
    CHECK(html.find("<script>") == std::string::npos);
    // A javascript: URL is never linked.
    CHECK(html.find("javascript:") == std::string::npos);
    CHECK(html.find("href") == std::string::npos);
}

TEST_CASE("reply says nothing found", "[replies]") {
    const auto index = make_index();
    const reply_builder builder(*index, "");
    const std::string html = builder.render_search("zzzzqqq <x>");
    CHECK(html.starts_with("Nothing found for <b>zzzzqqq &lt;x&gt;</b>"));
}

TEST_CASE("reply uses id when title is empty", "[replies]") {
    const auto index = make_index();
    const reply_builder builder(*index, "");
    const std::string html = builder.render_search("gardening");
    CHECK(html.find("<b>misc:nourl</b>") != std::string::npos);
}

TEST_CASE("reply stays within Telegram's length limit", "[replies]") {
    // Long titles, long texts dense with the query word and long URLs in every document.
    std::vector<document> docs;
    for (int i = 0; i < 10; ++i) {
        std::string word_run;
        for (int j = 0; j < 2000; ++j) {
            word_run += "proxy ";
        }
        docs.push_back({"doc" + std::to_string(i), std::string(3000, 'T') + " proxy", word_run,
                        "https://example.org/" + std::string(900, 'u')});
    }
    const auto index = search_index::build(std::move(docs));
    const reply_builder builder(*index, "");
    const std::string long_query(20000, 'p');
    for (const std::string& query : {std::string("proxy"), long_query + " proxy"}) {
        const std::string html = builder.render_search(query);
        CHECK(telegram_html_length(html) <= telegram_max_message_chars);
        CHECK(html.size() <= 32768);
    }
}

TEST_CASE("reply cuts long queries between words", "[replies]") {
    std::vector<document> docs;
    docs.push_back({"web:nginx", "nginx — web server", "A web server.", ""});
    docs.push_back({"tools:ng", "ng tools", "ng", ""});
    const auto index = search_index::build(std::move(docs));
    const reply_builder builder(*index, "");
    // 342 repetitions of "nginx " are 2,052 bytes, so a cut at 2,048 bytes would leave the
    // fragment "ng" as a search term of its own.
    std::string query;
    for (int i = 0; i < 342; ++i) {
        query += "nginx ";
    }
    const std::string html = builder.render_search(query);
    CHECK(html.find("nginx — web server") != std::string::npos);
    CHECK(html.find("ng tools") == std::string::npos);

    // The same with separators other than ASCII spaces: hyphens, commas and no-break spaces.
    for (const std::string separator : {"-", ",", "\u00a0"}) {
        CAPTURE(separator);
        std::string separated;
        while (separated.size() < 2100) {
            separated += "nginx" + separator;
        }
        CHECK(builder.render_search(separated).find("ng tools") == std::string::npos);
    }
}

TEST_CASE("reply searches a long Arabic query and echoes a long word", "[replies]") {
    std::vector<document> docs;
    docs.push_back({"quran:1:2", "", "الحمد لله رب العالمين", ""});
    const auto index = search_index::build(std::move(docs));
    const reply_builder builder(*index, "");
    // The only matching word comes after 100 others of 11 bytes each, past the first 1,100
    // bytes of the message and well within the 2,048 that are searched.
    std::string query;
    for (int i = 0; i < 100; ++i) query += "كلمات ";
    query += "العالمين";
    for (int i = 0; i < 200; ++i) query += " كلمات";
    CHECK(builder.render_search(query).find("quran:1:2") != std::string::npos);
    // A single word longer than the limit is still named in the reply.
    const std::string html = builder.render_search(std::string(3000, 'y'));
    CHECK(html.starts_with("Nothing found for <b>yyy"));
}

TEST_CASE("reply uses id when title is only spaces", "[replies]") {
    std::vector<document> docs;
    docs.push_back({"u5", "   ", "kiwi five", "https://x.org/"});
    const auto index = search_index::build(std::move(docs));
    const reply_builder builder(*index, "");
    const std::string html = builder.render_search("kiwi");
    CAPTURE(html);
    CHECK(html.find("<a href=\"https://x.org/\">u5</a>") != std::string::npos);
}

TEST_CASE("reply replaces control characters in the echo", "[replies]") {
    const auto index = make_index();
    const reply_builder builder(*index, "");
    const std::string html = builder.render_search(std::string("zz\0qq\x01x", 7));
    CHECK(html.find('\0') == std::string::npos);
    CHECK(html.find('\x01') == std::string::npos);
    CHECK(html.find("zz qq x") != std::string::npos);

    // C1 controls and a right-to-left override are replaced too; other text is kept.
    const std::string c1 = builder.render_search("zz\u0085qq\u009bx\u202Ey\u2067w é");
    CHECK(c1.find("\u0085") == std::string::npos);
    CHECK(c1.find("\u009b") == std::string::npos);
    CHECK(c1.find("\u202E") == std::string::npos);
    CHECK(c1.find("\u2067") == std::string::npos);
    CHECK(c1.find("zz qq x y w é") != std::string::npos);
}

TEST_CASE("reply names the corrected query at the top", "[replies]") {
    const auto index = make_index();
    const reply_builder builder(*index, "");
    const std::string html = builder.render_search("gardenning");
    CHECK(html.starts_with("Showing results for <b>gardening</b>\n"));
    CHECK(html.find("<b>misc:nourl</b>") != std::string::npos);
    CHECK(html.find("<b>gardening</b>.") != std::string::npos);  // bold in the snippet

    // The rest of the query is echoed escaped.
    const std::string escaped = builder.render_search("gardenning <i>");
    CHECK(escaped.starts_with("Showing results for <b>gardening &lt;i&gt;</b>\n"));

    // Without a correction the heading is the query itself.
    CHECK(builder.render_search("gardening").starts_with("🔎 <b>gardening</b>"));
}

namespace {

constexpr std::int64_t bot_id = 7000000001;

/// Builds an index of `count` documents that all contain "proxy", with long titles and texts,
/// and a link on every even one.
std::shared_ptr<const search_index> make_proxy_index(int count) {
    std::vector<document> docs;
    for (int i = 0; i < count; ++i) {
        std::string text;
        for (int j = 0; j < 60; ++j) {
            text +=
                "a reverse proxy forwards requests to servers number " + std::to_string(j) + " ";
        }
        const std::string url = i % 2 == 0 ? "https://example.org/doc/" + std::to_string(i) : "";
        docs.push_back({"doc" + std::to_string(i),
                        "Proxy document " + std::to_string(i) + " " + std::string(150, 'x'), text,
                        url});
    }
    return search_index::build(std::move(docs));
}

incoming_message button_press(std::int64_t chat_id, const std::string& data) {
    incoming_message press;
    press.type = incoming_message::kind::callback_query;
    press.update_id = 2;
    press.chat_id = chat_id;
    press.message_id = 55;
    press.query_id = "callback-1";
    press.text = data;
    return press;
}

incoming_message inline_query(std::string text, std::string offset) {
    incoming_message query;
    query.type = incoming_message::kind::inline_query;
    query.update_id = 3;
    query.query_id = "inline-1";
    query.text = std::move(text);
    query.offset = std::move(offset);
    return query;
}

}  // namespace

TEST_CASE("reply searches a group reply to the bot", "[replies]") {
    const auto index = make_index();
    page_store pages;
    const reply_builder builder(*index, reply_settings{"tgsearch_bot", bot_id, 5, &pages});
    incoming_message reply_to_bot = message("group", "web server");
    reply_to_bot.reply_to_user_id = bot_id;
    const outgoing_reply reply = builder.reply_to(reply_to_bot);
    CHECK(reply.html.find("nginx") != std::string::npos);
    CHECK(reply.reply_to_message_id == 7);

    incoming_message reply_to_member = message("supergroup", "web server");
    reply_to_member.reply_to_user_id = 424242;
    CHECK(builder.reply_to(reply_to_member).html.empty());

    // Without a known bot id (the console), no reply counts as addressed to the bot.
    const reply_builder console(*index, "");
    reply_to_member.reply_to_user_id = 0;
    CHECK(console.reply_to(reply_to_member).html.empty());
}

TEST_CASE("reply gives usage with inline form and about", "[replies]") {
    const auto index = make_index();
    const reply_builder builder(*index, reply_settings{"tgsearch_bot", bot_id, 5, nullptr});
    const std::string help = builder.render_help();
    CHECK(help.find("<code>@tgsearch_bot words</code>") != std::string::npos);
    CHECK(help.find("reply to one of my messages") != std::string::npos);

    const outgoing_reply about = builder.reply_to(message("private", "/about"));
    CHECK(about.html.find("<b>tgsearch</b> " TGSEARCH_TEST_VERSION) != std::string::npos);
    CHECK(about.html.find("4 documents") != std::string::npos);
    CHECK(builder.reply_to(message("group", "/about@tgsearch_bot")).html == about.html);
    CHECK(builder.reply_to(message("group", "/about@OtherBot")).html.empty());
}

TEST_CASE("reply fills parts and no buttons for one page", "[replies]") {
    const auto index = make_index();
    page_store pages;
    const reply_builder builder(*index, reply_settings{"tgsearch_bot", bot_id, 5, &pages});
    const outgoing_reply reply = builder.reply_to(message("private", "web server"));
    REQUIRE(reply.parts.size() == 1);
    CHECK(reply.parts[0] == reply.html);
    CHECK(reply.buttons.empty());
    CHECK(pages.size() == 0);
}

TEST_CASE("reply pages results with buttons", "[replies]") {
    const auto index = make_proxy_index(12);
    page_store pages;
    const reply_builder builder(*index, reply_settings{"tgsearch_bot", bot_id, 5, &pages});
    const outgoing_reply first = builder.reply_to(message("private", "proxy"));
    CHECK(first.type == outgoing_reply::kind::message);
    CHECK(first.parts.size() == 1);
    CHECK(first.html.find("\n5. ") != std::string::npos);
    CHECK(first.html.find("\n6. ") == std::string::npos);
    REQUIRE(first.buttons.size() == 2);
    CHECK(first.buttons[0].text == "page 1/3");
    CHECK(first.buttons[1].text == "▶");
    CHECK(pages.size() == 1);

    const outgoing_reply second =
        builder.reply_to(button_press(42, first.buttons[1].callback_data));
    CHECK(second.type == outgoing_reply::kind::edit);
    CHECK(second.chat_id == 42);
    CHECK(second.message_id == 55);
    CHECK(second.callback_query_id == "callback-1");
    CHECK(second.html.find("\n6. ") != std::string::npos);
    CHECK(second.html.find("\n10. ") != std::string::npos);
    CHECK(second.html.find("\n11. ") == std::string::npos);
    REQUIRE(second.buttons.size() == 3);
    CHECK(second.buttons[0].text == "◀");
    CHECK(second.buttons[1].text == "page 2/3");
    CHECK(second.buttons[2].text == "▶");

    const outgoing_reply last = builder.reply_to(button_press(42, second.buttons[2].callback_data));
    CHECK(last.html.find("\n12. ") != std::string::npos);
    REQUIRE(last.buttons.size() == 2);
    CHECK(last.buttons[0].text == "◀");
    CHECK(last.buttons[1].text == "page 3/3");

    // Back to the first page gives the same text the first reply had.
    const outgoing_reply back = builder.reply_to(button_press(42, second.buttons[0].callback_data));
    CHECK(back.html == first.html);

    // A page past the end, which no button offers, shows the last page with its own label.
    std::string forged = first.buttons[1].callback_data;
    forged = forged.substr(0, forged.rfind(':') + 1) + "9999";
    const outgoing_reply beyond = builder.reply_to(button_press(42, forged));
    CHECK(beyond.type == outgoing_reply::kind::edit);
    CHECK(beyond.html == last.html);
    REQUIRE(beyond.buttons.size() == 2);
    CHECK(beyond.buttons[1].text == "page 3/3");
}

TEST_CASE("reply answers expired and foreign buttons", "[replies]") {
    const auto index = make_proxy_index(12);
    page_store pages;
    const reply_builder builder(*index, reply_settings{"tgsearch_bot", bot_id, 5, &pages});
    const outgoing_reply first = builder.reply_to(message("private", "proxy"));
    REQUIRE(first.buttons.size() == 2);
    for (const incoming_message& press :
         {button_press(43, first.buttons[1].callback_data),
          button_press(42, "p:0000000000000000:1"), button_press(42, "something else"),
          button_press(42, "")}) {
        CAPTURE(press.text);
        const outgoing_reply reply = builder.reply_to(press);
        CHECK(reply.type == outgoing_reply::kind::callback_answer);
        CHECK(reply.callback_query_id == "callback-1");
        CHECK(reply.callback_text == "This search has expired, send it again.");
    }
}

TEST_CASE("reply keeps callback data short for any query", "[replies]") {
    std::vector<document> docs;
    for (int i = 0; i < 30; ++i) {
        docs.push_back({"q" + std::to_string(i), "آية " + std::to_string(i),
                        "الحمد لله رب العالمين الرحمن الرحيم", ""});
    }
    const auto index = search_index::build(std::move(docs));
    page_store pages;
    const reply_builder builder(*index, reply_settings{"tgsearch_bot", bot_id, 5, &pages});
    std::string long_query;
    for (int i = 0; i < 40; ++i) {
        long_query += "الحمد لله رب العالمين ";
    }
    const outgoing_reply reply = builder.reply_to(message("private", long_query));
    REQUIRE_FALSE(reply.buttons.empty());
    for (const inline_button& button : reply.buttons) {
        CHECK(!button.callback_data.empty());
        CHECK(button.callback_data.size() <= max_callback_data_bytes);
    }
}

TEST_CASE("reply splits a long page without buttons", "[replies]") {
    const auto index = make_proxy_index(15);
    page_store pages;
    const reply_builder builder(*index, reply_settings{"tgsearch_bot", bot_id, 20, &pages});
    const outgoing_reply reply = builder.reply_to(message("private", "proxy"));
    CHECK(reply.buttons.empty());
    REQUIRE(reply.parts.size() >= 2);
    std::string joined;
    for (const std::string& part : reply.parts) {
        CHECK(telegram_html_length(part) <= telegram_max_message_chars);
        joined += html_to_plain_text(part);
    }
    CHECK(joined == html_to_plain_text(reply.html));
    CHECK(joined.find("\n15. ") != std::string::npos);
}

TEST_CASE("reply with buttons fits one message at 20 per page", "[replies]") {
    const auto index = make_proxy_index(45);
    page_store pages;
    const reply_builder builder(*index, reply_settings{"tgsearch_bot", bot_id, 20, &pages});
    const outgoing_reply reply = builder.reply_to(message("private", "proxy"));
    REQUIRE(reply.buttons.size() == 2);
    REQUIRE(reply.parts.size() == 1);
    CHECK(telegram_html_length(reply.html) <= telegram_max_message_chars);
    CHECK(reply.html.find("\n20. ") != std::string::npos);

    const outgoing_reply last = builder.reply_to(button_press(
        42, page_callback_data(parse_page_callback_data(reply.buttons[1].callback_data)->key, 2)));
    CHECK(last.html.find("\n45. ") != std::string::npos);
    CHECK(telegram_html_length(last.html) <= telegram_max_message_chars);
}

TEST_CASE("reply answers inline queries page by page", "[replies]") {
    const auto index = make_proxy_index(120);
    const reply_builder builder(*index, reply_settings{"tgsearch_bot", bot_id, 5, nullptr});

    // "prox" is an unfinished word: the last word of an inline query matches as a prefix.
    const outgoing_reply first = builder.reply_to(inline_query("prox", ""));
    CHECK(first.type == outgoing_reply::kind::inline_answer);
    CHECK(first.inline_query_id == "inline-1");
    CHECK(first.update_id == 3);
    REQUIRE(first.articles.size() == max_inline_results);
    CHECK(first.next_offset == "50");
    std::set<std::string> ids;
    for (const inline_article& article : first.articles) {
        ids.insert(article.id);
        CHECK(!article.id.empty());
        CHECK(article.id.size() <= 64);
        CHECK(article.title.starts_with("Proxy document"));
        CHECK(!article.description.empty());
        CHECK(telegram_html_length(article.message_html) <= telegram_max_message_chars);
        if (!article.url.empty()) {
            CHECK(article.message_html.starts_with("<a href=\"" + article.url + "\">"));
        }
    }
    CHECK(ids.size() == max_inline_results);

    const outgoing_reply second = builder.reply_to(inline_query("prox", "50"));
    CHECK(second.articles.size() == max_inline_results);
    CHECK(second.next_offset == "100");
    CHECK(second.articles[0].id != first.articles[0].id);
    const outgoing_reply last = builder.reply_to(inline_query("prox", "100"));
    CHECK(last.articles.size() == 20);
    CHECK(last.next_offset.empty());

    for (const auto& [text, offset] :
         {std::pair{"", ""}, std::pair{"   ", ""}, std::pair{"prox", "abc"},
          std::pair{"prox", "-5"}, std::pair{"prox", "99999999"}}) {
        CAPTURE(text, offset);
        const outgoing_reply empty = builder.reply_to(inline_query(text, offset));
        CHECK(empty.type == outgoing_reply::kind::inline_answer);
        CHECK(empty.articles.empty());
        CHECK(empty.next_offset.empty());
    }
}

TEST_CASE("reply inline article shows both snippet lengths", "[replies]") {
    std::vector<document> docs;
    for (int i = 0; i < 3; ++i) {
        std::string text = "Start of document " + std::to_string(i) + ".\n";
        for (int j = 0; j < 40; ++j) {
            text += "filler words without the query, line " + std::to_string(j) + "\n";
        }
        text += "A reverse proxy & cache <" + std::to_string(i) + ">.\n";
        for (int j = 0; j < 40; ++j) {
            text += "more filler after it, line " + std::to_string(j) + "\n";
        }
        docs.push_back({"doc" + std::to_string(i), "Document " + std::to_string(i), text, ""});
    }
    const auto index = search_index::build(docs);
    const reply_builder builder(*index, reply_settings{"tgsearch_bot", bot_id, 5, nullptr});
    const outgoing_reply reply = builder.reply_to(inline_query("reverse proxy", ""));
    REQUIRE(reply.articles.size() == 3);
    const std::vector<std::string> terms = query_terms("reverse proxy");
    for (const inline_article& article : reply.articles) {
        const std::string& text = docs[std::stoul(article.id.substr(1))].text;
        const std::string short_snippet = make_snippet_html(text, terms, 200);
        const std::string long_snippet = make_snippet_html(text, terms, 600);
        CAPTURE(article.id, short_snippet, long_snippet);
        CHECK(short_snippet.find("<b>reverse</b> <b>proxy</b> &amp; cache") != std::string::npos);
        CHECK(article.description == html_to_plain_text(short_snippet));
        CHECK(article.message_html.ends_with("</b>\n" + long_snippet));
        CHECK(long_snippet.size() > short_snippet.size());
    }
}
