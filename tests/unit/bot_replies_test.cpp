#include "core/bot_replies.hpp"
#include "core/html.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace tgsearch;

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
    // 86 repetitions of "nginx " are 516 bytes, so a cut at 512 bytes would leave the fragment
    // "ng" as a search term of its own.
    std::string query;
    for (int i = 0; i < 86; ++i) {
        query += "nginx ";
    }
    const std::string html = builder.render_search(query);
    CHECK(html.find("nginx — web server") != std::string::npos);
    CHECK(html.find("ng tools") == std::string::npos);

    // The same with separators other than ASCII spaces: hyphens, commas and no-break spaces.
    for (const std::string separator : {"-", ",", "\u00a0"}) {
        CAPTURE(separator);
        std::string separated;
        while (separated.size() < 600) {
            separated += "nginx" + separator;
        }
        CHECK(builder.render_search(separated).find("ng tools") == std::string::npos);
    }
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
