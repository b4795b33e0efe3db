#include "app/webhook_server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/system/system_error.hpp>
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using tgsearch::webhook_options;
using tgsearch::webhook_server;
using tgsearch::webhook_verdict;

constexpr std::string_view test_secret = "test-secret_0123456789abcdefghijklmnopqrstu";
constexpr std::string_view test_update = R"({"update_id":7,"message":{"text":"hello"}})";

/// A webhook_server on 127.0.0.1 and a free port, run by a thread of its own, that records the
/// updates its handler receives.
class running_server {
public:
    explicit running_server(webhook_options options = {}) {
        options.listen_address = "127.0.0.1";
        options.port = 0;
        options.secret_token = std::string(test_secret);
        server_ = std::make_unique<webhook_server>(
            io_.get_executor(), std::move(options),
            [this](std::string body) -> asio::awaitable<webhook_verdict> {
                {
                    std::lock_guard lock(mutex_);
                    updates_.emplace_back(body);
                    if (throw_from_handler_) {
                        throw std::runtime_error("handler failure");
                    }
                }
                co_return verdict_.load();
            });
        server_->start();
        thread_ = std::thread([this] { io_.run(); });
    }

    ~running_server() { stop(); }

    /// Stops the server and waits until its thread has no work left. Returns how long that
    /// took.
    std::chrono::steady_clock::duration stop() {
        const auto started = std::chrono::steady_clock::now();
        if (thread_.joinable()) {
            server_->stop();
            thread_.join();
        }
        return std::chrono::steady_clock::now() - started;
    }

    std::uint16_t port() const { return server_->local_port(); }

    std::vector<std::string> updates() {
        std::lock_guard lock(mutex_);
        return updates_;
    }

    void set_verdict(webhook_verdict verdict) { verdict_ = verdict; }
    void throw_from_handler() {
        std::lock_guard lock(mutex_);
        throw_from_handler_ = true;
    }

private:
    asio::io_context io_;
    std::unique_ptr<webhook_server> server_;
    std::thread thread_;
    std::mutex mutex_;
    std::vector<std::string> updates_;
    bool throw_from_handler_ = false;
    std::atomic<webhook_verdict> verdict_{webhook_verdict::accepted};
};

/// One HTTP response as the test client read it.
struct http_response {
    int status = 0;
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;
};

/// Returns the value of header `name` (lower case), or "" when the response has none.
std::string header_of(const http_response& response, const std::string& name) {
    const auto found = response.headers.find(name);
    return found == response.headers.end() ? std::string() : found->second;
}

std::string to_lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

/// Blocking client on a plain POSIX socket, whose receive timeout keeps a test from hanging
/// when the server does not respond.
class test_client {
public:
    explicit test_client(std::uint16_t port, std::chrono::milliseconds receive_timeout = 5s) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(fd_ >= 0);
        set_receive_timeout(receive_timeout);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
    }

    ~test_client() { close(); }

    test_client(const test_client&) = delete;
    test_client& operator=(const test_client&) = delete;

    void set_receive_timeout(std::chrono::milliseconds timeout) {
        timeval value{};
        value.tv_sec = static_cast<time_t>(timeout.count() / 1000);
        value.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &value, sizeof value);
    }

    /// Sends all of `bytes`. Returns false when the server closed the connection first.
    bool send(std::string_view bytes) {
        while (!bytes.empty()) {
            const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (sent <= 0) {
                return false;
            }
            bytes.remove_prefix(static_cast<std::size_t>(sent));
        }
        return true;
    }

    /// Reads one response. With `header_only` set, as for a response to HEAD, reads the header
    /// alone and ignores its Content-Length. Returns nothing when the connection ends or the
    /// receive timeout passes before a whole response arrived.
    std::optional<http_response> read_response(bool header_only = false) {
        std::size_t head_end = 0;
        while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
            if (!receive_more()) {
                return std::nullopt;
            }
        }
        const std::string head = buffer_.substr(0, head_end);
        buffer_.erase(0, head_end + 4);

        http_response response;
        std::size_t line_end = head.find("\r\n");
        const std::string status_line = head.substr(0, line_end);
        response.status = std::stoi(status_line.substr(status_line.find(' ') + 1, 3));
        while (line_end != std::string::npos) {
            const std::size_t next = head.find("\r\n", line_end + 2);
            const std::string line = head.substr(line_end + 2, next - line_end - 2);
            const std::size_t colon = line.find(':');
            std::string value = line.substr(colon + 1);
            value.erase(0, value.find_first_not_of(' '));
            response.headers[to_lower(line.substr(0, colon))] = value;
            line_end = next;
        }
        const auto length = response.headers.find("content-length");
        const std::size_t body_size = header_only || length == response.headers.end()
                                          ? 0
                                          : static_cast<std::size_t>(std::stoul(length->second));
        while (buffer_.size() < body_size) {
            if (!receive_more()) {
                return std::nullopt;
            }
        }
        response.body = buffer_.substr(0, body_size);
        buffer_.erase(0, body_size);
        return response;
    }

    /// Tells whether the server closed the connection: a read returns end of stream or a reset
    /// before the receive timeout passes, with no bytes pending.
    bool closed_by_server() {
        char byte = 0;
        const ssize_t received = ::recv(fd_, &byte, 1, 0);
        return buffer_.empty() && (received == 0 || (received < 0 && errno == ECONNRESET));
    }

    void close() {
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }

private:
    bool receive_more() {
        char chunk[4096];
        const ssize_t received = ::recv(fd_, chunk, sizeof chunk, 0);
        if (received <= 0) {
            return false;
        }
        buffer_.append(chunk, static_cast<std::size_t>(received));
        return true;
    }

    int fd_ = -1;
    std::string buffer_;
};

/// Builds a request. `secret` adds the secret header when set, and `extra_headers` are whole
/// header lines, each ending in "\r\n".
std::string make_request(std::string_view method, std::string_view target, std::string_view body,
                         std::optional<std::string_view> secret = test_secret,
                         std::string_view extra_headers = "") {
    std::string request = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\n";
    request += "Host: 127.0.0.1\r\n";
    request += "Content-Type: application/json\r\n";
    if (secret) {
        request += "X-Telegram-Bot-Api-Secret-Token: " + std::string(*secret) + "\r\n";
    }
    request += extra_headers;
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    request += body;
    return request;
}

std::string make_update_request(std::string_view body = test_update) {
    return make_request("POST", "/telegram", body);
}

/// Sends one request on a new connection and reads the response.
std::optional<http_response> exchange(std::uint16_t port, const std::string& request) {
    test_client client(port);
    REQUIRE(client.send(request));
    return client.read_response();
}

int status_of(std::uint16_t port, const std::string& request) {
    const std::optional<http_response> response = exchange(port, request);
    REQUIRE(response);
    return response->status;
}

}  // namespace

TEST_CASE("webhook passes an authorized update on", "[webhook]") {
    running_server server;
    const auto response = exchange(server.port(), make_update_request());
    REQUIRE(response);
    CHECK(response->status == 200);
    CHECK(response->body.empty());
    const std::vector<std::string> updates = server.updates();
    REQUIRE(updates.size() == 1);
    CHECK(updates[0] == test_update);
}

TEST_CASE("webhook ignores the query in the path", "[webhook]") {
    running_server server;
    CHECK(status_of(server.port(), make_request("POST", "/telegram?from=proxy", test_update)) ==
          200);
    CHECK(server.updates().size() == 1);
}

TEST_CASE("webhook rejects wrong secrets with 401", "[webhook]") {
    running_server server;
    std::string same_length_wrong(test_secret);
    same_length_wrong.back() = same_length_wrong.back() == 'x' ? 'y' : 'x';
    const std::string shorter(test_secret.substr(0, test_secret.size() - 1));
    const std::string longer = std::string(test_secret) + "x";

    SECTION("missing header") {
        CHECK(status_of(server.port(),
                        make_request("POST", "/telegram", test_update, std::nullopt)) == 401);
    }
    SECTION("empty header") {
        CHECK(status_of(server.port(), make_request("POST", "/telegram", test_update, "")) == 401);
    }
    SECTION("wrong secret of the same length") {
        CHECK(status_of(server.port(),
                        make_request("POST", "/telegram", test_update, same_length_wrong)) == 401);
    }
    SECTION("shorter secret") {
        CHECK(status_of(server.port(), make_request("POST", "/telegram", test_update, shorter)) ==
              401);
    }
    SECTION("longer secret") {
        CHECK(status_of(server.port(), make_request("POST", "/telegram", test_update, longer)) ==
              401);
    }
    SECTION("right secret repeated in a second header") {
        const std::string second =
            "X-Telegram-Bot-Api-Secret-Token: " + std::string(test_secret) + "\r\n";
        CHECK(status_of(server.port(), make_request("POST", "/telegram", test_update, test_secret,
                                                    second)) == 401);
    }
    CHECK(server.updates().empty());
}

TEST_CASE("webhook answers 405 to other methods", "[webhook]") {
    running_server server;
    for (const std::string_view method : {"GET", "PUT", "DELETE"}) {
        CAPTURE(method);
        const auto response = exchange(server.port(), make_request(method, "/telegram", ""));
        REQUIRE(response);
        CHECK(response->status == 405);
        CHECK(header_of(*response, "allow") == "POST");
    }
    CHECK(server.updates().empty());
}

TEST_CASE("webhook answers HEAD without a body", "[webhook]") {
    running_server server;
    for (const std::string_view target : {"/telegram", "/other"}) {
        CAPTURE(target);
        test_client client(server.port());
        REQUIRE(
            client.send(make_request("HEAD", target, "", test_secret, "Connection: close\r\n")));
        const auto response = client.read_response(true);
        REQUIRE(response);
        CHECK(response->status == (target == "/telegram" ? 405 : 404));
        // Any byte after the header would be a body, which a response to HEAD must not have.
        CHECK(client.closed_by_server());
    }
    CHECK(server.updates().empty());
}

TEST_CASE("webhook answers 404 to other paths", "[webhook]") {
    running_server server;
    for (const std::string_view target : {"/", "/other", "/telegram/", "/telegramx", "/Telegram"}) {
        CAPTURE(target);
        CHECK(status_of(server.port(), make_request("POST", target, test_update)) == 404);
    }
    CHECK(server.updates().empty());
}

TEST_CASE("webhook answers 413 to large bodies", "[webhook]") {
    webhook_options options;
    options.max_body_bytes = 1024;
    running_server server(options);
    const std::string padding_key = R"({"update_id":1,"pad":")";
    const auto body_of_size = [&padding_key](std::size_t size) {
        return padding_key + std::string(size - padding_key.size() - 2, 'a') + "\"}";
    };

    SECTION("by Content-Length") {
        const auto response = exchange(server.port(), make_update_request(body_of_size(1025)));
        REQUIRE(response);
        CHECK(response->status == 413);
        CHECK(header_of(*response, "connection") == "close");
        CHECK(server.updates().empty());
    }
    SECTION("in chunks") {
        const std::string chunk = body_of_size(1025);
        std::string request =
            "POST /telegram HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
            "X-Telegram-Bot-Api-Secret-Token: " +
            std::string(test_secret) + "\r\n\r\n";
        char size_line[32];
        std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
        request += size_line + chunk + "\r\n0\r\n\r\n";
        CHECK(status_of(server.port(), request) == 413);
        CHECK(server.updates().empty());
    }
    SECTION("but not at the limit") {
        CHECK(status_of(server.port(), make_update_request(body_of_size(1024))) == 200);
        CHECK(server.updates().size() == 1);
    }
}

TEST_CASE("webhook answers 400 to non-objects", "[webhook]") {
    running_server server;
    for (const std::string_view body :
         {"", "not json", "[1,2]", "\"text\"", "42", "{\"update_id\":", "{}{}", "{} x"}) {
        CAPTURE(body);
        CHECK(status_of(server.port(), make_update_request(body)) == 400);
    }
    CHECK(server.updates().empty());
}

TEST_CASE("webhook passes invalid UTF-8 on", "[webhook]") {
    running_server server;
    const std::string body = "{\"update_id\":3,\"message\":{\"text\":\"\xff\xfe\"}}";
    CHECK(status_of(server.port(), make_update_request(body)) == 200);
    REQUIRE(server.updates().size() == 1);
    CHECK(server.updates()[0] == body);
}

TEST_CASE("webhook answers 429 or 503 for rejections", "[webhook]") {
    running_server server;
    SECTION("busy") {
        server.set_verdict(webhook_verdict::busy);
        const auto response = exchange(server.port(), make_update_request());
        REQUIRE(response);
        CHECK(response->status == 429);
        CHECK(response->headers.count("retry-after") == 1);
    }
    SECTION("unavailable") {
        server.set_verdict(webhook_verdict::unavailable);
        const auto response = exchange(server.port(), make_update_request());
        REQUIRE(response);
        CHECK(response->status == 503);
        CHECK(response->headers.count("retry-after") == 1);
    }
    CHECK(server.updates().size() == 1);
}

TEST_CASE("webhook answers 500 when the handler throws", "[webhook]") {
    running_server server;
    server.throw_from_handler();
    CHECK(status_of(server.port(), make_update_request()) == 500);
}

TEST_CASE("webhook serves two requests on one connection", "[webhook]") {
    running_server server;
    test_client client(server.port());
    const std::string second_update = R"({"update_id":8})";

    REQUIRE(client.send(make_update_request()));
    const auto first = client.read_response();
    REQUIRE(first);
    CHECK(first->status == 200);
    CHECK(first->headers.count("connection") == 0);

    REQUIRE(client.send(make_update_request(second_update)));
    const auto second = client.read_response();
    REQUIRE(second);
    CHECK(second->status == 200);

    const std::vector<std::string> updates = server.updates();
    REQUIRE(updates.size() == 2);
    CHECK(updates[0] == test_update);
    CHECK(updates[1] == second_update);
}

TEST_CASE("webhook serves two pipelined requests in order", "[webhook]") {
    running_server server;
    test_client client(server.port());
    REQUIRE(client.send(make_update_request() + make_update_request(R"({"update_id":8})")));
    const auto first = client.read_response();
    const auto second = client.read_response();
    REQUIRE(first);
    REQUIRE(second);
    CHECK(first->status == 200);
    CHECK(second->status == 200);
    CHECK(server.updates().size() == 2);
}

TEST_CASE("webhook keeps alive after bodiless rejections", "[webhook]") {
    running_server server;
    test_client client(server.port());
    REQUIRE(client.send(make_request("GET", "/telegram", "")));
    const auto rejected = client.read_response();
    REQUIRE(rejected);
    CHECK(rejected->status == 405);

    REQUIRE(client.send(make_update_request()));
    const auto accepted = client.read_response();
    REQUIRE(accepted);
    CHECK(accepted->status == 200);
}

TEST_CASE("webhook closes after rejecting an unread body", "[webhook]") {
    running_server server;
    test_client client(server.port());
    REQUIRE(client.send(make_request("POST", "/telegram", test_update, "wrong")));
    const auto response = client.read_response();
    REQUIRE(response);
    CHECK(response->status == 401);
    CHECK(header_of(*response, "connection") == "close");
    CHECK(client.closed_by_server());
}

TEST_CASE("webhook honours Connection: close", "[webhook]") {
    running_server server;
    test_client client(server.port());
    REQUIRE(client.send(
        make_request("POST", "/telegram", test_update, test_secret, "Connection: close\r\n")));
    const auto response = client.read_response();
    REQUIRE(response);
    CHECK(response->status == 200);
    CHECK(client.closed_by_server());
}

TEST_CASE("webhook sends 100 Continue after checks", "[webhook]") {
    running_server server;
    const std::string head_end = "Expect: 100-continue\r\n";

    SECTION("right secret") {
        test_client client(server.port());
        std::string request = make_request("POST", "/telegram", test_update, test_secret, head_end);
        const std::size_t body_at = request.size() - test_update.size();
        REQUIRE(client.send(std::string_view(request).substr(0, body_at)));
        const auto interim = client.read_response();
        REQUIRE(interim);
        CHECK(interim->status == 100);
        CHECK(server.updates().empty());

        REQUIRE(client.send(test_update));
        const auto response = client.read_response();
        REQUIRE(response);
        CHECK(response->status == 200);
        CHECK(server.updates().size() == 1);
    }
    SECTION("wrong secret") {
        test_client client(server.port());
        std::string request = make_request("POST", "/telegram", test_update, "wrong", head_end);
        REQUIRE(
            client.send(std::string_view(request).substr(0, request.size() - test_update.size())));
        const auto response = client.read_response();
        REQUIRE(response);
        CHECK(response->status == 401);
        CHECK(server.updates().empty());
    }
}

TEST_CASE("webhook cuts off slow clients", "[webhook]") {
    webhook_options options;
    options.read_timeout = 200ms;
    running_server server(options);
    test_client client(server.port());
    const std::string request = make_update_request();
    REQUIRE(client.send(std::string_view(request).substr(0, 20)));

    const auto started = std::chrono::steady_clock::now();
    CHECK(client.closed_by_server());
    const auto waited = std::chrono::steady_clock::now() - started;
    CHECK(waited >= 150ms);
    CHECK(waited < 2s);
    CHECK(server.updates().empty());
}

TEST_CASE("webhook closes idle keep-alive connections", "[webhook]") {
    webhook_options options;
    options.read_timeout = 200ms;
    running_server server(options);
    test_client client(server.port());
    REQUIRE(client.send(make_update_request()));
    const auto response = client.read_response();
    REQUIRE(response);
    CHECK(response->status == 200);

    const auto started = std::chrono::steady_clock::now();
    CHECK(client.closed_by_server());
    CHECK(std::chrono::steady_clock::now() - started < 2s);
}

TEST_CASE("webhook stop closes open connections", "[webhook]") {
    running_server server;
    const std::uint16_t port = server.port();
    test_client idle(port);
    test_client partial(port);
    const std::string request = make_update_request();
    REQUIRE(partial.send(std::string_view(request).substr(0, request.size() - 3)));
    // A served request proves that both connections have been accepted by now.
    CHECK(status_of(port, make_update_request()) == 200);

    const auto stop_time = server.stop();
    CHECK(stop_time < 1s);
    CHECK(idle.closed_by_server());
    CHECK(partial.closed_by_server());
    CHECK(server.updates().size() == 1);

    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0);
    ::close(fd);
}

TEST_CASE("webhook caps concurrent connections", "[webhook]") {
    webhook_options options;
    options.max_connections = 1;
    running_server server(options);
    auto first = std::make_unique<test_client>(server.port());
    REQUIRE(first->send(make_update_request()));
    REQUIRE(first->read_response());

    test_client second(server.port(), 300ms);
    REQUIRE(second.send(make_update_request()));
    CHECK_FALSE(second.read_response());
    CHECK(server.updates().size() == 1);

    first.reset();
    second.set_receive_timeout(5s);
    const auto response = second.read_response();
    REQUIRE(response);
    CHECK(response->status == 200);
    CHECK(server.updates().size() == 2);
}

TEST_CASE("webhook start rejects an empty secret", "[webhook]") {
    asio::io_context io;
    webhook_options options;
    webhook_server server(io.get_executor(), options,
                          [](std::string) -> asio::awaitable<webhook_verdict> {
                              co_return webhook_verdict::accepted;
                          });
    CHECK_THROWS_AS(server.start(), std::invalid_argument);
}

TEST_CASE("webhook start names an unbindable address", "[webhook]") {
    running_server first;
    asio::io_context io;
    webhook_options options;
    options.port = first.port();
    options.secret_token = "secret";
    webhook_server second(io.get_executor(), options,
                          [](std::string) -> asio::awaitable<webhook_verdict> {
                              co_return webhook_verdict::accepted;
                          });
    try {
        second.start();
        FAIL("start() bound a port that is in use");
    } catch (const boost::system::system_error& error) {
        CHECK_THAT(error.what(), Catch::Contains("127.0.0.1:" + std::to_string(first.port())));
    }
}

namespace {

using tgsearch::http_get_handler;
using tgsearch::http_text_response;
using tgsearch::metrics_server;
using tgsearch::metrics_server_options;

/// A metrics_server on 127.0.0.1 and port 0 with a /metrics route that counts its calls and a
/// /healthz route whose status the test sets, run by a thread of its own.
class running_metrics_server {
public:
    explicit running_metrics_server(metrics_server_options options = {}) {
        options.listen_address = "127.0.0.1";
        options.port = 0;
        std::map<std::string, http_get_handler, std::less<>> routes;
        routes["/metrics"] = [this] {
            ++scrapes_;
            return http_text_response{200, "text/plain; version=0.0.4; charset=utf-8",
                                      "tgsearch_up 1\n"};
        };
        routes["/healthz"] = [this] {
            return healthy_ ? http_text_response{200, "text/plain; charset=utf-8", "ok\n"}
                            : http_text_response{503, "text/plain; charset=utf-8",
                                                 "the last 3 getUpdates calls failed\n"};
        };
        routes["/throws"] = []() -> http_text_response {
            throw std::runtime_error("handler failure");
        };
        server_ = std::make_unique<metrics_server>(io_.get_executor(), options, std::move(routes));
        server_->start();
        thread_ = std::thread([this] { io_.run(); });
    }

    ~running_metrics_server() {
        server_->stop();
        thread_.join();
    }

    std::uint16_t port() const { return server_->local_port(); }
    int scrapes() const { return scrapes_; }
    void set_healthy(bool healthy) { healthy_ = healthy; }

private:
    asio::io_context io_;
    std::unique_ptr<metrics_server> server_;
    std::thread thread_;
    std::atomic<int> scrapes_{0};
    std::atomic<bool> healthy_{true};
};

std::string make_get(std::string_view target, std::string_view extra_headers = "") {
    return "GET " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
           std::string(extra_headers) + "\r\n";
}

}  // namespace

TEST_CASE("metrics server answers GET /metrics", "[metrics_server]") {
    running_metrics_server server;
    CHECK(server.port() != 0);
    const auto response = exchange(server.port(), make_get("/metrics"));
    REQUIRE(response);
    CHECK(response->status == 200);
    CHECK(header_of(*response, "content-type") == "text/plain; version=0.0.4; charset=utf-8");
    CHECK(response->body == "tgsearch_up 1\n");
    CHECK(server.scrapes() == 1);
}

TEST_CASE("metrics server ignores the query in the path", "[metrics_server]") {
    running_metrics_server server;
    CHECK(status_of(server.port(), make_get("/metrics?name[]=tgsearch_up")) == 200);
    CHECK(server.scrapes() == 1);
}

TEST_CASE("metrics server passes the handler status on", "[metrics_server]") {
    running_metrics_server server;
    const auto healthy = exchange(server.port(), make_get("/healthz"));
    REQUIRE(healthy);
    CHECK(healthy->status == 200);
    CHECK(healthy->body == "ok\n");

    server.set_healthy(false);
    const auto unhealthy = exchange(server.port(), make_get("/healthz"));
    REQUIRE(unhealthy);
    CHECK(unhealthy->status == 503);
    CHECK(unhealthy->body == "the last 3 getUpdates calls failed\n");
    // Only the webhook's 503 carries Retry-After, for Telegram's next delivery attempt.
    CHECK(header_of(*unhealthy, "retry-after").empty());
}

TEST_CASE("metrics server answers 404 to other paths", "[metrics_server]") {
    running_metrics_server server;
    for (const std::string_view target : {"/", "/metrics/", "/metricsx", "/Metrics", "/telegram"}) {
        CAPTURE(target);
        CHECK(status_of(server.port(), make_get(target)) == 404);
    }
    CHECK(server.scrapes() == 0);
}

TEST_CASE("metrics server answers 405 to other methods", "[metrics_server]") {
    running_metrics_server server;
    for (const std::string_view method : {"POST", "PUT", "DELETE"}) {
        CAPTURE(method);
        const auto response =
            exchange(server.port(), make_request(method, "/metrics", "", std::nullopt));
        REQUIRE(response);
        CHECK(response->status == 405);
        CHECK(header_of(*response, "allow") == "GET, HEAD");
    }
    CHECK(server.scrapes() == 0);
}

TEST_CASE("metrics server answers HEAD as GET without a body", "[metrics_server]") {
    running_metrics_server server;
    for (const bool healthy : {true, false}) {
        server.set_healthy(healthy);
        for (const std::string_view target : {"/metrics", "/healthz"}) {
            CAPTURE(healthy, target);
            test_client client(server.port());
            const std::string head =
                "HEAD " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
            // The GET on the same connection parses only if the HEAD response sent no body.
            REQUIRE(client.send(head + make_get(target)));
            const auto head_response = client.read_response(true);
            const auto get_response = client.read_response();
            REQUIRE(head_response);
            REQUIRE(get_response);
            CHECK(head_response->status == get_response->status);
            CHECK(header_of(*head_response, "content-type") ==
                  header_of(*get_response, "content-type"));
            CHECK(header_of(*head_response, "content-length") ==
                  std::to_string(get_response->body.size()));
            CHECK_FALSE(get_response->body.empty());
        }
    }
    CHECK(server.scrapes() == 4);
}

TEST_CASE("metrics server errors to HEAD have no body", "[metrics_server]") {
    running_metrics_server server;
    const std::string close = "Connection: close\r\n";
    const std::string large_body(64 * 1024, 'x');
    const std::vector<std::pair<std::string, int>> cases = {
        {make_request("HEAD", "/other", "", std::nullopt, close), 404},
        {make_request("HEAD", "/throws", "", std::nullopt, close), 500},
        {make_request("HEAD", "/metrics", large_body, std::nullopt, close), 413},
    };
    for (const auto& [request, status] : cases) {
        CAPTURE(status);
        test_client client(server.port());
        REQUIRE(client.send(request));
        const auto response = client.read_response(true);
        REQUIRE(response);
        CHECK(response->status == status);
        CHECK(client.closed_by_server());
    }
    CHECK(server.scrapes() == 0);
}

TEST_CASE("metrics server answers 500 when a handler throws", "[metrics_server]") {
    running_metrics_server server;
    CHECK(status_of(server.port(), make_get("/throws")) == 500);
    // The connection's failure leaves the server serving.
    CHECK(status_of(server.port(), make_get("/metrics")) == 200);
}

TEST_CASE("metrics server serves scrapes on one connection", "[metrics_server]") {
    running_metrics_server server;
    test_client client(server.port());
    for (int scrape = 1; scrape <= 3; ++scrape) {
        CAPTURE(scrape);
        REQUIRE(client.send(make_get("/metrics")));
        const auto response = client.read_response();
        REQUIRE(response);
        CHECK(response->status == 200);
    }
    CHECK(server.scrapes() == 3);
}

TEST_CASE("metrics server closes idle connections", "[metrics_server]") {
    metrics_server_options options;
    options.read_timeout = 200ms;
    running_metrics_server server(options);
    test_client client(server.port());
    const auto started = std::chrono::steady_clock::now();
    CHECK(client.closed_by_server());
    CHECK(std::chrono::steady_clock::now() - started < 2s);
}

TEST_CASE("metrics server caps concurrent connections", "[metrics_server]") {
    metrics_server_options options;
    options.max_connections = 1;
    running_metrics_server server(options);
    auto first = std::make_unique<test_client>(server.port());
    REQUIRE(first->send(make_get("/metrics")));
    REQUIRE(first->read_response());

    test_client second(server.port(), 300ms);
    REQUIRE(second.send(make_get("/metrics")));
    CHECK_FALSE(second.read_response());

    first.reset();
    second.set_receive_timeout(5s);
    const auto response = second.read_response();
    REQUIRE(response);
    CHECK(response->status == 200);
    CHECK(server.scrapes() == 2);
}

TEST_CASE("metrics server rejects a large request body", "[metrics_server]") {
    running_metrics_server server;
    const std::string body(64 * 1024, 'x');
    CHECK(status_of(server.port(), make_request("GET", "/metrics", body, std::nullopt)) == 413);
    CHECK(server.scrapes() == 0);
}

TEST_CASE("metrics server rejects a relative route", "[metrics_server]") {
    asio::io_context io;
    std::map<std::string, http_get_handler, std::less<>> routes;
    routes["metrics"] = [] { return http_text_response{}; };
    CHECK_THROWS_AS(metrics_server(io.get_executor(), metrics_server_options{}, std::move(routes)),
                    std::invalid_argument);
}

TEST_CASE("listen endpoint takes port 0 only when allowed", "[metrics_server]") {
    using tgsearch::listen_port;
    using tgsearch::parse_listen_endpoint;
    const auto any = parse_listen_endpoint("127.0.0.1:0", "--metrics", listen_port::fixed_or_any);
    CHECK(any.address == "127.0.0.1");
    CHECK(any.port == 0);
    const auto fixed = parse_listen_endpoint("[::1]:9464", "--metrics", listen_port::fixed_or_any);
    CHECK(fixed.address == "::1");
    CHECK(fixed.port == 9464);
    CHECK_THROWS_AS(parse_listen_endpoint("127.0.0.1:0", "--listen"), std::invalid_argument);
    CHECK_THROWS_AS(
        parse_listen_endpoint("127.0.0.1:65536", "--metrics", listen_port::fixed_or_any),
        std::invalid_argument);
}
