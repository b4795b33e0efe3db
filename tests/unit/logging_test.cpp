#include "app/logging.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using tgsearch::log_format;
using tgsearch::log_repeat_filter;

constexpr std::string_view test_token = "123456789:AAH-secret_token-value-for-tests";

/// A logger that keeps its lines in memory, installed as the default logger while it lives so
/// that log_event writes to it. Clears the redacted secret when it goes.
class captured_log {
public:
    explicit captured_log(log_format format, spdlog::level::level_enum level = spdlog::level::info)
        : previous_(spdlog::default_logger()) {
        auto logger = tgsearch::make_logger(format, [this](std::string_view line) {
            std::lock_guard lock(mutex_);
            lines_.emplace_back(line);
        });
        logger->set_level(level);
        spdlog::set_default_logger(std::move(logger));
    }

    ~captured_log() {
        tgsearch::set_redacted_secret("");
        spdlog::set_default_logger(previous_);
    }

    captured_log(const captured_log&) = delete;
    captured_log& operator=(const captured_log&) = delete;

    std::vector<std::string> lines() {
        std::lock_guard lock(mutex_);
        return lines_;
    }

private:
    std::shared_ptr<spdlog::logger> previous_;
    std::mutex mutex_;
    std::vector<std::string> lines_;
};

boost::json::object parse_line(const std::string& line) {
    REQUIRE(line.ends_with("\n"));
    REQUIRE(line.find('\n') == line.size() - 1);
    boost::system::error_code error;
    const boost::json::value value = boost::json::parse(line, error);
    INFO(line);
    REQUIRE_FALSE(error);
    REQUIRE(value.is_object());
    return value.as_object();
}

}  // namespace

TEST_CASE("json log lines carry time, level and message", "[logging]") {
    captured_log log(log_format::json);
    spdlog::warn("getUpdates failed: {}; retrying in {} ms", "timed out", 500);
    const std::vector<std::string> lines = log.lines();
    REQUIRE(lines.size() == 1);
    const boost::json::object line = parse_line(lines[0]);
    CHECK(line.at("level").as_string() == "warning");
    CHECK(line.at("message").as_string() == "getUpdates failed: timed out; retrying in 500 ms");
    const std::string time(line.at("time").as_string());
    CHECK(std::regex_match(time, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
    CHECK_FALSE(line.contains("update_id"));
    CHECK_FALSE(line.contains("chat_id"));
}

TEST_CASE("json log lines carry the ids of the event", "[logging]") {
    captured_log log(log_format::json);
    tgsearch::log_event(spdlog::level::info, {.update_id = 4294967396, .chat_id = -1001234567890},
                        "dropped the reply to update {}", 4294967396);
    tgsearch::log_event(spdlog::level::warn, {.connection = 7}, "connection {} failed", 7);
    spdlog::info("a line without ids");
    const std::vector<std::string> lines = log.lines();
    REQUIRE(lines.size() == 3);

    const boost::json::object reply = parse_line(lines[0]);
    CHECK(reply.at("update_id").as_int64() == 4294967396);
    CHECK(reply.at("chat_id").as_int64() == -1001234567890);
    CHECK_FALSE(reply.contains("connection"));

    const boost::json::object connection = parse_line(lines[1]);
    CHECK(connection.at("connection").as_int64() == 7);
    CHECK_FALSE(connection.contains("update_id"));

    // The ids of an event end with its line.
    const boost::json::object plain = parse_line(lines[2]);
    CHECK_FALSE(plain.contains("update_id"));
    CHECK_FALSE(plain.contains("connection"));
}

TEST_CASE("json log lines escape what they quote", "[logging]") {
    captured_log log(log_format::json);
    spdlog::error(
        "quote \" backslash \\ tab \t newline \n bell \a invalid \xff"
        " end");
    const std::vector<std::string> lines = log.lines();
    REQUIRE(lines.size() == 1);
    const boost::json::object line = parse_line(lines[0]);
    CHECK(line.at("message").as_string() ==
          "quote \" backslash \\ tab \t newline \n bell \a invalid \xEF\xBF\xBD"
          " end");
}

TEST_CASE("json log lines redact the token", "[logging]") {
    captured_log log(log_format::json);
    tgsearch::set_redacted_secret(std::string(test_token));
    spdlog::error("POST https://api.telegram.org/bot{}/getMe failed", test_token);
    const std::string secret_part(test_token.substr(test_token.find(':') + 1));
    // The colon percent-encoded, as in a URL that went through an encoder.
    spdlog::error("GET /bot123456789%3A{}/getUpdates", secret_part);
    tgsearch::log_event(spdlog::level::warn, {.update_id = 1}, "\"{}\" in quotes", test_token);
    const std::vector<std::string> lines = log.lines();
    REQUIRE(lines.size() == 3);
    for (const std::string& line : lines) {
        CAPTURE(line);
        CHECK(line.find(secret_part) == std::string::npos);
        CHECK(line.find("<redacted>") != std::string::npos);
        parse_line(line);
    }
}

TEST_CASE("text log lines keep their format", "[logging]") {
    captured_log log(log_format::text);
    tgsearch::set_redacted_secret(std::string(test_token));
    tgsearch::log_event(spdlog::level::info, {.update_id = 5}, "skipped update {}: {}", 5,
                        test_token);
    const std::vector<std::string> lines = log.lines();
    REQUIRE(lines.size() == 1);
    CHECK(std::regex_match(
        lines[0],
        std::regex(
            R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} info skipped update 5: <redacted>\n)")));
}

TEST_CASE("text log lines escape control characters", "[logging]") {
    captured_log log(log_format::text);
    // A Bot API error description and a file name that try to forge a second line.
    spdlog::warn("sendMessage failed: Bad Request\n2026-01-01T00:00:00.000 info forged");
    spdlog::error("failed to load {}: not found", "a\r\nb\tc\x1b[31m\x7f.txt");
    const std::vector<std::string> lines = log.lines();
    REQUIRE(lines.size() == 2);
    for (const std::string& line : lines) {
        CAPTURE(line);
        CHECK(line.find('\n') == line.size() - 1);
        CHECK(line.find('\r') == std::string::npos);
    }
    CHECK(lines[0].ends_with(
        " warning sendMessage failed: Bad Request\\n2026-01-01T00:00:00.000 info forged\n"));
    CHECK(lines[1].ends_with(
        " error failed to load a\\x0d\\nb\\x09c\\x1b[31m\\x7f.txt: not found\n"));
}

TEST_CASE("json log lines keep control characters", "[logging]") {
    captured_log log(log_format::json);
    spdlog::warn("first\nsecond\r");
    const std::vector<std::string> lines = log.lines();
    REQUIRE(lines.size() == 1);
    // JSON escapes them itself, so the message must reach it unchanged.
    CHECK(parse_line(lines[0]).at("message").as_string() == "first\nsecond\r");
}

TEST_CASE("repeat filter lets the first lines through", "[logging]") {
    log_repeat_filter filter({.burst = 3, .window = 60s, .max_kinds = 16});
    const auto start = log_repeat_filter::clock_type::now();
    const auto warn = spdlog::level::warn;
    int written = 0;
    for (int i = 0; i < 10; ++i) {
        const auto decision =
            filter.admit(warn, "getUpdates failed; retrying in " + std::to_string(100 + i) + " ms",
                         start + std::chrono::seconds(i));
        CHECK_FALSE(decision.summary);
        written += decision.write ? 1 : 0;
    }
    CHECK(written == 3);

    // Another kind, and the same text at another level, have windows of their own.
    CHECK(filter.admit(warn, "setMyCommands failed", start + 11s).write);
    CHECK(
        filter.admit(spdlog::level::err, "getUpdates failed; retrying in 5 ms", start + 11s).write);

    // The first line after the window comes with the summary of the 7 held back.
    const auto next = filter.admit(warn, "getUpdates failed; retrying in 900 ms", start + 61s);
    CHECK(next.write);
    REQUIRE(next.summary);
    CHECK(next.summary->held_back == 7);
    CHECK(next.summary->level == warn);
    CHECK(next.summary->example == "getUpdates failed; retrying in 109 ms");
    CHECK(next.summary->period == 61s);
    CHECK(next.summary->message() ==
          "7 more like this in the last 61 s; the last: getUpdates failed; retrying in 109 ms");
}

TEST_CASE("repeat filter summarises ended windows", "[logging]") {
    log_repeat_filter filter({.burst = 2, .window = 60s, .max_kinds = 16});
    const auto start = log_repeat_filter::clock_type::now();
    for (int i = 0; i < 5; ++i) {
        filter.admit(spdlog::level::warn, "update " + std::to_string(i) + " failed", start);
    }
    filter.admit(spdlog::level::warn, "quiet kind", start);
    CHECK(filter.expire(start + 59s).empty());

    const std::vector<tgsearch::repeated_log_summary> summaries = filter.expire(start + 60s);
    REQUIRE(summaries.size() == 1);
    CHECK(summaries[0].held_back == 3);
    CHECK(summaries[0].example == "update 4 failed");
    // Each ended window is reported once, and its kind starts afresh.
    CHECK(filter.expire(start + 120s).empty());
    CHECK(filter.admit(spdlog::level::warn, "update 9 failed", start + 121s).write);
}

TEST_CASE("repeat filter drains open windows", "[logging]") {
    log_repeat_filter filter({.burst = 1, .window = 60s, .max_kinds = 16});
    const auto start = log_repeat_filter::clock_type::now();
    for (int i = 0; i < 3; ++i) {
        filter.admit(spdlog::level::err, "send " + std::to_string(i) + " failed", start);
    }
    filter.admit(spdlog::level::err, "written once", start);
    const std::vector<tgsearch::repeated_log_summary> summaries = filter.drain(start + 2s);
    REQUIRE(summaries.size() == 1);
    CHECK(summaries[0].held_back == 2);
    CHECK(summaries[0].period == 2s);
    CHECK(summaries[0].level == spdlog::level::err);
    CHECK(filter.admit(spdlog::level::err, "send 7 failed", start + 3s).write);
}

TEST_CASE("logger writes summaries when flushed", "[logging]") {
    captured_log log(log_format::json);
    for (int i = 0; i < 7; ++i) {
        tgsearch::log_event(spdlog::level::warn, {.update_id = i}, "dropped the reply to update {}",
                            i);
    }
    tgsearch::flush_repeated_log_lines();
    CHECK(log.lines().size() == 5);
    tgsearch::flush_all_repeated_log_lines();
    const std::vector<std::string> lines = log.lines();
    REQUIRE(lines.size() == 6);
    const boost::json::object summary = parse_line(lines[5]);
    CHECK(summary.at("level").as_string() == "warning");
    CHECK(summary.at("message").as_string().starts_with(
        "2 more like this in the last 1 s; the last: dropped the reply to update 6"));
    // The summary is about many events, so it carries none of their ids.
    CHECK_FALSE(summary.contains("update_id"));
}

TEST_CASE("repeat filter kinds ignore numbers only", "[logging]") {
    const auto kind = [](std::string_view message) {
        return log_repeat_filter::kind_of(spdlog::level::warn, message);
    };
    CHECK(kind("update 12 in chat -100123") == kind("update 7 in chat -5"));
    CHECK(kind("update 12 in chat 5") != kind("update 12 in group 5"));
    CHECK(log_repeat_filter::kind_of(spdlog::level::info, "x") !=
          log_repeat_filter::kind_of(spdlog::level::warn, "x"));
}

TEST_CASE("repeat filter passes new kinds when full", "[logging]") {
    log_repeat_filter filter({.burst = 1, .window = 60s, .max_kinds = 2});
    const auto start = log_repeat_filter::clock_type::now();
    CHECK(filter.admit(spdlog::level::warn, "first kind", start).write);
    CHECK(filter.admit(spdlog::level::warn, "second kind", start).write);
    // Untracked kinds are written every time rather than lost.
    CHECK(filter.admit(spdlog::level::warn, "third kind", start).write);
    CHECK(filter.admit(spdlog::level::warn, "third kind", start).write);
    CHECK_FALSE(filter.admit(spdlog::level::warn, "first kind", start).write);
}

TEST_CASE("logger holds back repeated lines", "[logging]") {
    captured_log log(log_format::text, spdlog::level::debug);
    for (int i = 0; i < 8; ++i) {
        spdlog::warn("getUpdates failed: connection refused; retrying in {} ms", 100 * i);
    }
    // Debug lines are asked for one by one, so none is held back.
    for (int i = 0; i < 8; ++i) {
        spdlog::debug("received update {}", i);
    }
    const std::vector<std::string> lines = log.lines();
    std::size_t warnings = 0;
    std::size_t debug_lines = 0;
    for (const std::string& line : lines) {
        warnings += line.find(" warning getUpdates failed") != std::string::npos ? 1 : 0;
        debug_lines += line.find(" debug received update") != std::string::npos ? 1 : 0;
    }
    CHECK(warnings == 5);
    CHECK(debug_lines == 8);
}
