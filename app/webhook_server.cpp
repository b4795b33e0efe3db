#include "app/webhook_server.hpp"

#include "app/bot_api_protocol.hpp"
#include "app/logging.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <map>
#include <optional>
#include <stdexcept>
#include <utility>

namespace tgsearch {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using clock_type = std::chrono::steady_clock;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

constexpr std::string_view secret_header = "X-Telegram-Bot-Api-Secret-Token";

/// Maximum request head in bytes. Telegram's requests carry a handful of short headers; a
/// reverse proxy adds a few forwarding headers of its own.
constexpr std::uint32_t max_header_bytes = 16 * 1024;

/// Rejected requests of one kind (401, invalid body) are logged at most once per interval,
/// with the number held back, so that a scanner hammering the port cannot flood the log.
constexpr auto rejection_log_interval = std::chrono::seconds(60);

/// Retry-After in seconds of 429 and 503 responses.
/// NOTE: the Bot API documentation says only that Telegram repeats a request that got no 2xx
/// status. It does not say whether Telegram honours Retry-After.
constexpr std::string_view busy_retry_after = "1";
constexpr std::string_view unavailable_retry_after = "5";

/// Bounds on reading and discarding the rest of a request after an error response. Closing a
/// socket with unread data resets the connection, and the client may then lose the response.
constexpr std::size_t max_discarded_bytes = 4 * 1024 * 1024;
constexpr auto max_discard_time = std::chrono::seconds(2);

/// Pause after accept fails for a reason other than the server stopping, such as running out
/// of file descriptors, so that the loop does not spin.
constexpr auto accept_retry_pause = std::chrono::milliseconds(100);

/// Maximum length of a forwarding header value quoted in the log.
constexpr std::size_t max_logged_forwarded_size = 64;

/// Maximum body of a request to the metrics server. Its routes take GET and HEAD requests,
/// which carry no body.
constexpr std::size_t max_metrics_request_bytes = 16 * 1024;

std::string describe_endpoint(const tcp::endpoint& endpoint) {
    const asio::ip::address address = endpoint.address();
    if (address.is_v6()) {
        return "[" + address.to_string() + "]:" + std::to_string(endpoint.port());
    }
    return address.to_string() + ":" + std::to_string(endpoint.port());
}

/// Compares a received secret with the expected one in time that depends on the length only.
/// The length is not secret: every secret this program generates has 43 characters.
bool secret_matches(std::string_view received, std::string_view expected) {
    if (received.size() != expected.size()) {
        return false;
    }
    return CRYPTO_memcmp(received.data(), expected.data(), expected.size()) == 0;
}

/// Returns whether `request` is a HEAD request, whose response carries no body.
bool is_head(const http::request<http::string_body>& request) {
    return request.method() == http::verb::head;
}

/// Returns the request target without its query.
std::string_view target_path(std::string_view target) { return target.substr(0, target.find('?')); }

/// Returns `value` with every byte outside printable ASCII replaced by '?', cut to `max_size`
/// bytes, so that a header quoted in the log cannot forge log lines.
std::string printable(std::string_view value, std::size_t max_size) {
    std::string out(value.substr(0, max_size));
    for (char& c : out) {
        if (c < 0x20 || c > 0x7e) {
            c = '?';
        }
    }
    if (value.size() > max_size) {
        out += "...";
    }
    return out;
}

/// Ends of a connection that are ordinary rather than errors worth a warning.
bool is_connection_end(const error_code& error) {
    return error == http::error::end_of_stream || error == asio::error::eof ||
           error == asio::error::operation_aborted || error == beast::error::timeout ||
           error == asio::error::connection_reset || error == asio::error::bad_descriptor ||
           error == asio::error::broken_pipe;
}

/// Lets a log line through at most once per interval and counts the ones it holds back.
class log_limiter {
public:
    /// Returns the number of lines held back since the last one let through, or nothing when
    /// this one is to be held back too.
    std::optional<std::size_t> admit(clock_type::time_point now) {
        if (logged_once_ && now - last_logged_ < rejection_log_interval) {
            ++held_back_;
            return std::nullopt;
        }
        const std::size_t held_back = held_back_;
        logged_once_ = true;
        last_logged_ = now;
        held_back_ = 0;
        return held_back;
    }

private:
    bool logged_once_ = false;
    clock_type::time_point last_logged_{};
    std::size_t held_back_ = 0;
};

/// Formats `count` with the singular or plural form of a noun: "1 connection", "2 connections".
std::string count_of(std::size_t count, std::string_view singular, std::string_view plural) {
    return std::to_string(count) + " " + std::string(count == 1 ? singular : plural);
}

std::string held_back_suffix(std::size_t held_back) {
    if (held_back == 0) {
        return {};
    }
    return "; " + std::to_string(held_back) + " more since the last such line";
}

using http_request = http::request<http::string_body>;

/// A response that a site builds. The server adds Server, Content-Length and Connection, and
/// the Allow and Retry-After headers that the site gives for the status.
struct site_response {
    http::status status = http::status::ok;
    std::string content_type;  ///< none when empty
    std::string body;
};

/// Returns a response with `status` and its reason phrase as a one-line plain-text body.
site_response status_response(http::status status) {
    return site_response{status, "text/plain; charset=utf-8",
                         std::string(http::obsolete_reason(status)) + "\n"};
}

/// Bounds on the connections and requests of one server.
struct server_limits {
    std::string listen_address;
    std::uint16_t port = 0;
    std::size_t max_body_bytes = 0;
    std::chrono::milliseconds read_timeout{};
    std::size_t max_connections = 0;
};

/// The part of a server that decides which requests it takes and how it responds to them. The
/// webhook and the metrics endpoints are the two sites. Called on the server's executor.
class request_site {
public:
    virtual ~request_site() = default;

    /// Names the server in log lines, such as "webhook".
    virtual std::string_view name() const = 0;

    /// Describes the paths served for the line that logs the listen address, such as
    /// "at path /telegram".
    virtual std::string describe_paths() const = 0;

    /// Throws std::invalid_argument when the site's settings cannot work. Called by start().
    virtual void check_settings() const {}

    /// Returns the value of the Allow header of a 405 response.
    virtual std::string_view allowed_methods() const = 0;

    /// Returns the Retry-After value of a response with `status`, or "" for none.
    virtual std::string_view retry_after([[maybe_unused]] http::status status) const { return {}; }

    /// Returns the status for a request head that fails a check, or nothing when its body is
    /// to be read and the request handled.
    virtual std::optional<http::status> check_head(const http_request& request,
                                                   const std::string& peer,
                                                   std::uint64_t connection) = 0;

    /// Returns the response to a request that passed check_head, with its body read. When it
    /// throws, the server responds 500.
    virtual asio::awaitable<site_response> handle(const http_request& request,
                                                  const std::string& peer,
                                                  std::uint64_t connection) = 0;
};

}  // namespace

namespace detail {

/// The HTTP/1.1 server that webhook_server and metrics_server run: it accepts connections up
/// to a bound, reads requests with a timeout, and writes the responses that its site decides.
class http_server : public std::enable_shared_from_this<http_server> {
public:
    http_server(asio::any_io_executor executor, server_limits limits,
                std::unique_ptr<request_site> site)
        : executor_(std::move(executor)),
          limits_(std::move(limits)),
          site_(std::move(site)),
          acceptor_(executor_),
          slot_freed_(executor_, clock_type::time_point::max()) {}

    void start() {
        if (started_) {
            throw std::logic_error(std::string(site_->name()) + " server started twice");
        }
        site_->check_settings();
        error_code error;
        const asio::ip::address address = asio::ip::make_address(limits_.listen_address, error);
        if (error) {
            throw boost::system::system_error(error, "invalid " + std::string(site_->name()) +
                                                         " listen address \"" +
                                                         limits_.listen_address + "\"");
        }
        const tcp::endpoint endpoint(address, limits_.port);
        const std::string where = describe_endpoint(endpoint);
        acceptor_.open(endpoint.protocol(), error);
        if (!error) {
            // A restarted server can bind again at once while old connections sit in
            // TIME_WAIT.
            acceptor_.set_option(asio::socket_base::reuse_address(true), error);
        }
        if (!error) {
            acceptor_.bind(endpoint, error);
        }
        if (!error) {
            acceptor_.listen(asio::socket_base::max_listen_connections, error);
        }
        if (error) {
            acceptor_.close();
            throw boost::system::system_error(error, "failed to listen on " + where);
        }
        local_port_ = acceptor_.local_endpoint().port();
        started_ = true;
        spdlog::info("listening for {} requests on {} {}", site_->name(),
                     describe_endpoint(tcp::endpoint(address, local_port_)),
                     site_->describe_paths());
        asio::co_spawn(executor_, accept_loop(shared_from_this()), asio::detached);
    }

    void stop() {
        if (stopped_.exchange(true)) {
            return;
        }
        asio::dispatch(executor_, [self = shared_from_this()] { self->close_all(); });
    }

    std::uint16_t local_port() const { return local_port_; }

private:
    void close_all() {
        error_code ignored;
        acceptor_.close(ignored);
        slot_freed_.cancel();
        for (const auto& [id, stream] : connections_) {
            stream->socket().close(ignored);
        }
        if (started_) {
            spdlog::info("stopped the {} server and closed {}", site_->name(),
                         count_of(connections_.size(), "open connection", "open connections"));
        }
    }

    asio::awaitable<void> accept_loop(std::shared_ptr<http_server> self) {
        bool cap_logged = false;
        while (!stopped_) {
            if (connections_.size() >= limits_.max_connections) {
                if (!cap_logged) {
                    spdlog::warn(
                        "{} server reached its cap of {}; further ones wait until one closes",
                        site_->name(),
                        count_of(limits_.max_connections, "concurrent connection",
                                 "concurrent connections"));
                    cap_logged = true;
                }
                // serve_connection() cancels the wait when a connection closes, and
                // close_all() when the server stops.
                co_await slot_freed_.async_wait(use_tuple);
                continue;
            }
            auto [error, socket] = co_await acceptor_.async_accept(use_tuple);
            if (stopped_) {
                break;
            }
            if (error) {
                spdlog::warn("failed to accept a {} connection: {}; retrying", site_->name(),
                             error.message());
                asio::steady_timer pause(executor_, accept_retry_pause);
                co_await pause.async_wait(use_tuple);
                continue;
            }
            const std::uint64_t id = ++last_connection_id_;
            asio::co_spawn(executor_, serve_connection(self, std::move(socket), id),
                           asio::detached);
        }
    }

    // `self` keeps the server state alive for as long as the connection is served.
    asio::awaitable<void> serve_connection([[maybe_unused]] std::shared_ptr<http_server> self,
                                           tcp::socket socket, std::uint64_t id) {
        error_code error;
        const tcp::endpoint remote = socket.remote_endpoint(error);
        const std::string peer = error ? std::string("unknown peer") : describe_endpoint(remote);
        // Each response is one write, and Nagle's algorithm would hold it back until the
        // client's delayed ACK.
        socket.set_option(tcp::no_delay(true), error);

        beast::tcp_stream stream(std::move(socket));
        connections_.emplace(id, &stream);
        log_event(spdlog::level::debug, {.connection = id}, "{} connection {} opened from {}",
                  site_->name(), id, peer);
        try {
            co_await serve_requests(stream, peer, id);
        } catch (const std::exception& failure) {
            log_event(spdlog::level::warn, {.connection = id},
                      "{} connection {} from {} failed: {}", site_->name(), id, peer,
                      failure.what());
        }
        connections_.erase(id);
        stream.socket().close(error);
        slot_freed_.cancel();
        log_event(spdlog::level::debug, {.connection = id}, "{} connection {} closed",
                  site_->name(), id);
    }

    asio::awaitable<void> serve_requests(beast::tcp_stream& stream, const std::string& peer,
                                         std::uint64_t id) {
        beast::flat_buffer buffer;
        while (!stopped_) {
            http::request_parser<http::string_body> parser;
            parser.header_limit(max_header_bytes);
            parser.body_limit(limits_.max_body_bytes);

            stream.expires_after(limits_.read_timeout);
            auto [head_error, head_size] =
                co_await http::async_read_header(stream, buffer, parser, use_tuple);
            if (head_error) {
                // The request line may have parsed before the error, such as a Content-Length
                // over the limit; otherwise the method is still unknown.
                co_await reject_unreadable(stream, buffer, head_error, id, is_head(parser.get()));
                co_return;
            }
            const http_request& request = parser.get();
            const unsigned version = request.version();

            if (const std::optional<http::status> rejection =
                    site_->check_head(request, peer, id)) {
                // A request whose body was not read leaves bytes that would be taken for the
                // next request, so its connection closes.
                const bool keep_alive = request.keep_alive() && parser.is_done();
                if (!co_await respond(stream, status_response(*rejection), version, keep_alive,
                                      is_head(request))) {
                    co_return;
                }
                if (!keep_alive) {
                    co_await discard_and_close(stream);
                    co_return;
                }
                continue;
            }

            if (beast::iequals(request[http::field::expect], "100-continue")) {
                http::response<http::empty_body> go_on{http::status::continue_, version};
                auto [continue_error, continue_size] =
                    co_await http::async_write(stream, go_on, use_tuple);
                if (continue_error) {
                    co_return;
                }
            }

            auto [body_error, body_size] =
                co_await http::async_read(stream, buffer, parser, use_tuple);
            if (body_error) {
                co_await reject_unreadable(stream, buffer, body_error, id, is_head(parser.get()));
                co_return;
            }

            const bool keep_alive = parser.get().keep_alive();
            const site_response response = co_await handle(parser.get(), peer, id);
            if (!co_await respond(stream, response, version, keep_alive, is_head(parser.get())) ||
                !keep_alive) {
                co_return;
            }
        }
    }

    /// Returns the site's response to a whole request, or 503 once the server is stopping, and
    /// 500 when the site throws.
    asio::awaitable<site_response> handle(const http_request& request, const std::string& peer,
                                          std::uint64_t id) {
        if (stopped_) {
            co_return status_response(http::status::service_unavailable);
        }
        try {
            co_return co_await site_->handle(request, peer, id);
        } catch (const std::exception& failure) {
            log_event(spdlog::level::err, {.connection = id},
                      "the {} request handler failed on connection {}: {}; responding 500",
                      site_->name(), id, failure.what());
        }
        co_return status_response(http::status::internal_server_error);
    }

    /// Responds to a request that could not be read whole, when a response is due at all, and
    /// leaves the connection to be closed. `head` is true when the request line was read and
    /// names HEAD, whose response has no body.
    asio::awaitable<void> reject_unreadable(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                            const error_code& error, std::uint64_t id, bool head) {
        if (error == beast::error::timeout) {
            // Also the normal end of an idle keep-alive connection.
            log_event(spdlog::level::debug, {.connection = id},
                      "closed {} connection {}: no complete request within {} ms", site_->name(),
                      id, limits_.read_timeout.count());
            co_return;
        }
        if (is_connection_end(error) || stopped_) {
            co_return;
        }
        http::status status = http::status::bad_request;
        if (error == http::error::body_limit) {
            status = http::status::payload_too_large;
            log_event(spdlog::level::warn, {.connection = id},
                      "rejected a {} request on connection {}: body over {} bytes (413)",
                      site_->name(), id, limits_.max_body_bytes);
        } else if (error == http::error::header_limit) {
            status = http::status::request_header_fields_too_large;
        } else {
            log_event(spdlog::level::debug, {.connection = id},
                      "rejected a {} request on connection {}: {}", site_->name(), id,
                      error.message());
        }
        buffer.clear();
        if (co_await respond(stream, status_response(status), 11, false, head)) {
            co_await discard_and_close(stream);
        }
    }

    /// Writes `response`. With `head` set, for a HEAD request, writes its header alone, with
    /// the Content-Length that the body would have (RFC 9110, section 9.3.2). Returns false
    /// when the write failed, after which the connection is done.
    asio::awaitable<bool> respond(beast::tcp_stream& stream, const site_response& response,
                                  unsigned version, bool keep_alive, bool head) {
        http::response<http::string_body> message{response.status, version};
        message.set(http::field::server, "tgsearch");
        if (!response.content_type.empty()) {
            message.set(http::field::content_type, response.content_type);
        }
        message.body() = response.body;
        if (response.status == http::status::method_not_allowed) {
            message.set(http::field::allow, site_->allowed_methods());
        }
        if (const std::string_view retry_after = site_->retry_after(response.status);
            !retry_after.empty()) {
            message.set(http::field::retry_after, retry_after);
        }
        message.keep_alive(keep_alive && !stopped_);
        message.prepare_payload();
        stream.expires_after(limits_.read_timeout);
        if (head) {
            // A response to HEAD never has a body (RFC 9112, section 6.3), so only the header
            // is written.
            http::response<http::empty_body> header_only{std::move(message.base())};
            auto [error, size] = co_await http::async_write(stream, header_only, use_tuple);
            co_return !error;
        }
        auto [error, size] = co_await http::async_write(stream, message, use_tuple);
        co_return !error;
    }

    /// Closes the sending side and reads what the client still sends, up to a bound, so that
    /// closing with unread data does not reset the connection before the client has read the
    /// response.
    static asio::awaitable<void> discard_and_close(beast::tcp_stream& stream) {
        error_code error;
        stream.socket().shutdown(tcp::socket::shutdown_send, error);
        if (error) {
            co_return;
        }
        stream.expires_after(max_discard_time);
        std::array<char, 16 * 1024> scratch{};
        std::size_t discarded = 0;
        while (discarded < max_discarded_bytes) {
            auto [read_error, size] =
                co_await stream.async_read_some(asio::buffer(scratch), use_tuple);
            if (read_error) {
                break;
            }
            discarded += size;
        }
    }

    asio::any_io_executor executor_;
    server_limits limits_;
    std::unique_ptr<request_site> site_;
    tcp::acceptor acceptor_;
    /// Never expires: cancelled whenever a connection closes, to wake an accept loop that
    /// waits for a free connection slot.
    asio::steady_timer slot_freed_;
    /// Open connections by id, for stop(). Each stream lives in its serving coroutine.
    std::map<std::uint64_t, beast::tcp_stream*> connections_;
    std::uint64_t last_connection_id_ = 0;
    std::uint16_t local_port_ = 0;
    bool started_ = false;
    /// Set by stop() from any thread; read on the executor.
    std::atomic<bool> stopped_{false};
};

}  // namespace detail

namespace {

/// The webhook's requests: a POST on the webhook path with the secret token, whose body is
/// an Update for the handler.
class webhook_site final : public request_site {
public:
    webhook_site(webhook_options options, webhook_handler on_update)
        : options_(std::move(options)), on_update_(std::move(on_update)) {}

    std::string_view name() const override { return "webhook"; }

    std::string describe_paths() const override { return "at path " + options_.path; }

    void check_settings() const override {
        if (options_.secret_token.empty()) {
            // Without a secret, any client that reaches the port could inject updates.
            throw std::invalid_argument("webhook_server needs a non-empty secret token");
        }
        if (options_.path.empty() || options_.path.front() != '/') {
            throw std::invalid_argument("invalid webhook path \"" + options_.path +
                                        "\": expected a path that starts with \"/\"");
        }
    }

    std::string_view allowed_methods() const override { return "POST"; }

    std::string_view retry_after(http::status status) const override {
        if (status == http::status::too_many_requests) {
            return busy_retry_after;
        }
        if (status == http::status::service_unavailable) {
            return unavailable_retry_after;
        }
        return {};
    }

    std::optional<http::status> check_head(const http_request& request, const std::string& peer,
                                           std::uint64_t connection) override {
        if (target_path(request.target()) != options_.path) {
            return http::status::not_found;
        }
        if (request.method() != http::verb::post) {
            return http::status::method_not_allowed;
        }
        const std::size_t secrets = request.count(secret_header);
        if (secrets == 1 && secret_matches(request[secret_header], options_.secret_token)) {
            return std::nullopt;
        }
        if (const auto held_back = unauthorized_log_.admit(clock_type::now())) {
            const char* reason = secrets == 0  ? "no X-Telegram-Bot-Api-Secret-Token header"
                                 : secrets > 1 ? "more than one X-Telegram-Bot-Api-Secret-Token"
                                               : "a wrong X-Telegram-Bot-Api-Secret-Token";
            log_event(spdlog::level::warn, {.connection = connection},
                      "rejected a webhook request from {}{} on connection {} with {} (401); only "
                      "Telegram, through the reverse proxy, should reach this port{}",
                      peer, forwarded_for(request), connection, reason,
                      held_back_suffix(*held_back));
        }
        return http::status::unauthorized;
    }

    asio::awaitable<site_response> handle(const http_request& request, const std::string& peer,
                                          std::uint64_t connection) override {
        const std::string& body = request.body();
        if (!detail::is_json_object(body)) {
            if (const auto held_back = invalid_body_log_.admit(clock_type::now())) {
                log_event(spdlog::level::warn, {.connection = connection},
                          "rejected a webhook request from {} on connection {}: the body is not "
                          "a JSON object (400){}",
                          peer, connection, held_back_suffix(*held_back));
            }
            co_return status_response(http::status::bad_request);
        }
        const webhook_verdict verdict = co_await on_update_(body);
        switch (verdict) {
            case webhook_verdict::accepted:
                // Telegram reads only the status, so 200 comes with no body.
                co_return site_response{};
            case webhook_verdict::busy:
                co_return status_response(http::status::too_many_requests);
            case webhook_verdict::unavailable:
                co_return status_response(http::status::service_unavailable);
        }
        co_return status_response(http::status::internal_server_error);
    }

private:
    /// Describes the client address that a reverse proxy forwarded, if any, for the log.
    static std::string forwarded_for(const http_request& request) {
        std::string_view value = request["X-Real-IP"];
        if (value.empty()) {
            value = request["X-Forwarded-For"];
        }
        if (value.empty()) {
            return {};
        }
        return " (forwarded for " + printable(value, max_logged_forwarded_size) + ")";
    }

    webhook_options options_;
    webhook_handler on_update_;
    log_limiter unauthorized_log_;
    log_limiter invalid_body_log_;
};

/// The metrics server's requests: a GET or HEAD of one of the routes.
class metrics_site final : public request_site {
public:
    explicit metrics_site(std::map<std::string, http_get_handler, std::less<>> routes)
        : routes_(std::move(routes)) {
        for (const auto& [path, handler] : routes_) {
            if (!path.starts_with('/')) {
                throw std::invalid_argument("invalid metrics server path \"" + path +
                                            "\": expected a path that starts with \"/\"");
            }
        }
    }

    std::string_view name() const override { return "metrics"; }

    std::string describe_paths() const override {
        std::string paths;
        for (const auto& [path, handler] : routes_) {
            paths += paths.empty() ? "at paths " : ", ";
            paths += path;
        }
        return paths;
    }

    std::string_view allowed_methods() const override { return "GET, HEAD"; }

    std::optional<http::status> check_head(const http_request& request,
                                           [[maybe_unused]] const std::string& peer,
                                           [[maybe_unused]] std::uint64_t connection) override {
        if (!routes_.contains(target_path(request.target()))) {
            return http::status::not_found;
        }
        // HEAD gets the response to GET without its body (RFC 9110, section 9.3.2).
        if (request.method() != http::verb::get && request.method() != http::verb::head) {
            return http::status::method_not_allowed;
        }
        return std::nullopt;
    }

    asio::awaitable<site_response> handle(const http_request& request,
                                          [[maybe_unused]] const std::string& peer,
                                          [[maybe_unused]] std::uint64_t connection) override {
        const auto route = routes_.find(target_path(request.target()));
        const http_text_response reply = route->second();
        if (reply.status < 100 || reply.status > 599) {
            throw std::logic_error("the handler of " + route->first + " returned status " +
                                   std::to_string(reply.status));
        }
        co_return site_response{static_cast<http::status>(reply.status), reply.content_type,
                                reply.body};
    }

private:
    std::map<std::string, http_get_handler, std::less<>> routes_;
};

}  // namespace

webhook_server::webhook_server(boost::asio::any_io_executor executor, webhook_options options,
                               webhook_handler on_update) {
    server_limits limits{options.listen_address, options.port, options.max_body_bytes,
                         options.read_timeout, options.max_connections};
    server_ = std::make_shared<detail::http_server>(
        std::move(executor), std::move(limits),
        std::make_unique<webhook_site>(std::move(options), std::move(on_update)));
}

webhook_server::~webhook_server() { server_->stop(); }

void webhook_server::start() { server_->start(); }

void webhook_server::stop() { server_->stop(); }

std::uint16_t webhook_server::local_port() const { return server_->local_port(); }

metrics_server::metrics_server(boost::asio::any_io_executor executor,
                               metrics_server_options options,
                               std::map<std::string, http_get_handler, std::less<>> routes) {
    server_limits limits{options.listen_address, options.port, max_metrics_request_bytes,
                         options.read_timeout, options.max_connections};
    server_ = std::make_shared<detail::http_server>(
        std::move(executor), std::move(limits), std::make_unique<metrics_site>(std::move(routes)));
}

metrics_server::~metrics_server() { server_->stop(); }

void metrics_server::start() { server_->start(); }

void metrics_server::stop() { server_->stop(); }

std::uint16_t metrics_server::local_port() const { return server_->local_port(); }

listen_endpoint parse_listen_endpoint(std::string_view text, std::string_view setting,
                                      listen_port ports) {
    const auto invalid = [text, setting](const std::string& reason) {
        return std::invalid_argument("invalid " + std::string(setting) + " \"" + std::string(text) +
                                     "\": " + reason);
    };
    const std::string expected =
        "expected ADDRESS:PORT with an IPv4 address or an IPv6 address in brackets, such as "
        "127.0.0.1:8080 or [::1]:8080";

    std::string_view host;
    std::string_view port;
    bool ipv6 = false;
    if (text.starts_with('[')) {
        const std::size_t close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            throw invalid(expected);
        }
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
        ipv6 = true;
    } else {
        const std::size_t colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            throw invalid("missing port; " + expected);
        }
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) {
            throw invalid("put an IPv6 address in brackets, such as [::1]:8080");
        }
    }

    unsigned number = 0;
    const auto [end, parse_error] = std::from_chars(port.data(), port.data() + port.size(), number);
    const unsigned lowest = ports == listen_port::fixed_or_any ? 0 : 1;
    if (port.empty() || parse_error != std::errc() || end != port.data() + port.size() ||
        number < lowest || number > 65535) {
        throw invalid(ports == listen_port::fixed_or_any
                          ? "the port must be a number from 0 (any free port) to 65535"
                          : "the port must be a number from 1 to 65535");
    }

    error_code error;
    const std::string host_text(host);
    if (ipv6) {
        asio::ip::make_address_v6(host_text, error);
    } else {
        asio::ip::make_address_v4(host_text, error);
    }
    if (error || host.empty()) {
        throw invalid("\"" + host_text + "\" is not an IP address; " + expected);
    }
    return listen_endpoint{host_text, static_cast<std::uint16_t>(number)};
}

std::string make_webhook_secret() {
    constexpr std::size_t secret_bytes = 32;
    constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::array<unsigned char, secret_bytes> random{};
    if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
        std::array<char, 256> reason{};
        ERR_error_string_n(ERR_get_error(), reason.data(), reason.size());
        throw std::runtime_error(
            std::string("failed to generate the webhook secret: RAND_bytes failed: ") +
            reason.data());
    }
    // base64url without padding: each group of 3 bytes gives 4 characters of 6 bits.
    std::string secret;
    std::uint32_t bits = 0;
    int bit_count = 0;
    for (const unsigned char byte : random) {
        bits = (bits << 8) | byte;
        bit_count += 8;
        while (bit_count >= 6) {
            bit_count -= 6;
            secret += alphabet[(bits >> bit_count) & 0x3f];
        }
    }
    if (bit_count > 0) {
        secret += alphabet[(bits << (6 - bit_count)) & 0x3f];
    }
    OPENSSL_cleanse(random.data(), random.size());
    return secret;
}

}  // namespace tgsearch
