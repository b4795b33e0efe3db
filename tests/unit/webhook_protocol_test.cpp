#include "app/bot_api_client.hpp"
#include "app/bot_api_protocol.hpp"
#include "app/webhook_server.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {

using tgsearch::webhook_registration;

constexpr std::string_view test_secret = "abcDEF012_-xyz";

webhook_registration make_registration() {
    webhook_registration registration;
    registration.url = "https://bot.example.com/telegram";
    registration.secret_token = std::string(test_secret);
    registration.allowed_updates = {"message", "callback_query"};
    registration.max_connections = 40;
    return registration;
}

/// Returns the message of the std::invalid_argument that `action` throws, or "" when it throws
/// nothing.
template <class Action>
std::string invalid_argument_message(Action action) {
    try {
        action();
    } catch (const std::invalid_argument& error) {
        return error.what();
    }
    return {};
}

}  // namespace

TEST_CASE("setWebhook body carries every parameter", "[webhook_protocol]") {
    const boost::json::value body =
        boost::json::parse(tgsearch::make_set_webhook_body(make_registration()));
    const boost::json::object& object = body.as_object();
    CHECK(object.at("url").as_string() == "https://bot.example.com/telegram");
    CHECK(object.at("secret_token").as_string() == test_secret);
    const boost::json::array& types = object.at("allowed_updates").as_array();
    REQUIRE(types.size() == 2);
    CHECK(types[0].as_string() == "message");
    CHECK(types[1].as_string() == "callback_query");
    CHECK(object.at("max_connections").as_int64() == 40);
    CHECK(object.at("drop_pending_updates").as_bool() == false);
    CHECK(object.size() == 5);
}

TEST_CASE("setWebhook body leaves out empty allowed_updates", "[webhook_protocol]") {
    webhook_registration registration = make_registration();
    registration.allowed_updates.clear();
    const boost::json::value body =
        boost::json::parse(tgsearch::make_set_webhook_body(registration));
    CHECK_FALSE(body.as_object().contains("allowed_updates"));
}

TEST_CASE("setWebhook body escapes the URL", "[webhook_protocol]") {
    webhook_registration registration = make_registration();
    registration.url = "https://bot.example.com/a\"b\\c";
    const boost::json::value body =
        boost::json::parse(tgsearch::make_set_webhook_body(registration));
    CHECK(body.as_object().at("url").as_string() == "https://bot.example.com/a\"b\\c");
}

TEST_CASE("setWebhook secret errors omit the secret", "[webhook_protocol]") {
    for (const std::string& secret :
         {std::string(), std::string("has space"), std::string("semi;colon"),
          std::string("dot.ted"), std::string(257, 'a')}) {
        CAPTURE(secret);
        webhook_registration registration = make_registration();
        registration.secret_token = secret;
        const std::string message = invalid_argument_message(
            [&registration] { tgsearch::make_set_webhook_body(registration); });
        CHECK_THAT(message, Catch::Contains("secret token"));
        if (!secret.empty()) {
            CHECK_THAT(message, !Catch::Contains(secret));
        }
    }
}

TEST_CASE("setWebhook accepts a secret of 256 characters", "[webhook_protocol]") {
    webhook_registration registration = make_registration();
    registration.secret_token = std::string(256, 'Z');
    CHECK_NOTHROW(tgsearch::make_set_webhook_body(registration));
}

TEST_CASE("setWebhook checks the max_connections range", "[webhook_protocol]") {
    for (const int connections : {0, -1, 101}) {
        CAPTURE(connections);
        webhook_registration registration = make_registration();
        registration.max_connections = connections;
        CHECK_THROWS_AS(tgsearch::make_set_webhook_body(registration), std::invalid_argument);
    }
    for (const int connections : {1, 100}) {
        CAPTURE(connections);
        webhook_registration registration = make_registration();
        registration.max_connections = connections;
        CHECK_NOTHROW(tgsearch::make_set_webhook_body(registration));
    }
}

TEST_CASE("setWebhook rejects an empty URL", "[webhook_protocol]") {
    webhook_registration registration = make_registration();
    registration.url.clear();
    CHECK_THROWS_AS(tgsearch::make_set_webhook_body(registration), std::invalid_argument);
}

TEST_CASE("deleteWebhook body keeps pending updates", "[webhook_protocol]") {
    const boost::json::value body = boost::json::parse(tgsearch::make_delete_webhook_body());
    const boost::json::object& object = body.as_object();
    CHECK(object.size() == 1);
    CHECK(object.at("drop_pending_updates").as_bool() == false);
}

TEST_CASE("getWebhookInfo result is parsed", "[webhook_protocol]") {
    const auto info = tgsearch::parse_webhook_info(
        R"({"ok":true,"result":{"url":"https://bot.example.com/telegram",)"
        R"("has_custom_certificate":false,"pending_update_count":12,"max_connections":40,)"
        R"("last_error_date":1700000000,"last_error_message":"Connection refused"}})");
    REQUIRE(info);
    CHECK(info->url == "https://bot.example.com/telegram");
    CHECK(info->pending_update_count == 12);
    CHECK(info->last_error_date == 1700000000);
    CHECK(info->last_error_message == "Connection refused");
}

TEST_CASE("getWebhookInfo without a webhook has an empty URL", "[webhook_protocol]") {
    const auto info = tgsearch::parse_webhook_info(
        R"({"ok":true,"result":{"url":"","has_custom_certificate":false,)"
        R"("pending_update_count":0}})");
    REQUIRE(info);
    CHECK(info->url.empty());
    CHECK(info->pending_update_count == 0);
    CHECK(info->last_error_date == 0);
    CHECK(info->last_error_message.empty());
}

TEST_CASE("getWebhookInfo rejects malformed responses", "[webhook_protocol]") {
    for (const std::string_view body :
         {R"({"ok":false,"error_code":401,"description":"Unauthorized"})",
          R"({"ok":true,"result":true})", R"({"ok":true,"result":{"pending_update_count":1}})",
          R"({"ok":true,"result":{"url":5}})", R"({"result":{"url":""}})", "not json", ""}) {
        CAPTURE(body);
        CHECK_FALSE(tgsearch::parse_webhook_info(body));
    }
}

TEST_CASE("true result is recognised", "[webhook_protocol]") {
    CHECK(tgsearch::is_true_result(R"({"ok":true,"result":true,"description":"Webhook was set"})"));
    CHECK_FALSE(tgsearch::is_true_result(R"({"ok":true,"result":false})"));
    CHECK_FALSE(tgsearch::is_true_result(R"({"ok":false,"result":true})"));
    CHECK_FALSE(tgsearch::is_true_result(R"({"ok":true,"result":{}})"));
    CHECK_FALSE(tgsearch::is_true_result(R"({"ok":true})"));
    CHECK_FALSE(tgsearch::is_true_result("true"));
}

TEST_CASE("webhook URL gives the path to serve", "[webhook_protocol]") {
    using tgsearch::detail::check_webhook_url;
    CHECK(check_webhook_url("https://bot.example.com/telegram") == "/telegram");
    CHECK(check_webhook_url("https://bot.example.com") == "/");
    CHECK(check_webhook_url("https://bot.example.com/") == "/");
    CHECK(check_webhook_url("https://bot.example.com:8443/a/b") == "/a/b");
    CHECK(check_webhook_url("https://bot.example.com:443/t") == "/t");
    CHECK(check_webhook_url("https://bot.example.com:88/t") == "/t");
    CHECK(check_webhook_url("https://bot.example.com:80/t") == "/t");
    CHECK(check_webhook_url("https://203.0.113.7/t") == "/t");
    CHECK(check_webhook_url("http://127.0.0.1:8080/hook") == "/hook");
    CHECK(check_webhook_url("http://localhost:9000/hook") == "/hook");
    CHECK(check_webhook_url("http://[::1]:9000/hook") == "/hook");
}

TEST_CASE("webhook URL errors name the URL", "[webhook_protocol]") {
    using tgsearch::detail::check_webhook_url;
    const auto message_for = [](const std::string& url) {
        return invalid_argument_message([&url] { check_webhook_url(url); });
    };
    for (const std::string url :
         {"http://bot.example.com/telegram", "http://10.0.0.1/t", "https://bot.example.com:8080/t",
          "ftp://bot.example.com/t", "bot.example.com/telegram", "https:///t",
          "https://user:pass@bot.example.com/t", "https://bot.example.com/t?x=1",
          "https://bot.example.com/t#x", ""}) {
        CAPTURE(url);
        const std::string message = message_for(url);
        CHECK_THAT(message, Catch::Contains("--webhook-url \"" + url + "\""));
    }
    CHECK_THAT(message_for("http://bot.example.com/t"), Catch::Contains("https://"));
    CHECK_THAT(message_for("https://bot.example.com:8080/t"),
               Catch::Contains("443, 80, 88 and 8443"));
}

TEST_CASE("listen endpoint is parsed", "[webhook_protocol]") {
    using tgsearch::parse_listen_endpoint;
    const auto v4 = parse_listen_endpoint("127.0.0.1:8080");
    CHECK(v4.address == "127.0.0.1");
    CHECK(v4.port == 8080);
    const auto any = parse_listen_endpoint("0.0.0.0:65535");
    CHECK(any.address == "0.0.0.0");
    CHECK(any.port == 65535);
    const auto v6 = parse_listen_endpoint("[::1]:8443");
    CHECK(v6.address == "::1");
    CHECK(v6.port == 8443);
    const auto v6_any = parse_listen_endpoint("[::]:1");
    CHECK(v6_any.address == "::");
    CHECK(v6_any.port == 1);
}

TEST_CASE("listen endpoint errors name the value", "[webhook_protocol]") {
    for (const std::string text :
         {"8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:80x",
          "127.0.0.1:-1", "localhost:8080", "256.1.1.1:80", "::1:8080", "[::1]8080",
          "[::1]:", "[::1", "[127.0.0.1]:80", ":8080", ""}) {
        CAPTURE(text);
        const std::string message =
            invalid_argument_message([&text] { tgsearch::parse_listen_endpoint(text); });
        CHECK_THAT(message, Catch::Contains("--listen \"" + text + "\""));
    }
}

TEST_CASE("webhook secret is 43 URL-safe characters", "[webhook_protocol]") {
    const std::string first = tgsearch::make_webhook_secret();
    const std::string second = tgsearch::make_webhook_secret();
    CHECK(first.size() == 43);
    CHECK(second.size() == 43);
    CHECK(first != second);
    const bool url_safe = std::all_of(first.begin(), first.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               c == '_' || c == '-';
    });
    CHECK(url_safe);
    webhook_registration registration = make_registration();
    registration.secret_token = first;
    CHECK_NOTHROW(tgsearch::make_set_webhook_body(registration));
}

TEST_CASE("webhook secrets use the whole alphabet", "[webhook_protocol]") {
    // 200 secrets of 43 characters draw 8,600 characters from 64: the chance that any one
    // character is missing by luck is about 64 * (63/64)^8600, below 1e-50.
    std::string seen;
    for (int i = 0; i < 200; ++i) {
        seen += tgsearch::make_webhook_secret();
    }
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    CHECK(seen.size() == 64);
}

TEST_CASE("JSON object check accepts only one object", "[webhook_protocol]") {
    using tgsearch::detail::is_json_object;
    CHECK(is_json_object("{}"));
    CHECK(is_json_object(R"({"update_id":1,"message":{"text":"a","entities":[{"x":[1]}]}})"));
    CHECK(is_json_object(" {\"a\":1}\n"));
    CHECK(is_json_object("{\"text\":\"\xff\"}"));
    for (const std::string_view text :
         {"", " ", "[]", "1", "\"{}\"", "null", "{", "{\"a\":}", "{}{}", "{} 1", "{}x"}) {
        CAPTURE(text);
        CHECK_FALSE(is_json_object(text));
    }
}
