#include "app/redis_client.hpp"

#include "tests/unit/redis_fixture.hpp"

#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using tgsearch::parse_redis_url;
using tgsearch::redis_client;
using tgsearch::redis_client_options;
using tgsearch::redis_command;
using tgsearch::redis_endpoint;
using tgsearch::redis_error;
using tgsearch::redis_reply;
using tgsearch::redis_result;
using tgsearch::testing::redis_server;
using tgsearch::testing::redis_server_options;
using tgsearch::testing::run_task;

redis_result<redis_reply> run_command(asio::io_context& io, redis_client& client,
                                      redis_command command) {
    return run_task(io, client.command(std::move(command)));
}

redis_result<std::vector<redis_reply>> run_pipeline(asio::io_context& io, redis_client& client,
                                                    std::vector<redis_command> commands) {
    return run_task(io, client.pipeline(std::move(commands)));
}

std::string error_text(const redis_result<redis_reply>& result) {
    return result ? "ok: " + tgsearch::describe_reply(result.value())
                  : std::string(tgsearch::to_string(result.error().type)) + ": " +
                        result.error().message;
}

}  // namespace

TEST_CASE("redis url parsing accepts every documented form", "[redis]") {
    struct good_case {
        std::string url;
        redis_endpoint::transport type;
        std::string host;
        std::uint16_t port;
        std::string socket_path;
        std::string username;
        std::string password;
        int database;
    };
    using transport = redis_endpoint::transport;
    const std::vector<good_case> cases{
        {"redis://localhost", transport::tcp, "localhost", 6379, "", "", "", 0},
        {"redis://127.0.0.1:6380/", transport::tcp, "127.0.0.1", 6380, "", "", "", 0},
        {"redis://127.0.0.1:6380/5", transport::tcp, "127.0.0.1", 6380, "", "", "", 5},
        {"redis://:s3cret@redis.local:7000/2", transport::tcp, "redis.local", 7000, "", "",
         "s3cret", 2},
        {"redis://alice:s3cret@host/1", transport::tcp, "host", 6379, "", "alice", "s3cret", 1},
        {"redis://:p%40ss%2Fword@host", transport::tcp, "host", 6379, "", "", "p@ss/word", 0},
        {"redis://:p@ss@host:1", transport::tcp, "host", 1, "", "", "p@ss", 0},
        {"redis://[::1]:6379/3", transport::tcp, "::1", 6379, "", "", "", 3},
        {"REDIS://[::1]", transport::tcp, "::1", 6379, "", "", "", 0},
        {"unix:///run/redis/redis.sock", transport::unix_socket, "", 6379, "/run/redis/redis.sock",
         "", "", 0},
        {"unix:///run/redis.sock?db=4", transport::unix_socket, "", 6379, "/run/redis.sock", "", "",
         4},
        {"unix://:s3cret@/tmp/r.sock?db=1", transport::unix_socket, "", 6379, "/tmp/r.sock", "",
         "s3cret", 1},
    };
    for (const good_case& expected : cases) {
        INFO(expected.url);
        const redis_endpoint endpoint = parse_redis_url(expected.url);
        CHECK(endpoint.type == expected.type);
        CHECK(endpoint.host == expected.host);
        CHECK(endpoint.port == expected.port);
        CHECK(endpoint.socket_path == expected.socket_path);
        CHECK(endpoint.username == expected.username);
        CHECK(endpoint.password == expected.password);
        CHECK(endpoint.database == expected.database);
        CHECK(endpoint.display.find("s3cret") == std::string::npos);
    }
    CHECK(parse_redis_url("redis://alice:s3cret@host/1").display == "redis://alice:****@host/1");
}

TEST_CASE("redis url parsing names the problem and masks the password", "[redis]") {
    struct bad_case {
        std::string url;
        std::string problem;
    };
    const std::vector<bad_case> cases{
        {"rediss://:s3cret@host:6380",
         "TLS to Redis is not supported; use a local Redis or a "
         "tunnel"},
        {"http://:s3cret@host", "unsupported scheme \"http\""},
        {"localhost:6379", "expected redis://host:port/db"},
        {"redis://:s3cret@", "the host is missing"},
        {"redis://:s3cret@host:0", "the port \"0\" is not a number from 1 to 65535"},
        {"redis://:s3cret@host:65536", "the port \"65536\""},
        {"redis://:s3cret@host:port", "the port \"port\""},
        {"redis://:s3cret@host:", "the port after ':' is empty"},
        {"redis://:s3cret@host/x", "the database \"x\" is not a number"},
        {"redis://:s3cret@host/-1", "the database \"-1\""},
        {"redis://:s3cret@host/0?timeout=1", "a query or fragment is not supported"},
        {"redis://:s3cret@::1:6379", "an IPv6 address needs brackets"},
        {"redis://:s3cret@[::1", "no closing ']'"},
        {"redis://s3cret@host", "the user info has no ':'"},
        {"redis://alice:@host", "the password after ':' is empty"},
        {"redis://:s3cret%zz@host", "invalid percent-encoding"},
        {"unix://:s3cret@relative.sock", "expected an absolute socket path"},
        {"unix://:s3cret@/tmp/r.sock?database=1", "unknown query parameter \"database=1\""},
        {"unix://:s3cret@/tmp/r.sock?db=one", "the database \"one\""},
        {"unix://:s3cret@/" + std::string(120, 'x'), "the socket path is longer than"},
    };
    for (const bad_case& expected : cases) {
        INFO(expected.url);
        try {
            parse_redis_url(expected.url);
            FAIL("accepted an invalid URL");
        } catch (const std::invalid_argument& error) {
            const std::string message = error.what();
            INFO(message);
            CHECK(message.find(expected.problem) != std::string::npos);
            CHECK(message.find("s3cret") == std::string::npos);
            CHECK(message.find("invalid Redis URL") == 0);
        }
    }
}

TEST_CASE("redis url masking hides the whole user info without a colon", "[redis]") {
    CHECK(tgsearch::mask_redis_url("redis://s3cret@host") == "redis://****@host");
    CHECK(tgsearch::mask_redis_url("redis://u:p@ss@host") == "redis://u:****@host");
    CHECK(tgsearch::mask_redis_url("redis://host:1/0") == "redis://host:1/0");
    CHECK(tgsearch::mask_redis_url("not a url") == "not a url");
}

TEST_CASE("redis pipeline returns replies in order", "[redis]") {
    TGSEARCH_REQUIRE_REDIS_SERVER();
    redis_server server;
    asio::io_context io;
    redis_client client(io.get_executor(), parse_redis_url(server.url()));

    std::vector<redis_command> commands;
    for (int i = 0; i < 500; ++i) {
        commands.push_back({"RPUSH", "order", std::to_string(i)});
        commands.push_back({"INCR", "counter"});
    }
    const auto result = run_pipeline(io, client, commands);
    REQUIRE(result.ok());
    REQUIRE(result.value().size() == 1000);
    for (int i = 0; i < 500; ++i) {
        const redis_reply& pushed = result.value()[2 * i];
        const redis_reply& counted = result.value()[2 * i + 1];
        REQUIRE(pushed.type == redis_reply::kind::integer);
        REQUIRE(pushed.integer == i + 1);
        REQUIRE(counted.integer == i + 1);
    }
    const auto range = run_command(io, client, {"LRANGE", "order", "0", "-1"});
    REQUIRE(range.ok());
    REQUIRE(range.value().elements.size() == 500);
    CHECK(range.value().elements[0].text == "0");
    CHECK(range.value().elements[499].text == "499");
    CHECK(client.connected());
}

TEST_CASE("redis replies of every resp2 type arrive intact", "[redis]") {
    TGSEARCH_REQUIRE_REDIS_SERVER();
    redis_server server;
    asio::io_context io;
    redis_client client(io.get_executor(), parse_redis_url(server.url()));
    const std::string binary("a\0b\r\nc", 6);
    const std::string large(100'000, 'z');  // spans several reads

    const std::vector<redis_command> commands{
        {"SET", "text", binary},
        {"GET", "text"},
        {"GET", "missing"},
        {"INCRBY", "number", "-42"},
        {"NO-SUCH-COMMAND"},
        {"SET", "empty", ""},
        {"GET", "empty"},
        {"EVAL", "return {1, {'x', redis.status_reply('fine')}, false}", "0"},
        {"SET", "large", large},
        {"GET", "large"},
    };
    const auto result = run_pipeline(io, client, commands);
    REQUIRE(result.ok());
    const std::vector<redis_reply>& replies = result.value();
    REQUIRE(replies.size() == commands.size());

    CHECK(replies[0].type == redis_reply::kind::status);
    CHECK(replies[0].text == "OK");
    CHECK(replies[1].type == redis_reply::kind::bulk);
    CHECK(replies[1].text == binary);
    CHECK(replies[2].type == redis_reply::kind::nil);
    CHECK(replies[3].type == redis_reply::kind::integer);
    CHECK(replies[3].integer == -42);
    CHECK(replies[4].type == redis_reply::kind::error);
    CHECK(replies[4].text.find("ERR unknown command") == 0);
    CHECK(replies[6].type == redis_reply::kind::bulk);
    CHECK(replies[6].text.empty());

    const redis_reply& nested = replies[7];
    REQUIRE(nested.type == redis_reply::kind::array);
    REQUIRE(nested.elements.size() == 3);
    CHECK(nested.elements[0].type == redis_reply::kind::integer);
    CHECK(nested.elements[0].integer == 1);
    REQUIRE(nested.elements[1].type == redis_reply::kind::array);
    REQUIRE(nested.elements[1].elements.size() == 2);
    CHECK(nested.elements[1].elements[0].text == "x");
    CHECK(nested.elements[1].elements[1].type == redis_reply::kind::status);
    CHECK(nested.elements[1].elements[1].text == "fine");
    CHECK(nested.elements[2].type == redis_reply::kind::nil);  // Lua false is a nil bulk

    CHECK(replies[9].text == large);
    CHECK(tgsearch::describe_reply(replies[9]).find("(100000 bytes)") != std::string::npos);
}

TEST_CASE("redis client authenticates with a password", "[redis]") {
    TGSEARCH_REQUIRE_REDIS_SERVER();
    redis_server_options options;
    options.password = "s3cret-pass";
    redis_server server(options);
    asio::io_context io;

    SECTION("the right password logs in") {
        redis_client client(io.get_executor(), parse_redis_url(server.url()));
        const auto reply = run_command(io, client, {"PING"});
        INFO(error_text(reply));
        REQUIRE(reply.ok());
        CHECK(reply.value().text == "PONG");
    }
    SECTION("a wrong password is auth_failed and never shown") {
        const std::string url =
            "redis://:wrong-pass@127.0.0.1:" + std::to_string(server.port()) + "/0";
        redis_client client(io.get_executor(), parse_redis_url(url));
        const auto reply = run_command(io, client, {"PING"});
        REQUIRE_FALSE(reply.ok());
        CHECK(reply.error().type == redis_error::kind::auth_failed);
        CHECK(reply.error().message.find("WRONGPASS") != std::string::npos);
        CHECK(reply.error().message.find("wrong-pass") == std::string::npos);
        CHECK(reply.error().message.find(":****@127.0.0.1") != std::string::npos);
        CHECK_FALSE(client.connected());
    }
    SECTION("no password gets NOAUTH error replies") {
        const std::string url = "redis://127.0.0.1:" + std::to_string(server.port());
        redis_client client(io.get_executor(), parse_redis_url(url));
        const auto reply = run_command(io, client, {"PING"});
        REQUIRE(reply.ok());
        CHECK(reply.value().is_error());
        CHECK(reply.value().text.find("NOAUTH") == 0);
    }
}

TEST_CASE("redis client authenticates a named user", "[redis]") {
    TGSEARCH_REQUIRE_REDIS_SERVER();
    redis_server server;
    asio::io_context io;
    redis_client admin(io.get_executor(), parse_redis_url(server.url()));
    const auto created =
        run_command(io, admin, {"ACL", "SETUSER", "alice", "on", ">alice-pass", "~*", "+@all"});
    REQUIRE(created.ok());
    REQUIRE(created.value().text == "OK");
    const std::string address = "127.0.0.1:" + std::to_string(server.port());

    redis_client alice(io.get_executor(), parse_redis_url("redis://alice:alice-pass@" + address));
    const auto who = run_command(io, alice, {"ACL", "WHOAMI"});
    INFO(error_text(who));
    REQUIRE(who.ok());
    CHECK(who.value().text == "alice");

    redis_client impostor(io.get_executor(), parse_redis_url("redis://alice:nope-pass@" + address));
    const auto rejected = run_command(io, impostor, {"PING"});
    REQUIRE_FALSE(rejected.ok());
    CHECK(rejected.error().type == redis_error::kind::auth_failed);
    CHECK(rejected.error().message.find("for user alice") != std::string::npos);
    CHECK(rejected.error().message.find("nope-pass") == std::string::npos);
}

TEST_CASE("redis client selects the database from the url", "[redis]") {
    TGSEARCH_REQUIRE_REDIS_SERVER();
    redis_server server;
    asio::io_context io;
    redis_client in_three(io.get_executor(), parse_redis_url(server.url(3)));
    redis_client in_zero(io.get_executor(), parse_redis_url(server.url(0)));

    REQUIRE(run_command(io, in_three, {"SET", "where", "three"}).ok());
    const auto from_zero = run_command(io, in_zero, {"GET", "where"});
    REQUIRE(from_zero.ok());
    CHECK(from_zero.value().is_nil());
    const auto from_three = run_command(io, in_three, {"GET", "where"});
    REQUIRE(from_three.ok());
    CHECK(from_three.value().text == "three");

    // Redis has 16 databases unless configured otherwise.
    redis_client out_of_range(io.get_executor(), parse_redis_url(server.url(99)));
    const auto rejected = run_command(io, out_of_range, {"PING"});
    REQUIRE_FALSE(rejected.ok());
    CHECK(rejected.error().type == redis_error::kind::connect_failed);
    CHECK(rejected.error().message.find("rejected SELECT 99") != std::string::npos);
}

TEST_CASE("redis client connects over a unix socket", "[redis]") {
    TGSEARCH_REQUIRE_REDIS_SERVER();
    redis_server_options options;
    options.password = "socket-pass";
    options.unix_socket = true;
    redis_server server(options);
    asio::io_context io;
    const redis_endpoint endpoint = parse_redis_url(server.url(2));
    REQUIRE(endpoint.type == redis_endpoint::transport::unix_socket);
    redis_client client(io.get_executor(), endpoint);

    REQUIRE(run_command(io, client, {"SET", "via", "socket"}).ok());
    const auto info = run_command(io, client, {"CLIENT", "INFO"});
    INFO(error_text(info));
    REQUIRE(info.ok());
    CHECK(info.value().text.find("db=2") != std::string::npos);
}

TEST_CASE("redis client reconnects after the server is killed mid-pipeline", "[redis]") {
    TGSEARCH_REQUIRE_REDIS_SERVER();
    redis_server server;
    asio::io_context io;
    redis_client_options options;
    options.min_backoff = 50ms;
    options.max_backoff = 200ms;
    redis_client client(io.get_executor(), parse_redis_url(server.url()), options);
    REQUIRE(run_command(io, client, {"PING"}).ok());

    // Paused, the server keeps the connection open but answers nothing, so the pipeline is
    // sent and waiting for replies when the server dies.
    server.pause();
    std::optional<redis_result<std::vector<redis_reply>>> interrupted;
    std::vector<redis_command> commands{{"SET", "a", "1"}, {"SET", "b", "2"}};
    tgsearch::testing::spawn_task(io, client.pipeline(commands), interrupted);
    io.restart();
    io.run_for(100ms);
    REQUIRE_FALSE(interrupted.has_value());
    server.kill();
    io.restart();
    io.run_for(2s);
    REQUIRE(interrupted.has_value());
    REQUIRE_FALSE(interrupted->ok());
    CHECK(interrupted->error().type == redis_error::kind::connection_lost);
    CHECK(interrupted->error().message.find("after 0 of 2 replies") != std::string::npos);

    // Down: the first attempt fails to connect, the next ones wait out the backoff.
    const auto refused = run_command(io, client, {"PING"});
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().type == redis_error::kind::connect_failed);
    const auto started = std::chrono::steady_clock::now();
    const auto waiting = run_command(io, client, {"PING"});
    REQUIRE_FALSE(waiting.ok());
    CHECK(waiting.error().type == redis_error::kind::not_connected);
    CHECK(waiting.error().message.find("Connection refused") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - started < 20ms);

    server.restart();
    std::optional<redis_result<redis_reply>> back;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
        back = run_command(io, client, {"PING"});
        if (back->ok()) {
            break;
        }
        std::this_thread::sleep_for(20ms);
    }
    REQUIRE(back.has_value());
    INFO(error_text(*back));
    REQUIRE(back->ok());
    CHECK(back->value().text == "PONG");
}

TEST_CASE("redis client times out on a server that never answers", "[redis]") {
    TGSEARCH_REQUIRE_REDIS_SERVER();
    tgsearch::testing::silent_listener listener;
    asio::io_context io;
    redis_client_options options;
    options.connect_timeout = 200ms;
    options.command_timeout = 300ms;
    const std::string address = "127.0.0.1:" + std::to_string(listener.port());

    SECTION("a command") {
        redis_client client(io.get_executor(), parse_redis_url("redis://" + address), options);
        const auto started = std::chrono::steady_clock::now();
        const auto reply = run_command(io, client, {"PING"});
        const auto elapsed = std::chrono::steady_clock::now() - started;
        REQUIRE_FALSE(reply.ok());
        CHECK(reply.error().type == redis_error::kind::timed_out);
        CHECK(reply.error().message.find("timed out after 300 ms waiting for a reply") == 0);
        CHECK(elapsed >= 300ms);
        CHECK(elapsed < 2s);
        CHECK_FALSE(client.connected());
    }
    SECTION("AUTH while connecting") {
        redis_client client(io.get_executor(), parse_redis_url("redis://:hidden-pass@" + address),
                            options);
        const auto reply = run_command(io, client, {"PING"});
        REQUIRE_FALSE(reply.ok());
        CHECK(reply.error().type == redis_error::kind::timed_out);
        CHECK(reply.error().message.find("after 200 ms") != std::string::npos);
        CHECK(reply.error().message.find("hidden-pass") == std::string::npos);
    }
}

TEST_CASE("redis requests from several coroutines keep their order", "[redis]") {
    TGSEARCH_REQUIRE_REDIS_SERVER();
    redis_server server;
    asio::io_context io;
    redis_client client(io.get_executor(), parse_redis_url(server.url()));

    std::vector<std::optional<redis_result<redis_reply>>> results(50);
    for (int i = 0; i < 50; ++i) {
        tgsearch::testing::spawn_task(
            io, client.command({"RPUSH", "concurrent", std::to_string(i)}), results[i]);
    }
    io.run_for(5s);
    for (int i = 0; i < 50; ++i) {
        INFO(i);
        REQUIRE(results[i].has_value());
        REQUIRE(results[i]->ok());
        CHECK(results[i]->value().integer == i + 1);
    }
    const auto range = run_command(io, client, {"LRANGE", "concurrent", "0", "-1"});
    REQUIRE(range.ok());
    REQUIRE(range.value().elements.size() == 50);
    for (int i = 0; i < 50; ++i) {
        CHECK(range.value().elements[i].text == std::to_string(i));
    }
}

TEST_CASE("redis client fails every request after close", "[redis]") {
    TGSEARCH_REQUIRE_REDIS_SERVER();
    redis_server server;
    asio::io_context io;
    redis_client client(io.get_executor(), parse_redis_url(server.url()));
    REQUIRE(run_command(io, client, {"PING"}).ok());

    server.pause();
    std::optional<redis_result<redis_reply>> waiting;
    tgsearch::testing::spawn_task(io, client.command({"PING"}), waiting);
    io.restart();
    io.run_for(50ms);
    client.close();
    io.restart();
    io.run_for(500ms);
    server.resume();
    REQUIRE(waiting.has_value());
    REQUIRE_FALSE(waiting->ok());
    CHECK(waiting->error().type == redis_error::kind::closed);

    const auto after = run_command(io, client, {"PING"});
    REQUIRE_FALSE(after.ok());
    CHECK(after.error().type == redis_error::kind::closed);
}

TEST_CASE("redis pipeline of no commands returns no replies", "[redis]") {
    asio::io_context io;
    redis_client client(io.get_executor(), parse_redis_url("redis://127.0.0.1:1"));
    const auto result = run_pipeline(io, client, {});
    REQUIRE(result.ok());
    CHECK(result.value().empty());
    CHECK_FALSE(client.connected());
}
