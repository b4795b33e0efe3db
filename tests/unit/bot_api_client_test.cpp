#include "app/bot_api_client.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;
using tgsearch::api_result;
using tgsearch::bot_api_client;
using tgsearch::bot_api_endpoint;

// A distinctive token, so that a leak into any text is easy to find.
constexpr std::string_view test_token = "123456:SECRET-TOKEN-abc";
constexpr std::string_view test_secret = "SECRET-TOKEN-abc";

constexpr std::string_view get_me_result =
    R"({"ok":true,"result":{"id":123456,"is_bot":true,"first_name":"Search",)"
    R"("username":"search_bot"}})";

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

/// One HTTP request as the test server received it.
struct received_request {
    std::string method;
    std::string target;
    std::string version;
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;
    int connection = 0;  // 1 for the first accepted connection, and so on
};

std::string to_lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

std::string trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    return std::string(text);
}

/// Removes one complete request (head and Content-Length body) from the front of `buffer`.
std::optional<received_request> take_request(std::string& buffer) {
    const std::size_t head_end = buffer.find("\r\n\r\n");
    if (head_end == std::string::npos) {
        return std::nullopt;
    }

    received_request request;
    const std::string_view head(buffer.data(), head_end);
    std::size_t line_start = 0;
    bool first_line = true;
    while (line_start <= head.size()) {
        std::size_t line_end = head.find("\r\n", line_start);
        if (line_end == std::string_view::npos) {
            line_end = head.size();
        }
        const std::string_view line = head.substr(line_start, line_end - line_start);
        if (first_line) {
            const std::size_t first_space = line.find(' ');
            const std::size_t second_space = line.find(' ', first_space + 1);
            request.method = line.substr(0, first_space);
            request.target = line.substr(first_space + 1, second_space - first_space - 1);
            request.version = line.substr(second_space + 1);
            first_line = false;
        } else if (const std::size_t colon = line.find(':'); colon != std::string_view::npos) {
            request.headers[to_lower(std::string(line.substr(0, colon)))] =
                trim(line.substr(colon + 1));
        }
        line_start = line_end + 2;
    }

    std::size_t body_size = 0;
    if (const auto length = request.headers.find("content-length");
        length != request.headers.end()) {
        body_size = std::stoul(length->second);
    }
    const std::size_t body_start = head_end + 4;
    if (buffer.size() < body_start + body_size) {
        return std::nullopt;
    }
    request.body = buffer.substr(body_start, body_size);
    buffer.erase(0, body_start + body_size);
    return request;
}

std::string http_response(int status, std::string_view reason, std::string_view body,
                          std::string_view extra_headers = "") {
    std::string response =
        "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n";
    response += extra_headers;
    response += "\r\n";
    response += body;
    return response;
}

/// What the test server does after it reads a request.
enum class after_reply {
    keep_open,  // wait for the next request on the connection
    close,      // close the connection
    stall,      // keep the connection open but never read or write again
};

struct server_reply {
    std::string raw;  // bytes to write; empty writes nothing
    after_reply then = after_reply::keep_open;
};

/// A plain-HTTP server on 127.0.0.1 with a free port, running on its own thread. It hands each
/// request to `responder` and writes back the bytes it returns.
class http_test_server {
public:
    using responder = std::function<server_reply(const received_request&)>;

    explicit http_test_server(responder respond)
        : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
          port_(acceptor_.local_endpoint().port()),
          respond_(std::move(respond)) {
        asio::co_spawn(io_, accept_loop(), asio::detached);
        thread_ = std::thread([this] { io_.run(); });
    }

    ~http_test_server() {
        io_.stop();
        thread_.join();
    }

    std::uint16_t port() const { return port_; }
    int accepts() const { return accepts_.load(); }

    std::vector<received_request> requests() const {
        const std::lock_guard lock(mutex_);
        return requests_;
    }

private:
    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto [error, socket] = co_await acceptor_.async_accept(use_tuple);
            if (error) {
                co_return;
            }
            const int connection = ++accepts_;
            asio::co_spawn(io_, serve(std::move(socket), connection), asio::detached);
        }
    }

    asio::awaitable<void> serve(tcp::socket socket, int connection) {
        std::string buffer;
        for (;;) {
            std::optional<received_request> request;
            while (!(request = take_request(buffer))) {
                char chunk[4096];
                auto [error, size] =
                    co_await socket.async_read_some(asio::buffer(chunk), use_tuple);
                if (error) {
                    co_return;
                }
                buffer.append(chunk, size);
            }
            request->connection = connection;
            const server_reply reply = respond_(*request);
            {
                const std::lock_guard lock(mutex_);
                requests_.push_back(std::move(*request));
            }
            if (!reply.raw.empty()) {
                co_await asio::async_write(socket, asio::buffer(reply.raw), use_tuple);
            }
            if (reply.then == after_reply::close) {
                co_return;
            }
            if (reply.then == after_reply::stall) {
                asio::steady_timer forever(io_, 1h);
                co_await forever.async_wait(use_tuple);
                co_return;
            }
        }
    }

    asio::io_context io_;
    tcp::acceptor acceptor_;
    std::uint16_t port_;
    responder respond_;
    std::atomic<int> accepts_{0};
    mutable std::mutex mutex_;
    std::vector<received_request> requests_;
    std::thread thread_;
};

/// Runs one call on `io` to completion and returns its result.
api_result run_call(asio::io_context& io, bot_api_client& client, std::string_view method,
                    std::string body, std::chrono::milliseconds timeout) {
    std::optional<api_result> result;
    std::exception_ptr failure;
    asio::co_spawn(io, client.call(method, std::move(body), timeout),
                   [&](std::exception_ptr error, api_result value) {
                       failure = error;
                       result = std::move(value);
                   });
    io.restart();
    io.run();
    if (failure) {
        std::rethrow_exception(failure);
    }
    REQUIRE(result.has_value());
    return std::move(*result);
}

std::string local_url(std::uint16_t port, std::string_view path = "") {
    return "http://127.0.0.1:" + std::to_string(port) + std::string(path);
}

bot_api_endpoint endpoint_for(std::string base_url) {
    return bot_api_endpoint{std::move(base_url), std::string(test_token), std::nullopt};
}

void check_no_token(const api_result& result) {
    CHECK(result.description.find(test_secret) == std::string::npos);
    CHECK(result.body.find(test_secret) == std::string::npos);
}

std::chrono::milliseconds elapsed_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 start);
}

// A port that was free a moment ago and has no listener now.
std::uint16_t unused_port() {
    asio::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    return acceptor.local_endpoint().port();
}

server_reply reply_ok(std::string_view body = get_me_result) {
    return {http_response(200, "OK", body)};
}

}  // namespace

TEST_CASE("call posts to the prefixed method path", "[bot_api]") {
    http_test_server server([](const received_request&) { return reply_ok(); });
    asio::io_context io;
    bot_api_client client(io.get_executor(), endpoint_for(local_url(server.port(), "/tg")));

    const std::string body = R"({"chat_id":-1001234567890,"text":"hi"})";
    const api_result result = run_call(io, client, "getMe", body, 5s);

    CHECK(result.ok());
    CHECK(result.http_status == 200);
    CHECK(result.error_code == 0);
    CHECK(result.description.empty());
    CHECK(result.body == get_me_result);
    check_no_token(result);

    const auto requests = server.requests();
    REQUIRE(requests.size() == 1);
    const received_request& request = requests.front();
    CHECK(request.method == "POST");
    CHECK(request.target == "/tg/bot" + std::string(test_token) + "/getMe");
    CHECK(request.version == "HTTP/1.1");
    CHECK(request.headers.at("host") == "127.0.0.1:" + std::to_string(server.port()));
    CHECK(request.headers.at("user-agent") == "tgsearch/0.1");
    CHECK(request.headers.at("content-type") == "application/json");
    CHECK(to_lower(request.headers.at("connection")) == "keep-alive");
    CHECK(request.headers.at("content-length") == std::to_string(body.size()));
    CHECK(request.body == body);
}

TEST_CASE("call uses the base path with or without a trailing slash", "[bot_api]") {
    const std::string path = GENERATE(as<std::string>{}, "", "/", "/api/", "/api//");
    const std::string expected_prefix = path.size() > 1 ? "/api" : "";
    http_test_server server([](const received_request&) { return reply_ok(); });
    asio::io_context io;
    bot_api_client client(io.get_executor(), endpoint_for(local_url(server.port(), path)));

    const api_result result = run_call(io, client, "sendMessage", "{}", 5s);

    CHECK(result.ok());
    const auto requests = server.requests();
    REQUIRE(requests.size() == 1);
    CHECK(requests.front().target ==
          expected_prefix + "/bot" + std::string(test_token) + "/sendMessage");
}

TEST_CASE("429 response carries retry_after", "[bot_api]") {
    constexpr std::string_view body =
        R"({"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7",)"
        R"("parameters":{"retry_after":7}})";
    http_test_server server([&](const received_request&) {
        return server_reply{http_response(429, "Too Many Requests", body)};
    });
    asio::io_context io;
    bot_api_client client(io.get_executor(), endpoint_for(local_url(server.port())));

    const api_result result = run_call(io, client, "sendMessage", "{}", 5s);

    CHECK(result.kind == api_result::status::api_error);
    CHECK(result.http_status == 429);
    CHECK(result.error_code == 429);
    CHECK(result.description == "Too Many Requests: retry after 7");
    CHECK(result.retry_after == 7);
    CHECK(result.migrate_to_chat_id == 0);
    CHECK(result.body == body);
    check_no_token(result);
}

TEST_CASE("400 response carries migrate_to_chat_id", "[bot_api]") {
    constexpr std::string_view body =
        R"({"ok":false,"error_code":400,)"
        R"("description":"Bad Request: group chat was upgraded to a supergroup chat",)"
        R"("parameters":{"migrate_to_chat_id":-1001234567890123}})";
    http_test_server server([&](const received_request&) {
        return server_reply{http_response(400, "Bad Request", body)};
    });
    asio::io_context io;
    bot_api_client client(io.get_executor(), endpoint_for(local_url(server.port())));

    const api_result result = run_call(io, client, "sendMessage", "{}", 5s);

    CHECK(result.kind == api_result::status::api_error);
    CHECK(result.http_status == 400);
    CHECK(result.error_code == 400);
    CHECK(result.description == "Bad Request: group chat was upgraded to a supergroup chat");
    CHECK(result.migrate_to_chat_id == -1001234567890123);
    CHECK(result.retry_after == 0);
    check_no_token(result);
}

TEST_CASE("409 conflict is an API error", "[bot_api]") {
    constexpr std::string_view body =
        R"({"ok":false,"error_code":409,"description":"Conflict: terminated by other )"
        R"(getUpdates request; make sure that only one bot instance is running"})";
    http_test_server server([&](const received_request&) {
        return server_reply{http_response(409, "Conflict", body)};
    });
    asio::io_context io;
    bot_api_client client(io.get_executor(), endpoint_for(local_url(server.port())));

    const api_result result = run_call(io, client, "getUpdates", "{}", 5s);

    CHECK(result.kind == api_result::status::api_error);
    CHECK(result.http_status == 409);
    CHECK(result.error_code == 409);
    CHECK(result.description.rfind("Conflict: terminated by other getUpdates request", 0) == 0);
    CHECK(result.retry_after == 0);
    check_no_token(result);
}

TEST_CASE("error fields are found in any order and depth", "[bot_api]") {
    // Fields of the same names inside nested objects must not be taken for the envelope's.
    constexpr std::string_view body =
        R"({"parameters":{"nested":{"retry_after":99},"retry_after":3},)"
        R"("result":{"ok":true,"error_code":1,"description":"inner"},)"
        R"("description":"Too Many Requests: retry after 3","error_code":429,"ok":false})";
    http_test_server server([&](const received_request&) {
        return server_reply{http_response(429, "Too Many Requests", body)};
    });
    asio::io_context io;
    bot_api_client client(io.get_executor(), endpoint_for(local_url(server.port())));

    const api_result result = run_call(io, client, "sendMessage", "{}", 5s);

    CHECK(result.kind == api_result::status::api_error);
    CHECK(result.error_code == 429);
    CHECK(result.retry_after == 3);
    CHECK(result.description == "Too Many Requests: retry after 3");
}

TEST_CASE("error without a description names the HTTP status", "[bot_api]") {
    http_test_server server([](const received_request&) {
        return server_reply{http_response(403, "Forbidden", R"({"ok":false})")};
    });
    asio::io_context io;
    bot_api_client client(io.get_executor(), endpoint_for(local_url(server.port())));

    const api_result result = run_call(io, client, "sendMessage", "{}", 5s);

    CHECK(result.kind == api_result::status::api_error);
    CHECK(result.error_code == 403);
    CHECK(result.description == "HTTP 403 Forbidden");
}

TEST_CASE("non-JSON 502 is an API error with the status", "[bot_api]") {
    http_test_server server([](const received_request&) {
        constexpr std::string_view page = "<html>bad gateway</html>";
        return server_reply{
            "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\n"
            "Content-Length: " +
            std::to_string(page.size()) + "\r\n\r\n" + std::string(page)};
    });
    asio::io_context io;
    bot_api_client client(io.get_executor(), endpoint_for(local_url(server.port())));

    const api_result result = run_call(io, client, "getUpdates", "{}", 5s);

    CHECK(result.kind == api_result::status::api_error);
    CHECK(result.http_status == 502);
    CHECK(result.error_code == 502);
    CHECK(result.description == "POST getUpdates: HTTP 502 Bad Gateway");
    CHECK(result.retry_after == 0);
    check_no_token(result);
}

TEST_CASE("200 with a non-JSON body is an API error", "[bot_api]") {
    http_test_server server([](const received_request&) {
        return server_reply{http_response(200, "OK", "<html>captive portal</html>")};
    });
    asio::io_context io;
    bot_api_client client(io.get_executor(), endpoint_for(local_url(server.port())));

    const api_result result = run_call(io, client, "getMe", "{}", 5s);

    CHECK(result.kind == api_result::status::api_error);
    CHECK(result.http_status == 200);
    CHECK(result.description ==
          "POST getMe: HTTP 200 OK with a body that is not a Bot API response");
}

TEST_CASE("descriptions and bodies never contain the token", "[bot_api]") {
    const std::string echoed_target = "/bot" + std::string(test_token) + "/getMe";
    const std::string encoded_target = "/bot123456%3ASECRET-TOKEN-abc/getMe";
    const bool json = GENERATE(true, false);
    http_test_server server([&](const received_request&) {
        if (json) {
            return server_reply{
                http_response(404, "Not Found",
                              R"({"ok":false,"error_code":404,"description":"Not Found: )" +
                                  echoed_target + " or " + encoded_target + R"("})")};
        }
        return server_reply{
            http_response(404, "Not Found " + encoded_target, "no route for " + echoed_target)};
    });
    asio::io_context io;
    bot_api_client client(io.get_executor(), endpoint_for(local_url(server.port())));

    const api_result result = run_call(io, client, "getMe", "{}", 5s);

    CHECK(result.kind == api_result::status::api_error);
    CHECK(result.http_status == 404);
    CHECK(result.description.find("<redacted>") != std::string::npos);
    CHECK(result.body.find("<redacted>") != std::string::npos);
    check_no_token(result);
}

TEST_CASE("chunked response body is joined", "[bot_api]") {
    const std::vector<std::string> chunks = {R"({"ok":true,)", R"("result":)",
                                             R"([{"update_id":1}]})"};
    std::string raw =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    std::string joined;
    for (const std::string& chunk : chunks) {
        char size[16];
        std::snprintf(size, sizeof(size), "%zx", chunk.size());
        raw += std::string(size) + "\r\n" + chunk + "\r\n";
        joined += chunk;
    }
    raw += "0\r\n\r\n";
    http_test_server server([&](const received_request&) { return server_reply{raw}; });
    asio::io_context io;
    bot_api_client client(io.get_executor(), endpoint_for(local_url(server.port())));

    const api_result first = run_call(io, client, "getUpdates", "{}", 5s);
    const api_result second = run_call(io, client, "getUpdates", "{}", 5s);

    CHECK(first.ok());
    CHECK(first.body == joined);
    CHECK(second.ok());
    CHECK(second.body == joined);
    CHECK(server.accepts() == 1);
}

TEST_CASE("keep-alive reuses one connection", "[bot_api]") {
    http_test_server server([](const received_request&) { return reply_ok(); });
    asio::io_context io;
    bot_api_client client(io.get_executor(), endpoint_for(local_url(server.port())));

    const api_result first = run_call(io, client, "getMe", "{}", 5s);
    const api_result second = run_call(io, client, "getMe", "{}", 5s);

    CHECK(first.ok());
    CHECK(second.ok());
    CHECK(server.accepts() == 1);
    const auto requests = server.requests();
    REQUIRE(requests.size() == 2);
    CHECK(requests[0].connection == 1);
    CHECK(requests[1].connection == 1);
}

TEST_CASE("call reconnects after the server closed an idle connection", "[bot_api]") {
    http_test_server server([](const received_request&) {
        // No "Connection: close": the client learns of the close only on its next request.
        return server_reply{http_response(200, "OK", get_me_result), after_reply::close};
    });
    asio::io_context io;
    bot_api_client client(io.get_executor(), endpoint_for(local_url(server.port())));

    const api_result first = run_call(io, client, "getMe", "{}", 5s);
    // Let the server's FIN arrive, so that the second call meets a closed connection.
    std::this_thread::sleep_for(50ms);
    const api_result second = run_call(io, client, "getMe", "{}", 5s);

    CHECK(first.ok());
    CHECK(second.ok());
    check_no_token(second);
    CHECK(server.accepts() == 2);
    CHECK(server.requests().size() == 2);
}

TEST_CASE("Connection: close from the server is honoured", "[bot_api]") {
    // The server keeps the socket open after "Connection: close" and ignores it, so a client
    // that sent its next request there would wait until its timeout.
    http_test_server server([](const received_request&) {
        return server_reply{http_response(200, "OK", get_me_result, "Connection: close\r\n"),
                            after_reply::stall};
    });
    asio::io_context io;
    bot_api_client client(io.get_executor(), endpoint_for(local_url(server.port())));

    const api_result first = run_call(io, client, "getMe", "{}", 2s);
    const api_result second = run_call(io, client, "getMe", "{}", 2s);

    CHECK(first.ok());
    CHECK(second.ok());
    CHECK(server.accepts() == 2);
}

TEST_CASE("stale connection is retried only once", "[bot_api]") {
    std::atomic<int> seen{0};
    http_test_server server([&](const received_request&) {
        if (++seen == 1) {
            return reply_ok();
        }
        return server_reply{"", after_reply::close};
    });
    asio::io_context io;
    bot_api_client client(io.get_executor(), endpoint_for(local_url(server.port())));

    const api_result first = run_call(io, client, "getMe", "{}", 5s);
    const api_result second = run_call(io, client, "getMe", "{}", 5s);

    CHECK(first.ok());
    CHECK(second.kind == api_result::status::transport_error);
    CHECK(second.http_status == 0);
    CHECK(second.description.rfind("POST getMe: failed to read the response: ", 0) == 0);
    check_no_token(second);
    // The request on the reused connection and its one retry on a fresh connection.
    CHECK(server.accepts() == 2);
    CHECK(server.requests().size() == 3);
}

TEST_CASE("failure on a fresh connection is not retried", "[bot_api]") {
    http_test_server server([](const received_request&) {
        return server_reply{"", after_reply::close};
    });
    asio::io_context io;
    bot_api_client client(io.get_executor(), endpoint_for(local_url(server.port())));

    const api_result result = run_call(io, client, "sendMessage", "{}", 5s);

    CHECK(result.kind == api_result::status::transport_error);
    CHECK(result.description == "POST sendMessage: failed to read the response: end of stream");
    check_no_token(result);
    CHECK(server.accepts() == 1);
    CHECK(server.requests().size() == 1);
}

TEST_CASE("body over the limit is a transport error", "[bot_api]") {
    http_test_server server([](const received_request&) {
        return server_reply{"HTTP/1.1 200 OK\r\nContent-Length: 70000000\r\n\r\n{\"ok\":true",
                            after_reply::stall};
    });
    asio::io_context io;
    bot_api_client client(io.get_executor(), endpoint_for(local_url(server.port())));

    const auto started = std::chrono::steady_clock::now();
    const api_result result = run_call(io, client, "getUpdates", "{}", 5s);

    CHECK(result.kind == api_result::status::transport_error);
    CHECK(result.description ==
          "POST getUpdates: failed to read the response: the response body exceeds 64 MiB");
    CHECK(elapsed_since(started) < 2s);
}

TEST_CASE("unanswered call times out", "[bot_api]") {
    std::atomic<int> seen{0};
    http_test_server server([&](const received_request&) {
        if (++seen == 1) {
            return server_reply{"", after_reply::stall};
        }
        return reply_ok();
    });
    asio::io_context io;
    bot_api_client client(io.get_executor(), endpoint_for(local_url(server.port())));

    const auto started = std::chrono::steady_clock::now();
    const api_result result = run_call(io, client, "getUpdates", "{}", 300ms);
    const auto elapsed = elapsed_since(started);

    CHECK(result.kind == api_result::status::transport_error);
    CHECK(result.http_status == 0);
    CHECK(result.description == "POST getUpdates: timed out after 300 ms");
    check_no_token(result);
    CHECK(elapsed >= 290ms);
    CHECK(elapsed < 2s);

    // The timed-out connection was closed, so the next call opens a new one.
    const api_result next = run_call(io, client, "getUpdates", "{}", 5s);
    CHECK(next.ok());
    CHECK(server.accepts() == 2);
}

TEST_CASE("cancel ends a pending call at once", "[bot_api]") {
    std::atomic<int> seen{0};
    http_test_server server([&](const received_request&) {
        if (++seen == 1) {
            return server_reply{"", after_reply::stall};
        }
        return reply_ok();
    });
    asio::io_context io;
    bot_api_client client(io.get_executor(), endpoint_for(local_url(server.port())));

    asio::steady_timer canceller(io, 100ms);
    canceller.async_wait([&client](boost::system::error_code) { client.cancel(); });
    const auto started = std::chrono::steady_clock::now();
    const api_result result = run_call(io, client, "getUpdates", R"({"timeout":50})", 60s);
    const auto elapsed = elapsed_since(started);

    CHECK(result.kind == api_result::status::cancelled);
    CHECK(result.description == "POST getUpdates: cancelled");
    check_no_token(result);
    CHECK(elapsed >= 90ms);
    CHECK(elapsed < 2s);

    const api_result next = run_call(io, client, "getUpdates", "{}", 5s);
    CHECK(next.ok());
    CHECK(server.accepts() == 2);
}

TEST_CASE("cancel while idle closes the connection", "[bot_api]") {
    http_test_server server([](const received_request&) { return reply_ok(); });
    asio::io_context io;
    bot_api_client client(io.get_executor(), endpoint_for(local_url(server.port())));

    const api_result first = run_call(io, client, "getMe", "{}", 5s);
    client.cancel();
    const api_result second = run_call(io, client, "getMe", "{}", 5s);

    CHECK(first.ok());
    CHECK(second.ok());
    CHECK(server.accepts() == 2);
}

TEST_CASE("second concurrent call is rejected", "[bot_api]") {
    http_test_server server([](const received_request&) {
        return server_reply{"", after_reply::stall};
    });
    asio::io_context io;
    bot_api_client client(io.get_executor(), endpoint_for(local_url(server.port())));

    std::optional<api_result> first;
    asio::co_spawn(io, client.call("getUpdates", "{}", 10s),
                   [&](std::exception_ptr, api_result value) { first = std::move(value); });
    std::exception_ptr second_error;
    asio::steady_timer starter(io, 50ms);
    starter.async_wait([&](boost::system::error_code) {
        asio::co_spawn(io, client.call("getMe", "{}", 10s),
                       [&](std::exception_ptr error, api_result) {
                           second_error = error;
                           client.cancel();
                       });
    });
    io.run();

    REQUIRE(second_error);
    CHECK_THROWS_AS(std::rethrow_exception(second_error), std::logic_error);
    REQUIRE(first.has_value());
    CHECK(first->kind == api_result::status::cancelled);
}

TEST_CASE("refused connection is a transport error", "[bot_api]") {
    const std::uint16_t port = unused_port();
    asio::io_context io;
    bot_api_client client(io.get_executor(), endpoint_for(local_url(port)));

    const api_result result = run_call(io, client, "getMe", "{}", 5s);

    CHECK(result.kind == api_result::status::transport_error);
    CHECK(result.http_status == 0);
    CHECK(result.description == "POST getMe: failed to connect to 127.0.0.1:" +
                                    std::to_string(port) + ": Connection refused");
    check_no_token(result);
}

TEST_CASE("invalid base URL is rejected", "[bot_api]") {
    asio::io_context io;
    const std::string url =
        GENERATE(as<std::string>{}, "ftp://x", "api.telegram.org", "127.0.0.1:8081", "http://",
                 "https:///path", "http://user@127.0.0.1", "http://127.0.0.1/?a=1",
                 "http://127.0.0.1/#top", "http://127.0.0.1:0", "http://127.0.0.1:65536",
                 "http://127.0.0.1:80a", "http://127.0.0.1:80a/x", "http://[v1.fe]/", "not a url");
    CAPTURE(url);
    try {
        bot_api_client client(io.get_executor(), endpoint_for(url));
        FAIL("no exception");
    } catch (const std::invalid_argument& error) {
        const std::string message = error.what();
        CHECK(message.rfind("invalid --api-url \"" + url + "\": ", 0) == 0);
        CHECK(message.find(test_secret) == std::string::npos);
    }
}

TEST_CASE("invalid URL message names the expected schemes", "[bot_api]") {
    asio::io_context io;
    CHECK_THROWS_WITH(bot_api_client(io.get_executor(), endpoint_for("ftp://x")),
                      "invalid --api-url \"ftp://x\": expected an http:// or https:// URL");
}

TEST_CASE("invalid URL message redacts a pasted token", "[bot_api]") {
    asio::io_context io;
    const std::string url = "https://api.telegram.org/bot" + std::string(test_token) + "?x=1";
    try {
        bot_api_client client(io.get_executor(), endpoint_for(url));
        FAIL("no exception");
    } catch (const std::invalid_argument& error) {
        const std::string message = error.what();
        CHECK(message.find(test_secret) == std::string::npos);
        CHECK(message.find("https://api.telegram.org/bot<redacted>?x=1") != std::string::npos);
    }
}

TEST_CASE("invalid URL message masks the password", "[bot_api]") {
    asio::io_context io;
    const std::string url = GENERATE(as<std::string>{}, "http://user:hunter2@127.0.0.1",
                                     "http://user:hunter2@127.0.0.1/?a=1",
                                     "http://user:hun@ter2@127.0.0.1:abc", "ftp://user:hunter2@x");
    CAPTURE(url);
    try {
        bot_api_client client(io.get_executor(), endpoint_for(url));
        FAIL("no exception");
    } catch (const std::invalid_argument& error) {
        const std::string message = error.what();
        CHECK(message.find("hunter2") == std::string::npos);
        CHECK(message.find("ter2") == std::string::npos);
        CHECK(message.find("user:****@") != std::string::npos);
    }
}

TEST_CASE("valid base URLs are accepted", "[bot_api]") {
    asio::io_context io;
    const std::string url =
        GENERATE(as<std::string>{}, "https://api.telegram.org", "https://api.telegram.org/",
                 "http://127.0.0.1:8081/tg", "http://[::1]:8081", "HTTP://LOCALHOST:8081");
    CAPTURE(url);
    CHECK_NOTHROW(bot_api_client(io.get_executor(), endpoint_for(url)));
}

TEST_CASE("invalid token or method is rejected", "[bot_api]") {
    asio::io_context io;
    const std::string token = GENERATE(as<std::string>{}, "", "123 456", "123/456", "1\r\n2");
    CHECK_THROWS_AS(bot_api_client(io.get_executor(),
                                   bot_api_endpoint{"http://127.0.0.1", token, std::nullopt}),
                    std::invalid_argument);

    bot_api_client client(io.get_executor(), endpoint_for("http://127.0.0.1:1"));
    const std::string method = GENERATE(as<std::string>{}, "", "get/Me", "getMe?x", "get Me");
    CHECK_THROWS_AS(client.call(method, "{}", 1s), std::invalid_argument);
}

TEST_CASE("redact_token replaces the token and its secret", "[bot_api]") {
    using tgsearch::redact_token;
    CHECK(redact_token("GET /bot123456:SECRET-TOKEN-abc/getMe", test_token) ==
          "GET /bot<redacted>/getMe");
    CHECK(redact_token("a 123456:SECRET-TOKEN-abc b 123456:SECRET-TOKEN-abc", test_token) ==
          "a <redacted> b <redacted>");
    CHECK(redact_token("/bot123456%3ASECRET-TOKEN-abc/", test_token) == "/bot123456%3A<redacted>/");
    CHECK(redact_token("nothing secret here", test_token) == "nothing secret here");
    CHECK(redact_token("text", "") == "text");
    // A short secret is replaced only as part of the whole token.
    CHECK(redact_token("1:abc and abc", "1:abc") == "<redacted> and abc");
    // A replacement never creates a new match.
    CHECK(redact_token("xx", "x") == "<redacted><redacted>");
}

// TLS: a server on a blocking socket driven by OpenSSL directly, with a certificate made here.
namespace {

struct openssl_free {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
    void operator()(X509* certificate) const { X509_free(certificate); }
    void operator()(SSL_CTX* context) const { SSL_CTX_free(context); }
    void operator()(SSL* connection) const { SSL_free(connection); }
    void operator()(BIO* bio) const { BIO_free(bio); }
};
template <class T>
using openssl_ptr = std::unique_ptr<T, openssl_free>;

/// A self-signed certificate and its key.
struct test_certificate {
    openssl_ptr<EVP_PKEY> key;
    openssl_ptr<X509> certificate;

    std::string pem() const {
        openssl_ptr<BIO> bio(BIO_new(BIO_s_mem()));
        REQUIRE(PEM_write_bio_X509(bio.get(), certificate.get()) == 1);
        char* data = nullptr;
        const long size = BIO_get_mem_data(bio.get(), &data);
        return std::string(data, static_cast<std::size_t>(size));
    }
};

// `subject_alt_name` in OpenSSL's configuration syntax, e.g. "DNS:localhost".
test_certificate make_certificate(const char* subject_alt_name) {
    test_certificate out;
    out.key.reset(EVP_EC_gen("P-256"));
    REQUIRE(out.key);
    out.certificate.reset(X509_new());
    X509* certificate = out.certificate.get();
    REQUIRE(X509_set_version(certificate, 2) == 1);
    ASN1_INTEGER_set(X509_get_serialNumber(certificate), 1);
    X509_gmtime_adj(X509_getm_notBefore(certificate), -3600);
    X509_gmtime_adj(X509_getm_notAfter(certificate), 3600);
    REQUIRE(X509_set_pubkey(certificate, out.key.get()) == 1);
    X509_NAME* name = X509_get_subject_name(certificate);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("tgsearch test"), -1, -1, 0);
    REQUIRE(X509_set_issuer_name(certificate, name) == 1);
    X509V3_CTX context;
    X509V3_set_ctx(&context, certificate, certificate, nullptr, nullptr, 0);
    X509_EXTENSION* extension =
        X509V3_EXT_conf_nid(nullptr, &context, NID_subject_alt_name, subject_alt_name);
    REQUIRE(extension != nullptr);
    X509_add_ext(certificate, extension, -1);
    X509_EXTENSION_free(extension);
    REQUIRE(X509_sign(certificate, out.key.get(), EVP_sha256()) > 0);
    return out;
}

/// Serves one TLS connection on 127.0.0.1: handshake, one request, one reply.
class tls_test_server {
public:
    tls_test_server(const test_certificate& certificate, std::string reply)
        : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
          port_(acceptor_.local_endpoint().port()),
          reply_(std::move(reply)) {
        context_.reset(SSL_CTX_new(TLS_server_method()));
        REQUIRE(context_);
        REQUIRE(SSL_CTX_use_certificate(context_.get(), certificate.certificate.get()) == 1);
        REQUIRE(SSL_CTX_use_PrivateKey(context_.get(), certificate.key.get()) == 1);
        thread_ = std::thread([this] { serve(); });
    }

    ~tls_test_server() { finish(); }

    std::uint16_t port() const { return port_; }

    /// Waits for the connection to end; after it the accessors below are safe to read.
    void finish() {
        if (!thread_.joinable()) {
            return;
        }
        if (!accepted_) {
            // Unblocks accept() when the client never connected.
            asio::io_context io;
            tcp::socket wake(io);
            boost::system::error_code ignored;
            wake.connect(acceptor_.local_endpoint(), ignored);
        }
        thread_.join();
    }

    bool handshake_done() const { return handshake_done_; }
    const std::string& server_name() const { return server_name_; }
    const std::optional<received_request>& request() const { return request_; }

private:
    void serve() {
        tcp::socket socket(io_);
        boost::system::error_code error;
        acceptor_.accept(socket, error);
        accepted_ = true;
        if (error) {
            return;
        }

        // Bounds every blocking read, so that a client bug cannot hang the test.
        timeval receive_timeout{5, 0};
        setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &receive_timeout,
                   sizeof(receive_timeout));
        openssl_ptr<SSL> connection(SSL_new(context_.get()));
        SSL_set_fd(connection.get(), socket.native_handle());
        if (SSL_accept(connection.get()) != 1) {
            return;
        }
        handshake_done_ = true;
        if (const char* name = SSL_get_servername(connection.get(), TLSEXT_NAMETYPE_host_name)) {
            server_name_ = name;
        }

        std::string buffer;
        while (!(request_ = take_request(buffer))) {
            char chunk[4096];
            const int size = SSL_read(connection.get(), chunk, sizeof(chunk));
            if (size <= 0) {
                return;
            }
            buffer.append(chunk, static_cast<std::size_t>(size));
        }
        SSL_write(connection.get(), reply_.data(), static_cast<int>(reply_.size()));
        SSL_shutdown(connection.get());
    }

    asio::io_context io_;
    tcp::acceptor acceptor_;
    std::uint16_t port_;
    std::string reply_;
    openssl_ptr<SSL_CTX> context_;
    std::atomic<bool> accepted_{false};
    bool handshake_done_ = false;
    std::string server_name_;
    std::optional<received_request> request_;
    std::thread thread_;
};

/// Points OpenSSL's default trust store at one certificate while it exists. OpenSSL reads
/// SSL_CERT_FILE when a client context loads its default verify paths.
class trusted_certificate {
public:
    explicit trusted_certificate(const test_certificate& certificate)
        : path_(std::filesystem::temp_directory_path() /
                ("tgsearch-test-ca-" + std::to_string(::getpid()) + ".pem")) {
        std::ofstream(path_) << certificate.pem();
        ::setenv("SSL_CERT_FILE", path_.c_str(), 1);
    }
    ~trusted_certificate() {
        ::unsetenv("SSL_CERT_FILE");
        std::error_code ignored;
        std::filesystem::remove(path_, ignored);
    }

private:
    std::filesystem::path path_;
};

}  // namespace

namespace {

/// A proxy for one tunnel to 127.0.0.1, run on its own thread with blocking I/O. It records
/// the target the client asked for, so a test can check that the proxy resolved the name.
class tunnel_proxy {
public:
    enum class protocol { socks5, http_connect };

    explicit tunnel_proxy(protocol type)
        : type_(type), acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
        port_ = acceptor_.local_endpoint().port();
        thread_ = std::thread([this] { serve(); });
    }

    ~tunnel_proxy() {
        stopping_ = true;
        boost::system::error_code ignored;
        acceptor_.close(ignored);
        thread_.join();
    }

    std::uint16_t port() const { return port_; }

    /// Returns the "host:port" the client asked to reach, or an empty string before a handshake.
    std::string target() const {
        std::lock_guard lock(mutex_);
        return target_;
    }

private:
    void serve() {
        boost::system::error_code error;
        tcp::socket client(io_);
        acceptor_.accept(client, error);
        if (error) {
            return;
        }
        const std::uint16_t target_port = handshake(client, error);
        if (error || target_port == 0) {
            return;
        }
        tcp::socket upstream(io_);
        upstream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), target_port), error);
        if (error) {
            return;
        }
        if (type_ == protocol::socks5) {
            const std::string reply("\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00", 10);
            asio::write(client, asio::buffer(reply), error);
        } else {
            asio::write(client, asio::buffer(std::string("HTTP/1.1 200 OK\r\n\r\n")), error);
        }
        relay(client, upstream);
    }

    // Returns the target port, or 0 when the handshake failed.
    std::uint16_t handshake(tcp::socket& client, boost::system::error_code& error) {
        if (type_ == protocol::http_connect) {
            std::string head;
            asio::read_until(client, asio::dynamic_buffer(head), "\r\n\r\n", error);
            const std::size_t begin = head.find(' ') + 1;
            const std::string authority = head.substr(begin, head.find(' ', begin) - begin);
            record(authority);
            return static_cast<std::uint16_t>(
                std::stoi(authority.substr(authority.rfind(':') + 1)));
        }
        std::array<std::uint8_t, 2> greeting{};
        asio::read(client, asio::buffer(greeting), error);
        std::vector<std::uint8_t> methods(greeting[1]);
        asio::read(client, asio::buffer(methods), error);
        asio::write(client, asio::buffer(std::string("\x05\x00", 2)), error);
        std::array<std::uint8_t, 5> request{};  // VER CMD RSV ATYP and the name length
        asio::read(client, asio::buffer(request), error);
        if (error || request[3] != 3) {
            return 0;  // the client must leave the name to the proxy
        }
        std::string name(request[4], '\0');
        std::array<std::uint8_t, 2> port{};
        asio::read(client, asio::buffer(name), error);
        asio::read(client, asio::buffer(port), error);
        const auto target_port = static_cast<std::uint16_t>(port[0] << 8 | port[1]);
        record(name + ":" + std::to_string(target_port));
        return target_port;
    }

    void record(std::string target) {
        std::lock_guard lock(mutex_);
        target_ = std::move(target);
    }

    void relay(tcp::socket& client, tcp::socket& upstream) {
        std::array<pollfd, 2> fds{pollfd{client.native_handle(), POLLIN, 0},
                                  pollfd{upstream.native_handle(), POLLIN, 0}};
        std::array<char, 16384> buffer{};
        while (!stopping_) {
            if (::poll(fds.data(), fds.size(), 100) <= 0) {
                continue;
            }
            for (std::size_t i = 0; i < 2; ++i) {
                if (fds[i].revents == 0) {
                    continue;
                }
                const ssize_t size = ::read(fds[i].fd, buffer.data(), buffer.size());
                if (size <= 0) {
                    return;
                }
                boost::system::error_code error;
                asio::write(i == 0 ? upstream : client,
                            asio::buffer(buffer.data(), static_cast<std::size_t>(size)), error);
                if (error) {
                    return;
                }
            }
        }
    }

    protocol type_;
    asio::io_context io_;
    tcp::acceptor acceptor_;
    std::uint16_t port_ = 0;
    std::thread thread_;
    std::atomic<bool> stopping_ = false;
    mutable std::mutex mutex_;
    std::string target_;
};

}  // namespace

TEST_CASE("TLS call goes through a proxy that resolves the name", "[bot_api]") {
    const auto type =
        GENERATE(tunnel_proxy::protocol::socks5, tunnel_proxy::protocol::http_connect);
    const test_certificate certificate = make_certificate("DNS:localhost");
    tls_test_server server(certificate, http_response(200, "OK", get_me_result));
    tunnel_proxy proxy(type);
    const std::string scheme = type == tunnel_proxy::protocol::socks5 ? "socks5" : "http";
    asio::io_context io;
    std::optional<bot_api_client> client;
    {
        const trusted_certificate trust(certificate);
        bot_api_endpoint endpoint =
            endpoint_for("https://localhost:" + std::to_string(server.port()));
        endpoint.proxy =
            tgsearch::parse_proxy_url(scheme + "://127.0.0.1:" + std::to_string(proxy.port()));
        client.emplace(io.get_executor(), std::move(endpoint));
    }

    const api_result result = run_call(io, *client, "getMe", "{}", 5s);
    client.reset();
    server.finish();

    INFO(result.description);
    CHECK(result.ok());
    CHECK(proxy.target() == "localhost:" + std::to_string(server.port()));
    CHECK(server.server_name() == "localhost");
    REQUIRE(server.request().has_value());
    CHECK(server.request()->target == "/bot" + std::string(test_token) + "/getMe");
}

TEST_CASE("unreachable proxy is a transport error, not a direct call", "[bot_api]") {
    http_test_server server([](const received_request&) { return reply_ok(); });
    asio::io_context io;
    bot_api_endpoint endpoint = endpoint_for(local_url(server.port()));
    endpoint.proxy = tgsearch::parse_proxy_url("socks5://user:hunter2@127.0.0.1:" +
                                               std::to_string(unused_port()));
    bot_api_client client(io.get_executor(), std::move(endpoint));

    const api_result result = run_call(io, client, "getMe", "{}", 5s);

    CHECK(result.kind == api_result::status::transport_error);
    CHECK(result.description.find("failed to connect to proxy socks5://user:****@127.0.0.1:") !=
          std::string::npos);
    CHECK(result.description.find("hunter2") == std::string::npos);
    CHECK(server.requests().empty());
}

TEST_CASE("TLS call succeeds with a trusted certificate", "[bot_api]") {
    const test_certificate certificate = make_certificate("DNS:localhost");
    tls_test_server server(certificate, http_response(200, "OK", get_me_result));
    asio::io_context io;
    std::optional<bot_api_client> client;
    {
        const trusted_certificate trust(certificate);
        client.emplace(io.get_executor(),
                       endpoint_for("https://localhost:" + std::to_string(server.port()) + "/tg"));
    }

    const api_result result = run_call(io, *client, "getMe", "{}", 5s);
    server.finish();

    CHECK(result.ok());
    CHECK(result.body == get_me_result);
    CHECK(server.handshake_done());
    CHECK(server.server_name() == "localhost");
    REQUIRE(server.request().has_value());
    CHECK(server.request()->target == "/tg/bot" + std::string(test_token) + "/getMe");
    CHECK(server.request()->headers.at("host") == "localhost:" + std::to_string(server.port()));
}

TEST_CASE("TLS rejects an untrusted certificate", "[bot_api]") {
    const test_certificate certificate = make_certificate("IP:127.0.0.1");
    tls_test_server server(certificate, http_response(200, "OK", get_me_result));
    asio::io_context io;
    bot_api_client client(io.get_executor(),
                          endpoint_for("https://127.0.0.1:" + std::to_string(server.port())));

    const api_result result = run_call(io, client, "getMe", "{}", 5s);
    server.finish();

    CHECK(result.kind == api_result::status::transport_error);
    CHECK(result.description ==
          "POST getMe: TLS handshake with 127.0.0.1:" + std::to_string(server.port()) +
              " failed: certificate verification failed: self-signed certificate");
    CHECK_FALSE(server.request().has_value());
    check_no_token(result);
}

TEST_CASE("TLS rejects a certificate for another host", "[bot_api]") {
    const test_certificate certificate = make_certificate("DNS:other.invalid");
    tls_test_server server(certificate, http_response(200, "OK", get_me_result));
    asio::io_context io;
    std::optional<bot_api_client> client;
    {
        const trusted_certificate trust(certificate);
        client.emplace(io.get_executor(),
                       endpoint_for("https://127.0.0.1:" + std::to_string(server.port())));
    }

    const api_result result = run_call(io, *client, "getMe", "{}", 5s);
    server.finish();

    CHECK(result.kind == api_result::status::transport_error);
    CHECK(result.description.find("certificate verification failed: hostname mismatch") !=
          std::string::npos);
    CHECK_FALSE(server.request().has_value());
    check_no_token(result);
}
