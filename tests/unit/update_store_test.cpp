#include "app/update_store.hpp"

#include "app/redis_client.hpp"
#include "tests/unit/redis_fixture.hpp"

#include <catch2/catch.hpp>

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using tgsearch::parse_redis_url;
using tgsearch::received_update;
using tgsearch::redis_client;
using tgsearch::redis_client_options;
using tgsearch::redis_command;
using tgsearch::redis_reply;
using tgsearch::spilled_task;
using tgsearch::update_store;
using tgsearch::update_store_options;
using tgsearch::testing::redis_server;
using tgsearch::testing::run_task;

/// A wall clock that a test moves by hand.
struct manual_clock {
    std::chrono::system_clock::time_point now =
        std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
};

update_store_options options_with(const std::shared_ptr<manual_clock>& clock,
                                  std::int64_t bot_id = 42) {
    update_store_options options;
    options.bot_id = bot_id;
    options.clock = [clock] { return clock->now; };
    return options;
}

/// Catches the log lines written while it lives.
class captured_log {
public:
    captured_log()
        : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000)),
          previous_(spdlog::default_logger()) {
        auto logger = std::make_shared<spdlog::logger>("captured", sink_);
        logger->set_pattern("%l %v");
        logger->set_level(spdlog::level::info);
        spdlog::set_default_logger(std::move(logger));
    }
    ~captured_log() { spdlog::set_default_logger(previous_); }

    std::vector<std::string> lines() const { return sink_->last_formatted(); }

    std::size_t count(const std::string& text) const {
        std::size_t found = 0;
        for (const std::string& line : lines()) {
            found += line.find(text) != std::string::npos ? 1 : 0;
        }
        return found;
    }

private:
    std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
    std::shared_ptr<spdlog::logger> previous_;
};

redis_reply run_command(asio::io_context& io, redis_client& client, redis_command command) {
    auto result = run_task(io, client.command(std::move(command)));
    REQUIRE(result.ok());
    return std::move(result.value());
}

std::string update_json(std::int64_t update_id, std::int64_t chat_id) {
    return R"({"update_id":)" + std::to_string(update_id) +
           R"(,"message":{"message_id":1,"chat":{"id":)" + std::to_string(chat_id) +
           R"(,"type":"private"},"date":1,"text":"query \u00e9 )" + std::to_string(update_id) +
           R"("}})";
}

}  // namespace

TEST_CASE("update store keys carry the bot id", "[redis]") {
    asio::io_context io;
    redis_client client(io.get_executor(), parse_redis_url("redis://127.0.0.1:1"));
    update_store store(client, options_with(std::make_shared<manual_clock>(), 123456789));
    CHECK(store.key("offset") == "tgsearch:123456789:offset");
    CHECK(store.key("pending") == "tgsearch:123456789:pending");
}

TEST_CASE("update store round-trips pending updates", "[redis]") {
    TGSEARCH_REQUIRE_REDIS_SERVER();
    redis_server server;
    asio::io_context io;
    redis_client client(io.get_executor(), parse_redis_url(server.url()));
    auto clock = std::make_shared<manual_clock>();
    update_store store(client, options_with(clock));

    const std::vector<received_update> first{{30, update_json(30, 7)}, {10, update_json(10, 8)}};
    const std::vector<received_update> second{{20, update_json(20, 7)}, {40, update_json(40, 9)}};
    REQUIRE(run_task(io, store.save_received(first)));
    REQUIRE(run_task(io, store.save_received(second)));
    REQUIRE(run_task(io, store.mark_answered(30)));

    const std::vector<received_update> pending = run_task(io, store.load_pending());
    REQUIRE(pending.size() == 3);
    CHECK(pending[0].update_id == 10);
    CHECK(pending[1].update_id == 20);
    CHECK(pending[2].update_id == 40);
    CHECK(pending[0].json == update_json(10, 8));
    CHECK(pending[2].json == update_json(40, 9));

    // mark_answered removed 30 from the hash; the others stay until they are answered.
    CHECK(run_command(io, client, {"HLEN", store.key("pending")}).integer == 3);
    const redis_reply ttl = run_command(io, client, {"PTTL", store.key("pending")});
    CHECK(ttl.integer > 0);
    CHECK(ttl.integer <= 24 * 3600 * 1000);
}

TEST_CASE("update store leaves out pending updates already answered", "[redis]") {
    TGSEARCH_REQUIRE_REDIS_SERVER();
    redis_server server;
    asio::io_context io;
    redis_client client(io.get_executor(), parse_redis_url(server.url()));
    update_store store(client, options_with(std::make_shared<manual_clock>()));

    REQUIRE(run_task(io, store.save_received({{5, update_json(5, 1)}, {6, update_json(6, 1)}})));
    // The answer was recorded, but a crash came before the pending entry was removed.
    REQUIRE(
        run_command(io, client, {"ZADD", store.key("answered"), "1800000000000", "6"}).integer ==
        1);
    const std::vector<received_update> pending = run_task(io, store.load_pending());
    REQUIRE(pending.size() == 1);
    CHECK(pending[0].update_id == 5);
    CHECK(run_command(io, client, {"HEXISTS", store.key("pending"), "6"}).integer == 0);
}

TEST_CASE("update store removes pending entries that do not parse", "[redis]") {
    TGSEARCH_REQUIRE_REDIS_SERVER();
    redis_server server;
    asio::io_context io;
    redis_client client(io.get_executor(), parse_redis_url(server.url()));
    update_store store(client, options_with(std::make_shared<manual_clock>()));
    const std::string key = store.key("pending");
    run_command(io, client,
                {"HSET", key, "1", update_json(1, 1), "not-an-id", update_json(2, 1), "3",
                 "{broken", "4", update_json(5, 1), "6", "[1,2]"});

    captured_log log;
    const std::vector<received_update> pending = run_task(io, store.load_pending());
    REQUIRE(pending.size() == 1);
    CHECK(pending[0].update_id == 1);
    CHECK(run_command(io, client, {"HLEN", key}).integer == 1);
    CHECK(log.count("Redis key " + key + ": removed field \"not-an-id\"") == 1);
    CHECK(log.count("removed field \"3\": not JSON") == 1);
    CHECK(log.count("removed field \"4\": its update_id is not 4") == 1);
    CHECK(log.count("removed field \"6\": not a JSON object") == 1);
}

TEST_CASE("update store skips foreign values under its keys", "[redis]") {
    TGSEARCH_REQUIRE_REDIS_SERVER();
    redis_server server;
    asio::io_context io;
    redis_client client(io.get_executor(), parse_redis_url(server.url()));
    update_store store(client, options_with(std::make_shared<manual_clock>()));
    for (const char* name : {"pending", "offset", "answered"}) {
        run_command(io, client, {"SET", store.key(name), "written by someone else"});
    }
    run_command(io, client, {"HSET", store.key("spill"), "field", "value"});

    captured_log log;
    CHECK_FALSE(run_task(io, store.save_received({{1, update_json(1, 1)}})));
    CHECK(run_task(io, store.load_pending()).empty());
    CHECK_FALSE(run_task(io, store.load_offset()).has_value());
    CHECK_FALSE(run_task(io, store.was_answered(1)).has_value());
    CHECK_FALSE(run_task(io, store.spill(1, R"({"q":"x"})")));
    CHECK(run_task(io, store.unspill(10)).empty());
    // The write fails on the foreign key, so retrying it would fail the same way: it is
    // reported and not kept.
    CHECK(run_task(io, store.mark_answered(1)));
    CHECK(store.backlog_size() == 0);
    CHECK(store.available());

    for (const char* name : {"pending", "offset", "answered", "spill"}) {
        INFO(name);
        CHECK(log.count("Redis key " + store.key(name) + ": ") >= 1);
    }
    CHECK(log.count("WRONGTYPE") >= 4);
    // The foreign values are left alone.
    CHECK(run_command(io, client, {"GET", store.key("offset")}).text == "written by someone else");
}

TEST_CASE("update store round-trips the offset", "[redis]") {
    TGSEARCH_REQUIRE_REDIS_SERVER();
    redis_server server;
    asio::io_context io;
    redis_client client(io.get_executor(), parse_redis_url(server.url()));
    auto clock = std::make_shared<manual_clock>();
    update_store store(client, options_with(clock));

    CHECK_FALSE(run_task(io, store.load_offset()).has_value());
    REQUIRE(run_task(io, store.save_offset(1000)));
    REQUIRE(run_task(io, store.save_offset(1001)));
    clock->now += 23h;
    const std::optional<std::int64_t> offset = run_task(io, store.load_offset());
    REQUIRE(offset.has_value());
    CHECK(*offset == 1001);
    CHECK(run_command(io, client, {"HGET", store.key("offset"), "saved_at"}).text == "1800000000");
}

TEST_CASE("update store discards an offset older than 24 hours", "[redis]") {
    TGSEARCH_REQUIRE_REDIS_SERVER();
    redis_server server;
    asio::io_context io;
    redis_client client(io.get_executor(), parse_redis_url(server.url()));
    auto clock = std::make_shared<manual_clock>();
    update_store store(client, options_with(clock));

    REQUIRE(run_task(io, store.save_offset(555)));
    clock->now += 24h + 1s;
    captured_log log;
    CHECK_FALSE(run_task(io, store.load_offset()).has_value());
    CHECK(log.count("discarded the stored getUpdates offset 555: it was saved 86401 s ago") == 1);

    run_command(io, client, {"HSET", store.key("offset"), "offset", "12x", "saved_at", "1"});
    CHECK_FALSE(run_task(io, store.load_offset()).has_value());
    CHECK(log.count("expected integer fields offset and saved_at") == 1);
}

TEST_CASE("update store expires answered ids after 24 hours", "[redis]") {
    TGSEARCH_REQUIRE_REDIS_SERVER();
    redis_server server;
    asio::io_context io;
    redis_client client(io.get_executor(), parse_redis_url(server.url()));
    auto clock = std::make_shared<manual_clock>();
    update_store store(client, options_with(clock));
    const std::string key = store.key("answered");

    REQUIRE(run_task(io, store.mark_answered(1)));
    CHECK(run_task(io, store.was_answered(1)) == std::optional<bool>(true));
    CHECK(run_task(io, store.was_answered(2)) == std::optional<bool>(false));

    clock->now += 12h;
    REQUIRE(run_task(io, store.mark_answered(2)));
    CHECK(run_command(io, client, {"ZCARD", key}).integer == 2);

    clock->now += 12h + 1s;
    // Too old to count, even before a trim removes it.
    CHECK(run_task(io, store.was_answered(1)) == std::optional<bool>(false));
    REQUIRE(run_task(io, store.mark_answered(3)));
    CHECK(run_command(io, client, {"ZCARD", key}).integer == 2);
    CHECK(run_command(io, client, {"ZSCORE", key, "1"}).is_nil());
    CHECK(run_task(io, store.was_answered(2)) == std::optional<bool>(true));
    CHECK(run_task(io, store.was_answered(3)) == std::optional<bool>(true));
    const redis_reply ttl = run_command(io, client, {"PTTL", key});
    CHECK(ttl.integer > 0);
    CHECK(ttl.integer <= 24 * 3600 * 1000);
}

TEST_CASE("update store unspills 2000 tasks in spill order", "[redis]") {
    TGSEARCH_REQUIRE_REDIS_SERVER();
    redis_server server;
    asio::io_context io;
    redis_client client(io.get_executor(), parse_redis_url(server.url()));
    update_store store(client, options_with(std::make_shared<manual_clock>()));

    constexpr int task_count = 2000;
    constexpr int chat_count = 37;
    for (int i = 0; i < task_count; ++i) {
        const std::int64_t chat_id = -1'000'000'000'000 - (i % chat_count);
        const std::string task = R"({"n":)" + std::to_string(i) + R"(,"text":"a b"})";
        REQUIRE(run_task(io, store.spill(chat_id, task)));
    }
    CHECK(store.spilled_count() == task_count);

    std::vector<spilled_task> all;
    for (;;) {
        std::vector<spilled_task> batch = run_task(io, store.unspill(300));
        if (batch.empty()) {
            break;
        }
        CHECK(batch.size() <= 300);
        all.insert(all.end(), batch.begin(), batch.end());
        CHECK(store.spilled_count() == task_count - all.size());
    }
    REQUIRE(all.size() == task_count);
    for (int i = 0; i < task_count; ++i) {
        INFO(i);
        REQUIRE(all[i].json == R"({"n":)" + std::to_string(i) + R"(,"text":"a b"})");
        REQUIRE(all[i].chat_id == -1'000'000'000'000 - (i % chat_count));
    }
    CHECK(store.spilled_count() == 0);
}

TEST_CASE("update store drops spilled entries that do not parse", "[redis]") {
    TGSEARCH_REQUIRE_REDIS_SERVER();
    redis_server server;
    asio::io_context io;
    redis_client client(io.get_executor(), parse_redis_url(server.url()));
    update_store store(client, options_with(std::make_shared<manual_clock>()));
    const std::string key = store.key("spill");
    run_command(io, client,
                {"RPUSH", key, "5 {\"n\":1}", "no-space", "x {\"n\":2}", "6 {broken", "7 [3]"});

    captured_log log;
    const std::vector<spilled_task> tasks = run_task(io, store.unspill(10));
    REQUIRE(tasks.size() == 2);
    CHECK(tasks[0].chat_id == 5);
    CHECK(tasks[0].json == R"({"n":1})");
    CHECK(tasks[1].chat_id == 7);
    CHECK(tasks[1].json == "[3]");
    CHECK(log.count("Redis key " + key + ": dropped an entry") == 3);

    REQUIRE(run_task(io, store.spill(8, "{}")));
    REQUIRE(run_task(io, store.discard_spill()));
    CHECK(store.spilled_count() == 0);
    CHECK(run_command(io, client, {"EXISTS", key}).integer == 0);
}

TEST_CASE("update store flushes its backlog after redis restarts", "[redis]") {
    TGSEARCH_REQUIRE_REDIS_SERVER();
    redis_server server;
    asio::io_context io;
    redis_client_options client_options;
    client_options.min_backoff = 20ms;
    client_options.max_backoff = 100ms;
    redis_client client(io.get_executor(), parse_redis_url(server.url()), client_options);
    redis_client checker(io.get_executor(), parse_redis_url(server.url()), client_options);
    update_store store(client, options_with(std::make_shared<manual_clock>()));
    REQUIRE(run_task(io, store.save_received({{10, update_json(10, 1)}})));

    // Killed while a write waits for its reply.
    server.pause();
    std::optional<bool> interrupted;
    tgsearch::testing::spawn_task(io, store.mark_answered(10), interrupted);
    io.restart();
    io.run_for(100ms);
    REQUIRE_FALSE(interrupted.has_value());
    captured_log log;
    server.kill();
    io.restart();
    io.run_for(1s);
    REQUIRE(interrupted.has_value());
    CHECK_FALSE(*interrupted);
    CHECK_FALSE(store.available());

    const auto started = std::chrono::steady_clock::now();
    for (std::int64_t id = 11; id <= 20; ++id) {
        CHECK_FALSE(run_task(io, store.mark_answered(id)));
    }
    CHECK_FALSE(run_task(io, store.save_offset(21)));
    CHECK_FALSE(run_task(io, store.spill(1, "{}")));
    CHECK(run_task(io, store.load_pending()).empty());
    CHECK(run_task(io, store.was_answered(15)) == std::optional<bool>(true));
    CHECK_FALSE(run_task(io, store.was_answered(99)).has_value());
    // Nothing waits for a Redis that is down.
    CHECK(std::chrono::steady_clock::now() - started < 1s);
    CHECK(store.backlog_size() == 12);
    CHECK(log.count("Redis unavailable") == 1);

    server.restart();
    bool flushed = false;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!flushed && std::chrono::steady_clock::now() < deadline) {
        flushed = run_task(io, store.flush());
        if (!flushed) {
            std::this_thread::sleep_for(20ms);
        }
    }
    REQUIRE(flushed);
    CHECK(store.available());
    CHECK(store.backlog_size() == 0);
    CHECK(log.count("is reachable again") == 1);
    for (std::int64_t id = 10; id <= 20; ++id) {
        INFO(id);
        CHECK_FALSE(run_command(io, checker, {"ZSCORE", store.key("answered"), std::to_string(id)})
                        .is_nil());
    }
    CHECK(run_command(io, checker, {"HGET", store.key("offset"), "offset"}).text == "21");
}

TEST_CASE("update store bounds its backlog", "[redis]") {
    TGSEARCH_REQUIRE_REDIS_SERVER();
    redis_server server;
    asio::io_context io;
    redis_client_options client_options;
    client_options.min_backoff = 20ms;
    client_options.max_backoff = 50ms;
    redis_client client(io.get_executor(), parse_redis_url(server.url()), client_options);
    redis_client checker(io.get_executor(), parse_redis_url(server.url()), client_options);
    auto options = options_with(std::make_shared<manual_clock>());
    options.max_backlog = 3;
    update_store store(client, options);
    server.stop();

    for (std::int64_t id = 1; id <= 5; ++id) {
        CHECK_FALSE(run_task(io, store.mark_answered(id)));
    }
    CHECK(store.backlog_size() == 3);
    server.restart();
    captured_log log;
    bool flushed = false;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!flushed && std::chrono::steady_clock::now() < deadline) {
        flushed = run_task(io, store.flush());
        std::this_thread::sleep_for(20ms);
    }
    REQUIRE(flushed);
    CHECK(log.count("dropped the oldest 2 answered ids") == 1);
    CHECK(run_command(io, checker, {"ZCARD", store.key("answered")}).integer == 3);
    CHECK(run_command(io, checker, {"ZSCORE", store.key("answered"), "1"}).is_nil());
    CHECK_FALSE(run_command(io, checker, {"ZSCORE", store.key("answered"), "5"}).is_nil());
}

TEST_CASE("update stores of two bots share nothing", "[redis]") {
    TGSEARCH_REQUIRE_REDIS_SERVER();
    redis_server server;
    asio::io_context io;
    redis_client client(io.get_executor(), parse_redis_url(server.url()));
    auto clock = std::make_shared<manual_clock>();
    update_store first(client, options_with(clock, 1));
    update_store second(client, options_with(clock, 2));

    REQUIRE(run_task(io, first.save_offset(77)));
    REQUIRE(run_task(io, first.mark_answered(5)));
    CHECK_FALSE(run_task(io, second.load_offset()).has_value());
    CHECK(run_task(io, second.was_answered(5)) == std::optional<bool>(false));
    CHECK(run_task(io, first.load_offset()) == std::optional<std::int64_t>(77));
}

TEST_CASE("update store checks answered ids in one pipeline", "[redis]") {
    TGSEARCH_REQUIRE_REDIS_SERVER();
    redis_server server;
    asio::io_context io;
    redis_client_options client_options;
    client_options.min_backoff = 20ms;
    client_options.max_backoff = 100ms;
    redis_client client(io.get_executor(), parse_redis_url(server.url()), client_options);
    auto clock = std::make_shared<manual_clock>();
    update_store store(client, options_with(clock));

    REQUIRE(run_task(io, store.mark_answered(3)));
    clock->now += 25h;
    REQUIRE(run_task(io, store.mark_answered(5)));
    REQUIRE(run_task(io, store.mark_answered(7)));

    const auto answered = run_task(io, store.answered_among({3, 4, 5, 6, 7}));
    REQUIRE(answered.has_value());
    // 3 is older than 24 hours, so it no longer counts.
    CHECK(*answered == std::set<std::int64_t>{5, 7});
    CHECK(run_task(io, store.answered_among({})) == std::set<std::int64_t>{});

    // With Redis down, ids in the backlog are still known; the others are not.
    server.kill();
    CHECK_FALSE(run_task(io, store.mark_answered(8)));
    CHECK(run_task(io, store.answered_among({8})) == std::set<std::int64_t>{8});
    CHECK_FALSE(run_task(io, store.answered_among({7, 8})).has_value());
}

TEST_CASE("update store treats a missing password as Redis down", "[redis]") {
    TGSEARCH_REQUIRE_REDIS_SERVER();
    tgsearch::testing::redis_server_options server_options;
    server_options.password = "s3cret-pass";
    redis_server server(server_options);
    asio::io_context io;
    // The URL lacks the password, so every command gets NOAUTH.
    const std::string url = "redis://127.0.0.1:" + std::to_string(server.port()) + "/0";
    redis_client client(io.get_executor(), parse_redis_url(url));
    update_store store(client, options_with(std::make_shared<manual_clock>()));
    const captured_log log;

    CHECK_FALSE(run_task(io, store.save_offset(1000)));
    CHECK_FALSE(run_task(io, store.save_offset(1001)));
    CHECK_FALSE(run_task(io, store.load_offset()).has_value());
    CHECK_FALSE(store.available());
    CHECK(log.count("skipped unexpected data") == 0);
    CHECK(log.count("reachable again") == 0);
    // One warning names the problem and the fix; the repeats within the interval are held.
    CHECK(log.count("NOAUTH") == 1);
    CHECK(log.count("put the password in the Redis URL") == 1);
}
