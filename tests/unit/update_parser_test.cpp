#include "app/update_parser.hpp"
#include "tests/fuzz/update_parser_target.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

using tgsearch::incoming_message;
using tgsearch::parsed_batch;
using tgsearch::parsed_update;
using tgsearch::update_parser;

#ifndef TGSEARCH_FUZZ_CORPUS_DIR
#error "TGSEARCH_FUZZ_CORPUS_DIR must name tests/fuzz/corpus"
#endif

std::string read_file(const std::filesystem::path& path) {
    std::ifstream file(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

std::string seed(const std::string& name) {
    return read_file(std::filesystem::path(TGSEARCH_FUZZ_CORPUS_DIR) / "update_parser" / name);
}

/// Wraps update objects, written as JSON, in a getUpdates response body.
std::string response_body(const std::vector<std::string>& updates) {
    std::string body = R"({"ok":true,"result":[)";
    for (std::size_t i = 0; i < updates.size(); ++i) {
        body += (i == 0 ? "" : ",") + updates[i];
    }
    return body + "]}";
}

}  // namespace

TEST_CASE("parser reads a text message", "[update_parser]") {
    update_parser parser;
    const parsed_batch batch = parser.parse(seed("one_message.json"));
    REQUIRE(batch.usable);
    REQUIRE(batch.updates.size() == 1);
    const parsed_update& update = batch.updates[0];
    CHECK(update.type == parsed_update::kind::message);
    CHECK(update.update_id == 1000);
    CHECK(update.user_id == 5000000001);
    CHECK(update.message.chat_id == 5000000001);
    CHECK(update.message.chat_type == "private");
    CHECK(update.message.message_id == 10);
    CHECK(update.message.text == "nginx reverse proxy");
}

TEST_CASE("parser ignores other update types by name", "[update_parser]") {
    update_parser parser;
    const parsed_batch batch = parser.parse(seed("mixed_types.json"));
    REQUIRE(batch.usable);
    REQUIRE(batch.updates.size() == 5);
    CHECK(batch.updates[0].type == parsed_update::kind::message);
    // Update 3 is a callback_query, which the bot answers.
    CHECK(batch.updates[2].type == parsed_update::kind::message);
    for (const std::size_t i : {1, 3, 4}) {
        CHECK(batch.updates[i].type == parsed_update::kind::ignored);
    }
    CHECK(batch.updates[1].reason == "unexpected update type \"edited_message\"");
    CHECK(batch.updates[3].reason == "unexpected update type \"some_future_update\"");
    CHECK(batch.updates[4].reason == "unexpected update type \"(none)\"");
}

TEST_CASE("parser reports malformed messages one by one", "[update_parser]") {
    update_parser parser;
    const parsed_batch batch = parser.parse(seed("malformed_messages.json"));
    REQUIRE(batch.usable);
    CHECK(batch.without_id == 3);
    REQUIRE(batch.updates.size() == 5);
    CHECK(batch.updates[0].type == parsed_update::kind::malformed);
    CHECK(batch.updates[0].reason == "\"message\" is not an object");
    CHECK(batch.updates[1].type == parsed_update::kind::malformed);
    CHECK(batch.updates[2].type == parsed_update::kind::malformed);
    CHECK(batch.updates[3].type == parsed_update::kind::malformed);
    CHECK(batch.updates[3].reason == "message text is not a string");
    CHECK(batch.updates[4].type == parsed_update::kind::ignored);
    CHECK(batch.updates[4].reason == "message has no text");
}

TEST_CASE("parser rejects a text longer than Telegram allows", "[update_parser]") {
    update_parser parser;
    const parsed_batch batch = parser.parse(seed("long_text.json"));
    REQUIRE(batch.updates.size() == 2);
    CHECK(batch.updates[0].type == parsed_update::kind::malformed);
    CHECK(batch.updates[0].reason.find("20000 bytes") != std::string::npos);
    // 4096 two-byte characters are within the limit.
    CHECK(batch.updates[1].type == parsed_update::kind::message);
    CHECK(batch.updates[1].message.text.size() == 8192);
}

TEST_CASE("parser reports an oversized text in characters", "[update_parser]") {
    const auto message_update = [](int update_id, const std::string& text) {
        return "{\"update_id\":" + std::to_string(update_id) +
               ",\"message\":{\"message_id\":1,\"date\":0,\"chat\":{\"id\":5,\"type\":"
               "\"private\"},\"text\":\"" +
               text + "\"}}";
    };
    std::string emoji_5000;
    std::string emoji_4096;
    for (int i = 0; i < 5000; ++i) {
        emoji_5000 += "\xF0\x9F\x98\x80";  // U+1F600, 4 bytes of UTF-8
    }
    for (int i = 0; i < 4096; ++i) {
        emoji_4096 += "\xF0\x9F\x98\x80";
    }
    const std::string body = "{\"ok\":true,\"result\":[" + message_update(1, emoji_5000) + "," +
                             message_update(2, std::string(5000, 'a')) + "," +
                             message_update(3, emoji_4096) + "]}";
    update_parser parser;
    const parsed_batch batch = parser.parse(body);
    REQUIRE(batch.updates.size() == 3);

    CHECK(batch.updates[0].type == parsed_update::kind::malformed);
    CHECK(batch.updates[0].reason ==
          "message text of 5000 characters (Unicode code points; 20000 bytes of UTF-8) exceeds "
          "Telegram's limit of 4096 characters");
    // Only the byte bound is enforced, so 5000 ASCII characters are answered.
    CHECK(batch.updates[1].type == parsed_update::kind::message);
    // 4096 emoji fill the byte bound exactly and are within the limit.
    CHECK(batch.updates[2].type == parsed_update::kind::message);
    CHECK(batch.updates[2].message.text.size() == 16384);
}

TEST_CASE("parser takes the chat as sender when from is missing", "[update_parser]") {
    update_parser parser;
    const parsed_batch batch = parser.parse(seed("no_sender.json"));
    REQUIRE(batch.updates.size() == 1);
    CHECK(batch.updates[0].user_id == -1009);
}

TEST_CASE("parser repairs invalid UTF-8 and lone surrogates", "[update_parser]") {
    update_parser parser;
    const parsed_batch bytes = parser.parse(seed("invalid_utf8.json"));
    REQUIRE(bytes.usable);
    CHECK(bytes.repaired);
    REQUIRE(bytes.updates.size() == 1);
    CHECK(bytes.updates[0].message.text == "nginx \xEF\xBF\xBD proxy");

    const parsed_batch escapes = parser.parse(seed("lone_surrogate.json"));
    REQUIRE(escapes.usable);
    CHECK(escapes.repaired);
    REQUIRE(escapes.updates.size() == 1);
    CHECK(escapes.updates[0].message.text ==
          "a\xEF\xBF\xBD"
          "b \xF0\x9F\x98\x80");
}

TEST_CASE("parser marks bodies without a result unusable", "[update_parser]") {
    update_parser parser;
    for (const std::string name : {"not_ok.json", "truncated.json"}) {
        INFO(name);
        const parsed_batch batch = parser.parse(seed(name));
        CHECK_FALSE(batch.usable);
        CHECK(batch.updates.empty());
    }
    CHECK_FALSE(parser.parse("").usable);
    CHECK_FALSE(parser.parse(R"({"ok":true,"result":{}})").usable);
}

TEST_CASE("parser keeps 64-bit ids and skips an unsigned sender id", "[update_parser]") {
    update_parser parser;
    const parsed_batch batch = parser.parse(seed("big_ids.json"));
    REQUIRE(batch.updates.size() == 1);
    const parsed_update& update = batch.updates[0];
    CHECK(update.update_id == INT64_MAX);
    CHECK(update.message.chat_id == INT64_MIN);
    // from.id does not fit in int64, so the chat id is used as the sender.
    CHECK(update.user_id == INT64_MIN);
}

TEST_CASE("fuzz target accepts every seed", "[update_parser]") {
    std::vector<std::filesystem::path> seeds;
    for (const auto& entry : std::filesystem::directory_iterator(
             std::filesystem::path(TGSEARCH_FUZZ_CORPUS_DIR) / "update_parser")) {
        seeds.push_back(entry.path());
    }
    REQUIRE(seeds.size() >= 10);
    std::size_t messages = 0;
    for (const auto& path : seeds) {
        INFO(path.filename().string());
        const std::string data = read_file(path);
        messages += tgsearch::fuzz::run_update_parser(
            reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
    }
    CHECK(messages >= 8);
}

TEST_CASE("fuzz UTF-8 check rejects what RFC 3629 forbids", "[update_parser]") {
    using tgsearch::fuzz::valid_utf8;
    CHECK(valid_utf8("plain ascii"));
    CHECK(valid_utf8("\xD0\xB5 \xE2\x82\xAC \xF0\x9F\x98\x80"));
    CHECK_FALSE(valid_utf8("\xC0\xAF"));          // overlong "/"
    CHECK_FALSE(valid_utf8("\xED\xA0\x80"));      // surrogate U+D800
    CHECK_FALSE(valid_utf8("\xF4\x90\x80\x80"));  // past U+10FFFF
    CHECK_FALSE(valid_utf8("\xE2\x82"));          // cut short
    CHECK_FALSE(valid_utf8("\xFF"));
}

TEST_CASE("parser reads the author of a replied message", "[update_parser]") {
    update_parser parser;
    const parsed_batch batch = parser.parse(response_body({
        R"({"update_id":1,"message":{"message_id":5,"date":0,"from":{"id":77},)"
        R"("chat":{"id":-100555,"type":"supergroup"},"text":"more words",)"
        R"("reply_to_message":{"message_id":4,"date":0,"from":{"id":7000000001,"is_bot":true},)"
        R"("chat":{"id":-100555,"type":"supergroup"},"text":"results"}}})",
        // A reply to a channel post has no author.
        R"({"update_id":2,"message":{"message_id":6,"date":0,"from":{"id":77},)"
        R"("chat":{"id":-100555,"type":"supergroup"},"text":"x",)"
        R"("reply_to_message":{"message_id":3,"date":0,"chat":{"id":-100555,"type":"supergroup"}}}})",
        R"({"update_id":3,"message":{"message_id":7,"date":0,"from":{"id":77},)"
        R"("chat":{"id":-100555,"type":"supergroup"},"text":"y"}})",
    }));
    REQUIRE(batch.updates.size() == 3);
    CHECK(batch.updates[0].type == parsed_update::kind::message);
    CHECK(batch.updates[0].message.reply_to_user_id == 7000000001);
    CHECK(batch.updates[0].message.user_id == 77);
    CHECK(batch.updates[1].type == parsed_update::kind::message);
    CHECK(batch.updates[1].message.reply_to_user_id == 0);
    CHECK(batch.updates[2].message.reply_to_user_id == 0);
}

TEST_CASE("parser reads a button press", "[update_parser]") {
    update_parser parser;
    const parsed_batch batch = parser.parse(response_body({
        R"({"update_id":10,"callback_query":{"id":"4382bfdwdsb323b2d9","from":{"id":5000000001},)"
        R"("message":{"message_id":42,"date":0,"chat":{"id":-1001234567890,"type":"supergroup"}},)"
        R"("chat_instance":"-123","data":"p:0123456789abcdef:2"}})",
        // A button under a message sent in inline mode: no message, only inline_message_id.
        R"({"update_id":11,"callback_query":{"id":"q2","from":{"id":9},)"
        R"("inline_message_id":"AAA","chat_instance":"1","data":"x"}})",
        // A game button has no data.
        R"({"update_id":12,"callback_query":{"id":"q3","from":{"id":9},)"
        R"("chat_instance":"1","game_short_name":"g"}})",
    }));
    REQUIRE(batch.updates.size() == 3);
    const parsed_update& press = batch.updates[0];
    REQUIRE(press.type == parsed_update::kind::message);
    CHECK(press.message.type == incoming_message::kind::callback_query);
    CHECK(press.message.update_id == 10);
    CHECK(press.message.query_id == "4382bfdwdsb323b2d9");
    CHECK(press.message.chat_id == -1001234567890);
    CHECK(press.message.chat_type == "supergroup");
    CHECK(press.message.message_id == 42);
    CHECK(press.message.text == "p:0123456789abcdef:2");
    CHECK(press.user_id == 5000000001);
    CHECK(press.message.user_id == 5000000001);

    const parsed_update& inline_press = batch.updates[1];
    REQUIRE(inline_press.type == parsed_update::kind::message);
    CHECK(inline_press.message.chat_id == 0);
    CHECK(inline_press.message.message_id == 0);
    CHECK(inline_press.message.text == "x");

    const parsed_update& game = batch.updates[2];
    REQUIRE(game.type == parsed_update::kind::message);
    CHECK(game.message.query_id == "q3");
    CHECK(game.message.text.empty());
}

TEST_CASE("parser rejects malformed button presses", "[update_parser]") {
    update_parser parser;
    const parsed_batch batch = parser.parse(response_body({
        R"({"update_id":1,"callback_query":"press"})",
        R"({"update_id":2,"callback_query":{"from":{"id":9},"data":"x"}})",
        R"({"update_id":3,"callback_query":{"id":"q","data":"x"}})",
        R"({"update_id":4,"callback_query":{"id":"q","from":{"id":9},"data":7}})",
        R"({"update_id":5,"callback_query":{"id":"q","from":{"id":9},"data":")" +
            std::string(65, 'd') + R"("}})",
        R"({"update_id":6,"callback_query":{"id":"q","from":{"id":9},"data":"x",)"
        R"("message":{"chat":{"id":1,"type":"private"}}}})",
        R"({"update_id":7,"callback_query":{"id":"","from":{"id":9},"data":"x"}})",
    }));
    REQUIRE(batch.updates.size() == 7);
    for (const std::size_t i : {0, 1, 2, 5, 6}) {
        CAPTURE(i);
        CHECK(batch.updates[i].type == parsed_update::kind::malformed);
    }
    CHECK(batch.updates[0].reason == "\"callback_query\" is not an object");
    CHECK(batch.updates[1].reason == "callback_query lacks a string id or from.id");
    CHECK(batch.updates[2].reason == "callback_query lacks a string id or from.id");
    CHECK(batch.updates[5].reason == "callback_query message lacks chat.id or message_id");
    CHECK(batch.updates[6].reason == "callback_query lacks a string id or from.id");
    // Data that is not a string or is over 64 bytes belongs to no button of the bot, but the
    // press is still answered, as an unknown button.
    for (const std::size_t i : {3, 4}) {
        CAPTURE(i);
        REQUIRE(batch.updates[i].type == parsed_update::kind::message);
        CHECK(batch.updates[i].message.type == incoming_message::kind::callback_query);
        CHECK(batch.updates[i].message.query_id == "q");
        CHECK(batch.updates[i].message.text.empty());
    }
}

TEST_CASE("parser reads an inline query", "[update_parser]") {
    update_parser parser;
    const parsed_batch batch = parser.parse(response_body({
        R"({"update_id":20,"inline_query":{"id":"iq1","from":{"id":5000000001},)"
        R"("query":"nginx rev","offset":"50","chat_type":"sender"}})",
        R"({"update_id":21,"inline_query":{"id":"iq2","from":{"id":5},"query":"","offset":""}})",
    }));
    REQUIRE(batch.updates.size() == 2);
    const parsed_update& query = batch.updates[0];
    REQUIRE(query.type == parsed_update::kind::message);
    CHECK(query.message.type == incoming_message::kind::inline_query);
    CHECK(query.message.query_id == "iq1");
    CHECK(query.message.text == "nginx rev");
    CHECK(query.message.offset == "50");
    CHECK(query.message.chat_type == "sender");
    CHECK(query.message.chat_id == 0);
    CHECK(query.user_id == 5000000001);

    REQUIRE(batch.updates[1].type == parsed_update::kind::message);
    CHECK(batch.updates[1].message.text.empty());
    CHECK(batch.updates[1].message.offset.empty());
    CHECK(batch.updates[1].message.chat_type.empty());
}

TEST_CASE("parser rejects malformed inline queries", "[update_parser]") {
    update_parser parser;
    const parsed_batch batch = parser.parse(response_body({
        R"({"update_id":1,"inline_query":[]})",
        R"({"update_id":2,"inline_query":{"id":"q","from":{"id":5},"offset":""}})",
        R"({"update_id":3,"inline_query":{"id":"q","from":{"id":5},"query":"x"}})",
        R"({"update_id":4,"inline_query":{"id":"q","query":"x","offset":""}})",
        R"({"update_id":5,"inline_query":{"id":"q","from":{"id":5},"query":")" +
            std::string(1025, 'q') + R"(","offset":""}})",
        R"({"update_id":6,"inline_query":{"id":"q","from":{"id":5},"query":"x","offset":")" +
            std::string(65, '1') + R"("}})",
    }));
    REQUIRE(batch.updates.size() == 6);
    for (const std::size_t i : {0, 1, 2, 3}) {
        CAPTURE(i);
        CHECK(batch.updates[i].type == parsed_update::kind::malformed);
    }
    CHECK(batch.updates[0].reason == "\"inline_query\" is not an object");
    const std::string missing = "inline_query lacks a string id, query or offset, or from.id";
    CHECK(batch.updates[1].reason == missing);
    CHECK(batch.updates[2].reason == missing);
    CHECK(batch.updates[3].reason == missing);
    // A query over the limit is cut and an unknown offset starts over, so both are answered.
    REQUIRE(batch.updates[4].type == parsed_update::kind::message);
    CHECK(batch.updates[4].message.text == std::string(1024, 'q'));
    REQUIRE(batch.updates[5].type == parsed_update::kind::message);
    CHECK(batch.updates[5].message.offset.empty());
}

TEST_CASE("parser still skips other update types", "[update_parser]") {
    update_parser parser;
    const parsed_batch batch = parser.parse(response_body({
        R"({"update_id":1,"chosen_inline_result":{"result_id":"d1","from":{"id":5},"query":"x"}})",
        R"({"update_id":2,"my_chat_member":{"chat":{"id":-5,"type":"group"}}})",
    }));
    REQUIRE(batch.updates.size() == 2);
    CHECK(batch.updates[0].type == parsed_update::kind::ignored);
    CHECK(batch.updates[0].reason == "unexpected update type \"chosen_inline_result\"");
    CHECK(batch.updates[1].type == parsed_update::kind::ignored);
}

TEST_CASE("parser keeps each update as minified JSON", "[update_parser]") {
    update_parser parser;
    const parsed_batch batch = parser.parse(response_body({
        R"({ "update_id" : 7, "message" : {"message_id": 1, "chat": {"id": 5, "type": "private"},
            "from": {"id": 5}, "text": "caf\u00e9"} })",
        R"({"update_id": 8, "edited_message": {}})",
    }));
    REQUIRE(batch.updates.size() == 2);
    CHECK(batch.updates[0].json ==
          R"({"update_id":7,"message":{"message_id":1,"chat":{"id":5,"type":"private"},)"
          R"("from":{"id":5},"text":"café"}})");
    CHECK(batch.updates[1].json == R"({"update_id":8,"edited_message":{}})");

    // The stored JSON parses back into the same update.
    const parsed_batch again = parser.parse(response_body({batch.updates[0].json}));
    REQUIRE(again.updates.size() == 1);
    CHECK(again.updates[0].update_id == 7);
    CHECK(again.updates[0].message.text == "café");
    CHECK(again.updates[0].json == batch.updates[0].json);
}

TEST_CASE("parser stores repaired JSON of broken text", "[update_parser]") {
    update_parser parser;
    const parsed_batch batch = parser.parse(response_body({
        "{\"update_id\": 9, \"message\": {\"message_id\": 1, \"chat\": {\"id\": 5, \"type\": "
        "\"private\"}, \"from\": {\"id\": 5}, \"text\": \"a\xff b\"}}",
    }));
    REQUIRE(batch.repaired);
    REQUIRE(batch.updates.size() == 1);
    const parsed_batch again = parser.parse(response_body({batch.updates[0].json}));
    CHECK_FALSE(again.repaired);
    REQUIRE(again.updates.size() == 1);
    CHECK(again.updates[0].message.text == batch.updates[0].message.text);
}
