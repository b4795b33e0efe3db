#include "app/bot_api_client.hpp"

#include "app/bot_api_protocol.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/verify_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <array>
#include <limits>
#include <optional>
#include <stdexcept>
#include <utility>

namespace tgsearch {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using detail::base_url;
using detail::bot_api_envelope;
using detail::check_method;
using detail::check_token;
using detail::parse_base_url;
using detail::scan_envelope;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

/// Maximum response body in bytes. getUpdates returns at most 100 updates, which with
/// 4096-character messages, their entities and replied-to messages come to a few MB (an
/// estimate). The limit leaves ample room but bounds what a broken server can make us buffer.
constexpr std::uint64_t max_response_body_bytes = 64ull * 1024 * 1024;
constexpr std::string_view max_response_body_text = "64 MiB";

/// Maximum response head in bytes. Beast's default is 8 KiB, and a proxy in front of the Bot
/// API may add headers of its own.
constexpr std::uint32_t max_response_header_bytes = 64 * 1024;

constexpr std::string_view user_agent = "tgsearch/0.1";

/// TCP keep-alive timing: the first probe after this long idle, then one probe per interval,
/// and the connection is dropped after `keep_alive_probes` unanswered ones. Linux starts
/// probing only after 2 hours by default, far longer than a long poll lasts.
constexpr int keep_alive_idle_seconds = 30;
constexpr int keep_alive_interval_seconds = 10;
constexpr int keep_alive_probes = 3;

/// Maximum size of an HTTP proxy's response to CONNECT, in bytes.
constexpr std::size_t max_connect_response_bytes = 16 * 1024;

int clamp_to_int(std::int64_t value) {
    return static_cast<int>(std::clamp<std::int64_t>(value, std::numeric_limits<int>::min(),
                                                     std::numeric_limits<int>::max()));
}

std::string describe_status(const http::response<http::string_body>& response) {
    std::string text = "HTTP " + std::to_string(response.result_int());
    std::string_view reason = response.reason();
    if (reason.empty()) {
        reason = http::obsolete_reason(response.result());
    }
    if (!reason.empty()) {
        text += ' ';
        text += reason;
    }
    return text;
}

api_result interpret_response(http::response<http::string_body>& response, std::string_view method,
                              std::string_view token) {
    api_result result;
    result.http_status = static_cast<int>(response.result_int());
    std::string body = std::move(response.body());
    bot_api_envelope envelope = scan_envelope(body);
    const bool success_status = result.http_status >= 200 && result.http_status < 300;

    if (envelope.is_response && envelope.ok && success_status) {
        result.kind = api_result::status::ok;
        result.body = std::move(body);
        return result;
    }

    result.kind = api_result::status::api_error;
    if (envelope.is_response && !envelope.ok) {
        result.error_code = clamp_to_int(envelope.error_code.value_or(result.http_status));
        result.description =
            envelope.description ? std::move(*envelope.description) : describe_status(response);
        result.retry_after = static_cast<std::int32_t>(
            std::clamp<std::int64_t>(envelope.retry_after, 0, std::numeric_limits<int>::max()));
        result.migrate_to_chat_id = envelope.migrate_to_chat_id;
    } else {
        result.error_code = result.http_status;
        result.description = "POST " + std::string(method) + ": " + describe_status(response);
        if (success_status) {
            result.description += " with a body that is not a Bot API response";
        }
    }
    result.description = redact_token(std::move(result.description), token);
    result.body = redact_token(std::move(body), token);
    return result;
}

/// Host name check of ssl::host_name_verification that also records a mismatch as the
/// verification error, so that the handshake failure reports why the certificate was rejected.
class verify_host_name {
public:
    explicit verify_host_name(const std::string& host) : check_(host) {}

    bool operator()(bool preverified, ssl::verify_context& context) {
        if (check_(preverified, context)) {
            return true;
        }
        // The check fails a chain OpenSSL accepted only at depth 0 and only on a name mismatch.
        if (preverified) {
            X509_STORE_CTX_set_error(context.native_handle(), X509_V_ERR_HOSTNAME_MISMATCH);
        }
        return false;
    }

private:
    ssl::host_name_verification check_;
};

std::string describe_handshake_error(const error_code& error, SSL* tls) {
    const long verify_result = SSL_get_verify_result(tls);
    if (verify_result != X509_V_OK) {
        return std::string("certificate verification failed: ") +
               X509_verify_cert_error_string(verify_result);
    }
    return error.message();
}

std::string describe_read_error(const error_code& error) {
    if (error == http::error::body_limit) {
        return "the response body exceeds " + std::string(max_response_body_text);
    }
    if (error == http::error::header_limit) {
        return "the response head exceeds " + std::to_string(max_response_header_bytes) + " bytes";
    }
    return error.message();
}

}  // namespace

struct bot_api_client::impl {
    /// Flags of the call in progress. The deadline timer's handler holds a weak reference, so a
    /// handler that runs after its call ended finds nothing and does nothing.
    struct call_state {
        bool timed_out = false;
        bool cancelled = false;
    };

    /// Outcome of a resolve, shared with the resolver's handler. getaddrinfo cannot be
    /// interrupted, so a timed-out or cancelled call stops waiting and leaves the handler to
    /// finish later on this shared state alone.
    struct resolve_state {
        explicit resolve_state(const asio::any_io_executor& executor)
            : wakeup(executor, std::chrono::steady_clock::time_point::max()) {}

        asio::steady_timer wakeup;
        error_code error;
        tcp::resolver::results_type endpoints;
        bool done = false;
    };

    /// Result of writing one request and reading its response.
    struct exchange_outcome {
        error_code error;
        bool during_write = false;
        bool response_started = false;  // some response bytes arrived before the error
        std::optional<http::response<http::string_body>> response;
        bool keep_alive = false;
    };

    impl(asio::any_io_executor executor, bot_api_endpoint endpoint)
        : executor_(std::move(executor)),
          token_(std::move(endpoint.token)),
          url_(parse_base_url(endpoint.base_url, token_)),
          proxy_(std::move(endpoint.proxy)),
          resolver_(executor_),
          deadline_timer_(executor_) {
        check_token(token_);
        if (url_.tls) {
            // tls_client with a floor of TLS 1.2 rather than tlsv12_client, which also caps the
            // version at 1.2 and so would rule out TLS 1.3.
            tls_context_.emplace(ssl::context::tls_client);
            SSL_CTX_set_min_proto_version(tls_context_->native_handle(), TLS1_2_VERSION);
            tls_context_->set_default_verify_paths();
            tls_context_->set_verify_mode(ssl::verify_peer);
        }
    }

    asio::awaitable<api_result> call(std::string method, std::string json_body,
                                     std::chrono::milliseconds timeout) {
        if (current_call_) {
            throw std::logic_error("bot_api_client::call: another call is in progress");
        }
        auto state = std::make_shared<call_state>();
        current_call_ = state;
        start_deadline(timeout, state);

        http::request<http::string_body> request{
            http::verb::post, url_.path_prefix + "/bot" + token_ + "/" + method, 11};
        request.set(http::field::host, url_.host_header);
        request.set(http::field::user_agent, user_agent);
        request.set(http::field::content_type, "application/json");
        request.set(http::field::connection, "keep-alive");
        request.body() = std::move(json_body);
        request.prepare_payload();

        api_result result;
        try {
            result = co_await perform(method, request, *state, timeout);
        } catch (...) {
            finish_call();
            throw;
        }
        finish_call();
        co_return result;
    }

    void cancel() {
        if (current_call_) {
            current_call_->cancelled = true;
        }
        abort_io();
    }

private:
    asio::awaitable<api_result> perform(const std::string& method,
                                        const http::request<http::string_body>& request,
                                        call_state& state, std::chrono::milliseconds timeout) {
        for (;;) {
            const bool reused = connection_open();
            if (!reused) {
                if (auto failure = co_await connect(method, state, timeout)) {
                    co_return std::move(*failure);
                }
            }

            exchange_outcome outcome;
            if (url_.tls) {
                outcome = co_await exchange(*tls_stream_, request);
            } else {
                outcome = co_await exchange(*plain_stream_, request);
            }

            if (outcome.error) {
                close_connection();
                if (auto stopped = stop_result(state, method, timeout)) {
                    co_return std::move(*stopped);
                }
                // A server may close an idle keep-alive connection at any moment, and the
                // client learns it only on the next request. When no response byte came
                // back, the server did not respond to this request, so it is sent once more
                // on a fresh connection. The second attempt is never on a reused one.
                // NOTE: a server that read the request, acted on it and then closed without
                // replying would see it twice. Telegram is not known to do that.
                if (reused && !outcome.response_started) {
                    continue;
                }
                co_return transport_failure(
                    method, (outcome.during_write ? "failed to send the request: "
                                                  : "failed to read the response: ") +
                                describe_read_error(outcome.error));
            }

            if (!outcome.keep_alive) {
                close_connection();
            }
            co_return interpret_response(*outcome.response, method, token_);
        }
    }

    // Returns the failure, or nothing once the connection is ready.
    asio::awaitable<std::optional<api_result>> connect(const std::string& method, call_state& state,
                                                       std::chrono::milliseconds timeout) {
        auto resolved = std::make_shared<resolve_state>(executor_);
        pending_resolve_ = resolved;
        // Through a proxy only the proxy's own name is resolved here; the proxy resolves the
        // API host.
        const std::string& connect_host = proxy_ ? proxy_->host : url_.host;
        const std::string& connect_port = proxy_ ? proxy_->port : url_.port;
        resolver_.async_resolve(
            connect_host, connect_port,
            [resolved](error_code error, tcp::resolver::results_type endpoints) {
                resolved->error = error;
                resolved->endpoints = std::move(endpoints);
                resolved->done = true;
                resolved->wakeup.cancel();
            });
        if (!resolved->done) {
            co_await resolved->wakeup.async_wait(use_tuple);
        }
        if (auto stopped = stop_result(state, method, timeout)) {
            co_return stopped;
        }
        if (resolved->error) {
            co_return transport_failure(
                method, "failed to resolve " + std::string(proxy_ ? "proxy " : "") + connect_host +
                            ": " + resolved->error.message());
        }

        buffer_.clear();
        beast::tcp_stream* stream = nullptr;
        if (url_.tls) {
            tls_stream_.emplace(executor_, *tls_context_);
            stream = &beast::get_lowest_layer(*tls_stream_);
        } else {
            plain_stream_.emplace(executor_);
            stream = &*plain_stream_;
        }

        // Checked before each address, so that a timeout or cancel() that closed the socket
        // between two attempts does not let the next address be tried.
        const auto connect_condition = [state = current_call_](const error_code&,
                                                               const tcp::endpoint&) {
            return !state->timed_out && !state->cancelled;
        };
        auto [connect_error, endpoint] =
            co_await stream->async_connect(resolved->endpoints, connect_condition, use_tuple);
        if (auto stopped = stop_result(state, method, timeout)) {
            co_return stopped;
        }
        if (connect_error) {
            close_connection();
            const std::string target = proxy_ ? "proxy " + proxy_->display : url_.host_header;
            co_return transport_failure(
                method, "failed to connect to " + target + ": " + connect_error.message());
        }
        set_socket_options(stream->socket());

        if (proxy_) {
            if (auto failure = co_await proxy_handshake(method, state, timeout, *stream)) {
                co_return failure;
            }
        }

        if (url_.tls) {
            if (auto failure = co_await handshake(method, state, timeout)) {
                co_return failure;
            }
        }
        co_return std::nullopt;
    }

    // Both options are optimisations: a request is one write, and keep-alive probes notice a
    // peer that vanished while the connection was idle. A failure to set them is not worth
    // failing a call.
    static void set_socket_options(tcp::socket& socket) {
        error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        socket.set_option(asio::socket_base::keep_alive(true), ignored);
        socket.set_option(asio::detail::socket_option::integer<IPPROTO_TCP, TCP_KEEPIDLE>(
                              keep_alive_idle_seconds),
                          ignored);
        socket.set_option(asio::detail::socket_option::integer<IPPROTO_TCP, TCP_KEEPINTVL>(
                              keep_alive_interval_seconds),
                          ignored);
        socket.set_option(
            asio::detail::socket_option::integer<IPPROTO_TCP, TCP_KEEPCNT>(keep_alive_probes),
            ignored);
    }

    // Opens a tunnel to the API host through the proxy. Returns the failure, or nothing once
    // the stream carries the API connection.
    asio::awaitable<std::optional<api_result>> proxy_handshake(const std::string& method,
                                                               call_state& state,
                                                               std::chrono::milliseconds timeout,
                                                               beast::tcp_stream& stream) {
        std::string failure;
        if (proxy_->type == proxy_config::protocol::socks5) {
            failure = co_await socks5_handshake(stream.socket());
        } else {
            failure = co_await http_connect_handshake(stream.socket());
        }
        if (auto stopped = stop_result(state, method, timeout)) {
            co_return stopped;
        }
        if (!failure.empty()) {
            close_connection();
            co_return transport_failure(method, "proxy " + proxy_->display + ": " + failure);
        }
        co_return std::nullopt;
    }

    // Returns an empty string on success, else what went wrong.
    asio::awaitable<std::string> socks5_handshake(tcp::socket& socket) {
        const bool with_password = !proxy_->username.empty();
        const std::string greeting = detail::socks5_greeting(with_password);
        auto [greeting_error, greeting_size] =
            co_await asio::async_write(socket, asio::buffer(greeting), use_tuple);
        if (greeting_error) {
            co_return "failed to send the SOCKS5 greeting: " + greeting_error.message();
        }
        std::array<std::uint8_t, 2> choice{};
        auto [choice_error, choice_size] =
            co_await asio::async_read(socket, asio::buffer(choice), use_tuple);
        if (choice_error) {
            co_return "failed to read the SOCKS5 method choice: " + choice_error.message();
        }
        if (choice[0] != 5) {
            co_return std::string("the proxy does not speak SOCKS5");
        }
        if (choice[1] == 2 && with_password) {
            const std::string login =
                detail::socks5_password_request(proxy_->username, proxy_->password);
            auto [login_error, login_size] =
                co_await asio::async_write(socket, asio::buffer(login), use_tuple);
            if (login_error) {
                co_return "failed to send the SOCKS5 user name: " + login_error.message();
            }
            std::array<std::uint8_t, 2> status{};
            auto [status_error, status_size] =
                co_await asio::async_read(socket, asio::buffer(status), use_tuple);
            if (status_error) {
                co_return "failed to read the SOCKS5 login status: " + status_error.message();
            }
            if (status[1] != 0) {
                co_return std::string(
                    "the SOCKS5 proxy rejected the user name or password; check them in "
                    "--proxy");
            }
        } else if (choice[1] != 0) {
            co_return std::string(
                with_password ? "the SOCKS5 proxy accepts neither no authentication nor a "
                                "user name and password"
                              : "the SOCKS5 proxy requires authentication; add user:password@ "
                                "to the proxy URL");
        }

        const std::string connect = detail::socks5_connect_request(
            url_.host, static_cast<std::uint16_t>(std::stoi(url_.port)));
        auto [connect_error, connect_size] =
            co_await asio::async_write(socket, asio::buffer(connect), use_tuple);
        if (connect_error) {
            co_return "failed to send the SOCKS5 CONNECT request: " + connect_error.message();
        }
        // VER, REP, RSV, ATYP, and the first byte of the bound address.
        std::array<std::uint8_t, 5> reply{};
        auto [reply_error, reply_size] =
            co_await asio::async_read(socket, asio::buffer(reply), use_tuple);
        if (reply_error) {
            co_return "failed to read the SOCKS5 CONNECT reply: " + reply_error.message();
        }
        if (reply[0] != 5) {
            co_return std::string("the proxy does not speak SOCKS5");
        }
        if (reply[1] != 0) {
            co_return "the SOCKS5 proxy could not connect to " + url_.host + ":" + url_.port +
                ": " + std::string(detail::socks5_reply_text(reply[1]));
        }
        const std::size_t address_size = detail::socks5_reply_address_size(reply[3], reply[4]);
        if (address_size == 0) {
            co_return std::string("the SOCKS5 proxy sent an unknown address type");
        }
        // One byte of the address is already read.
        std::array<std::uint8_t, 1 + 255 + 2> rest{};
        auto [rest_error, rest_size] = co_await asio::async_read(
            socket, asio::buffer(rest.data(), address_size - 1), use_tuple);
        if (rest_error) {
            co_return "failed to read the SOCKS5 CONNECT reply: " + rest_error.message();
        }
        co_return std::string();
    }

    // Returns an empty string on success, else what went wrong.
    asio::awaitable<std::string> http_connect_handshake(tcp::socket& socket) {
        // CONNECT names the port even when it is the scheme's default.
        const std::string authority =
            (url_.host.find(':') != std::string::npos ? "[" + url_.host + "]" : url_.host) + ":" +
            url_.port;
        const std::string request =
            detail::http_connect_request(authority, proxy_->username, proxy_->password);
        auto [write_error, written] =
            co_await asio::async_write(socket, asio::buffer(request), use_tuple);
        if (write_error) {
            co_return "failed to send CONNECT: " + write_error.message();
        }

        std::string head;
        auto [read_error, head_size] = co_await asio::async_read_until(
            socket, asio::dynamic_buffer(head, max_connect_response_bytes), "\r\n\r\n", use_tuple);
        if (read_error) {
            co_return "failed to read the response to CONNECT: " + read_error.message();
        }

        const int status = detail::http_connect_status(head);
        if (status == 407) {
            co_return std::string(
                proxy_->username.empty()
                    ? "the HTTP proxy requires authentication (407); add user:password@ to the "
                      "proxy URL"
                    : "the HTTP proxy rejected the user name or password (407)");
        }
        if (status < 200 || status > 299) {
            co_return "the HTTP proxy refused CONNECT to " + authority + ": " +
                detail::http_status_line(head);
        }
        // The API server speaks only after the request (or the TLS ClientHello), so bytes
        // after the proxy's head would be lost or misread.
        if (head.size() != head_size) {
            co_return std::string("the HTTP proxy sent data after its response to CONNECT");
        }
        co_return std::string();
    }

    asio::awaitable<std::optional<api_result>> handshake(const std::string& method,
                                                         call_state& state,
                                                         std::chrono::milliseconds timeout) {
        SSL* tls = tls_stream_->native_handle();
        // RFC 6066 allows only host names in SNI, not IP literals.
        if (url_.host_is_name && SSL_set_tlsext_host_name(tls, url_.host.c_str()) != 1) {
            close_connection();
            co_return transport_failure(method, "failed to set the TLS server name " + url_.host);
        }
        tls_stream_->set_verify_callback(verify_host_name(url_.host));

        auto [handshake_error] =
            co_await tls_stream_->async_handshake(ssl::stream_base::client, use_tuple);
        if (auto stopped = stop_result(state, method, timeout)) {
            co_return stopped;
        }
        if (handshake_error) {
            std::string reason = describe_handshake_error(handshake_error, tls);
            close_connection();
            co_return transport_failure(
                method, "TLS handshake with " + url_.host_header + " failed: " + reason);
        }
        co_return std::nullopt;
    }

    template <class Stream>
    asio::awaitable<exchange_outcome> exchange(Stream& stream,
                                               const http::request<http::string_body>& request) {
        exchange_outcome outcome;
        auto [write_error, bytes_written] = co_await http::async_write(stream, request, use_tuple);
        if (write_error) {
            outcome.error = write_error;
            outcome.during_write = true;
            co_return outcome;
        }

        http::response_parser<http::string_body> parser;
        parser.header_limit(max_response_header_bytes);
        parser.body_limit(max_response_body_bytes);
        auto [read_error, bytes_read] =
            co_await http::async_read(stream, buffer_, parser, use_tuple);
        if (read_error) {
            outcome.error = read_error;
            outcome.response_started = parser.got_some() || buffer_.size() != 0;
            co_return outcome;
        }
        // Bytes left after the response would be taken as the start of the next one.
        outcome.keep_alive = parser.get().keep_alive() && !parser.need_eof() && buffer_.size() == 0;
        outcome.response = parser.release();
        co_return outcome;
    }

    void start_deadline(std::chrono::milliseconds timeout,
                        const std::shared_ptr<call_state>& state) {
        deadline_timer_.expires_after(timeout);
        deadline_timer_.async_wait(
            [this, weak_state = std::weak_ptr<call_state>(state)](error_code error) {
                const auto state = weak_state.lock();
                // A live state means its call is still running, so `this` is alive too.
                if (error || !state) {
                    return;
                }
                state->timed_out = true;
                abort_io();
            });
    }

    void finish_call() {
        deadline_timer_.cancel();
        current_call_.reset();
    }

    // Returns the result of a call that cancel() or the deadline stopped, if either did.
    std::optional<api_result> stop_result(const call_state& state, const std::string& method,
                                          std::chrono::milliseconds timeout) {
        if (!state.cancelled && !state.timed_out) {
            return std::nullopt;
        }
        close_connection();
        api_result result;
        if (state.cancelled) {
            result.kind = api_result::status::cancelled;
            result.description = "POST " + method + ": cancelled";
        } else {
            result.kind = api_result::status::transport_error;
            result.description =
                "POST " + method + ": timed out after " + std::to_string(timeout.count()) + " ms";
        }
        return result;
    }

    api_result transport_failure(const std::string& method, std::string reason) const {
        api_result result;
        result.kind = api_result::status::transport_error;
        result.description = redact_token("POST " + method + ": " + std::move(reason), token_);
        return result;
    }

    beast::tcp_stream* current_stream() {
        if (url_.tls) {
            return tls_stream_ ? &beast::get_lowest_layer(*tls_stream_) : nullptr;
        }
        return plain_stream_ ? &*plain_stream_ : nullptr;
    }

    bool connection_open() {
        beast::tcp_stream* stream = current_stream();
        return stream != nullptr && stream->socket().is_open();
    }

    // Closes the socket, which makes every operation pending on it complete with an error. The
    // stream objects stay until the next connect replaces them, because a pending operation
    // may still refer to them. No TLS close_notify is sent, since the connection is dropped
    // either way.
    void close_connection() {
        if (beast::tcp_stream* stream = current_stream()) {
            stream->close();
        }
    }

    // Makes the operation in progress, whichever it is, complete at once.
    void abort_io() {
        resolver_.cancel();
        if (auto resolved = pending_resolve_.lock()) {
            resolved->wakeup.cancel();
        }
        close_connection();
    }

    asio::any_io_executor executor_;
    std::string token_;
    base_url url_;
    std::optional<proxy_config> proxy_;
    std::optional<ssl::context> tls_context_;
    tcp::resolver resolver_;
    asio::steady_timer deadline_timer_;
    std::optional<beast::tcp_stream> plain_stream_;
    std::optional<beast::ssl_stream<beast::tcp_stream>> tls_stream_;
    beast::flat_buffer buffer_;
    std::shared_ptr<call_state> current_call_;
    std::weak_ptr<resolve_state> pending_resolve_;
};

bot_api_client::bot_api_client(boost::asio::any_io_executor executor, bot_api_endpoint endpoint)
    : impl_(std::make_unique<impl>(std::move(executor), std::move(endpoint))) {}

bot_api_client::~bot_api_client() = default;

boost::asio::awaitable<api_result> bot_api_client::call(std::string_view method,
                                                        std::string json_body,
                                                        std::chrono::milliseconds timeout) {
    // Not a coroutine itself: the method name is checked and copied now, while the caller's
    // string is certainly alive, and the coroutine body owns its copy.
    check_method(method);
    return impl_->call(std::string(method), std::move(json_body), timeout);
}

void bot_api_client::cancel() { impl_->cancel(); }

}  // namespace tgsearch
