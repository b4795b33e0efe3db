#include "app/webhook_server.hpp"

#include "app/bot_api_protocol.hpp"

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

}  // namespace

struct webhook_server::impl : std::enable_shared_from_this<impl> {
    impl(asio::any_io_executor executor, webhook_options options, webhook_handler on_update)
        : executor_(std::move(executor)),
          options_(std::move(options)),
          on_update_(std::move(on_update)),
          acceptor_(executor_),
          slot_freed_(executor_, clock_type::time_point::max()) {}

    void start() {
        if (started_) {
            throw std::logic_error("webhook_server::start called twice");
        }
        if (options_.secret_token.empty()) {
            // Without a secret, any client that reaches the port could inject updates.
            throw std::invalid_argument("webhook_server needs a non-empty secret token");
        }
        if (options_.path.empty() || options_.path.front() != '/') {
            throw std::invalid_argument("invalid webhook path \"" + options_.path +
                                        "\": expected a path that starts with \"/\"");
        }
        error_code error;
        const asio::ip::address address = asio::ip::make_address(options_.listen_address, error);
        if (error) {
            throw boost::system::system_error(
                error, "invalid webhook listen address \"" + options_.listen_address + "\"");
        }
        const tcp::endpoint endpoint(address, options_.port);
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
        spdlog::info("listening for webhook requests on {} at path {}",
                     describe_endpoint(tcp::endpoint(address, local_port_)), options_.path);
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
            spdlog::info("stopped the webhook server and closed {}",
                         count_of(connections_.size(), "open connection", "open connections"));
        }
    }

    asio::awaitable<void> accept_loop(std::shared_ptr<impl> self) {
        bool cap_logged = false;
        while (!stopped_) {
            if (connections_.size() >= options_.max_connections) {
                if (!cap_logged) {
                    spdlog::warn(
                        "webhook server reached its cap of {}; further ones wait until one "
                        "closes",
                        count_of(options_.max_connections, "concurrent connection",
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
                spdlog::warn("failed to accept a webhook connection: {}; retrying",
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
    asio::awaitable<void> serve_connection([[maybe_unused]] std::shared_ptr<impl> self,
                                           tcp::socket socket, std::uint64_t id) {
        error_code error;
        const tcp::endpoint remote = socket.remote_endpoint(error);
        const std::string peer = error ? std::string("unknown peer") : describe_endpoint(remote);
        // Each response is one write, and Nagle's algorithm would hold it back until the
        // client's delayed ACK.
        socket.set_option(tcp::no_delay(true), error);

        beast::tcp_stream stream(std::move(socket));
        connections_.emplace(id, &stream);
        spdlog::debug("webhook connection {} opened from {}", id, peer);
        try {
            co_await serve_requests(stream, peer, id);
        } catch (const std::exception& failure) {
            spdlog::warn("webhook connection {} from {} failed: {}", id, peer, failure.what());
        }
        connections_.erase(id);
        stream.socket().close(error);
        slot_freed_.cancel();
        spdlog::debug("webhook connection {} closed", id);
    }

    asio::awaitable<void> serve_requests(beast::tcp_stream& stream, const std::string& peer,
                                         std::uint64_t id) {
        beast::flat_buffer buffer;
        while (!stopped_) {
            http::request_parser<http::string_body> parser;
            parser.header_limit(max_header_bytes);
            parser.body_limit(options_.max_body_bytes);

            stream.expires_after(options_.read_timeout);
            auto [head_error, head_size] =
                co_await http::async_read_header(stream, buffer, parser, use_tuple);
            if (head_error) {
                co_await reject_unreadable(stream, buffer, head_error, id);
                co_return;
            }
            const http::request<http::string_body>& request = parser.get();
            const unsigned version = request.version();

            if (const std::optional<http::status> rejection = check_head(request, peer)) {
                // A request whose body was not read leaves bytes that would be taken for the
                // next request, so its connection closes.
                const bool keep_alive = request.keep_alive() && parser.is_done();
                if (!co_await respond(stream, *rejection, version, keep_alive)) {
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
                co_await reject_unreadable(stream, buffer, body_error, id);
                co_return;
            }

            const bool keep_alive = parser.get().keep_alive();
            const http::status status = co_await handle_update(parser.get().body(), peer);
            if (!co_await respond(stream, status, version, keep_alive) || !keep_alive) {
                co_return;
            }
        }
    }

    /// Responds to a request that could not be read whole, when a response is due at all, and
    /// leaves the connection to be closed.
    asio::awaitable<void> reject_unreadable(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                            const error_code& error, std::uint64_t id) {
        if (error == beast::error::timeout) {
            // Also the normal end of an idle keep-alive connection.
            spdlog::debug("closed webhook connection {}: no complete request within {} ms", id,
                          options_.read_timeout.count());
            co_return;
        }
        if (is_connection_end(error) || stopped_) {
            co_return;
        }
        http::status status = http::status::bad_request;
        if (error == http::error::body_limit) {
            status = http::status::payload_too_large;
            spdlog::warn("rejected a webhook request on connection {}: body over {} bytes (413)",
                         id, options_.max_body_bytes);
        } else if (error == http::error::header_limit) {
            status = http::status::request_header_fields_too_large;
        } else {
            spdlog::debug("rejected a webhook request on connection {}: {}", id, error.message());
        }
        buffer.clear();
        if (co_await respond(stream, status, 11, false)) {
            co_await discard_and_close(stream);
        }
    }

    /// Returns the status for a request head that fails a check, or nothing when its body
    /// is to be read and handed over.
    std::optional<http::status> check_head(const http::request<http::string_body>& request,
                                           const std::string& peer) {
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
            spdlog::warn(
                "rejected a webhook request from {}{} with {} (401); only Telegram, through the "
                "reverse proxy, should reach this port{}",
                peer, forwarded_for(request), reason, held_back_suffix(*held_back));
        }
        return http::status::unauthorized;
    }

    /// Describes the client address that a reverse proxy forwarded, if any, for the log.
    static std::string forwarded_for(const http::request<http::string_body>& request) {
        std::string_view value = request["X-Real-IP"];
        if (value.empty()) {
            value = request["X-Forwarded-For"];
        }
        if (value.empty()) {
            return {};
        }
        return " (forwarded for " + printable(value, max_logged_forwarded_size) + ")";
    }

    asio::awaitable<http::status> handle_update(const std::string& body, const std::string& peer) {
        if (!detail::is_json_object(body)) {
            if (const auto held_back = invalid_body_log_.admit(clock_type::now())) {
                spdlog::warn(
                    "rejected a webhook request from {}: the body is not a JSON object "
                    "(400){}",
                    peer, held_back_suffix(*held_back));
            }
            co_return http::status::bad_request;
        }
        if (stopped_) {
            co_return http::status::service_unavailable;
        }
        webhook_verdict verdict = webhook_verdict::unavailable;
        try {
            verdict = co_await on_update_(body);
        } catch (const std::exception& failure) {
            spdlog::error("the webhook update handler failed: {}; responding 500", failure.what());
            co_return http::status::internal_server_error;
        }
        switch (verdict) {
            case webhook_verdict::accepted:
                co_return http::status::ok;
            case webhook_verdict::busy:
                co_return http::status::too_many_requests;
            case webhook_verdict::unavailable:
                co_return http::status::service_unavailable;
        }
        co_return http::status::internal_server_error;
    }

    /// Writes a response with no body for 200 and a one-line reason otherwise. Returns false
    /// when the write failed, after which the connection is done.
    asio::awaitable<bool> respond(beast::tcp_stream& stream, http::status status, unsigned version,
                                  bool keep_alive) {
        http::response<http::string_body> response{status, version};
        response.set(http::field::server, "tgsearch");
        if (status != http::status::ok) {
            response.set(http::field::content_type, "text/plain; charset=utf-8");
            response.body() = std::string(http::obsolete_reason(status)) + "\n";
        }
        if (status == http::status::method_not_allowed) {
            response.set(http::field::allow, "POST");
        } else if (status == http::status::too_many_requests) {
            response.set(http::field::retry_after, busy_retry_after);
        } else if (status == http::status::service_unavailable) {
            response.set(http::field::retry_after, unavailable_retry_after);
        }
        response.keep_alive(keep_alive && !stopped_);
        response.prepare_payload();
        stream.expires_after(options_.read_timeout);
        auto [error, size] = co_await http::async_write(stream, response, use_tuple);
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
    webhook_options options_;
    webhook_handler on_update_;
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
    log_limiter unauthorized_log_;
    log_limiter invalid_body_log_;
};

webhook_server::webhook_server(boost::asio::any_io_executor executor, webhook_options options,
                               webhook_handler on_update)
    : impl_(std::make_shared<impl>(std::move(executor), std::move(options), std::move(on_update))) {
}

webhook_server::~webhook_server() { impl_->stop(); }

void webhook_server::start() { impl_->start(); }

void webhook_server::stop() { impl_->stop(); }

std::uint16_t webhook_server::local_port() const { return impl_->local_port(); }

listen_endpoint parse_listen_endpoint(std::string_view text, std::string_view setting) {
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
    if (port.empty() || parse_error != std::errc() || end != port.data() + port.size() ||
        number == 0 || number > 65535) {
        throw invalid("the port must be a number from 1 to 65535");
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
