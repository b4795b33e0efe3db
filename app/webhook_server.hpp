#pragma once

// The HTTP servers of the bot: the one that receives Telegram's webhook requests, one Update
// per POST, and the one that serves Prometheus metrics and the health check. Both speak plain
// HTTP/1.1 through one implementation, with the same limits on connections, request sizes and
// time. The webhook server is meant to sit behind a TLS reverse proxy such as nginx or Caddy,
// which terminates the HTTPS connection that Telegram makes. Beast stays out of this header;
// only webhook_server.cpp compiles it.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace tgsearch {

namespace detail {
/// The server both webhook_server and metrics_server run on.
class http_server;
}  // namespace detail

/// Maximum webhook request body in bytes. One Update is a message of at most 4096 characters
/// with its entities and a replied-to message, a few tens of kB at most (an estimate).
constexpr std::size_t default_webhook_max_body_bytes = 1024 * 1024;

/// Concurrent connections the server serves by default. Telegram opens at most
/// setWebhook's max_connections (1 to 100) at once, and a reverse proxy adds a few of its own,
/// so the rest of the margin absorbs clients that are not Telegram.
constexpr std::size_t default_webhook_max_connections = 256;

/// Settings of a webhook_server, and the URL the bot registers with setWebhook.
struct webhook_options {
    /// Public HTTPS URL that Telegram posts to, registered with setWebhook. The server itself
    /// reads only `path`, because the reverse proxy in front of it terminates TLS.
    std::string url;
    /// IPv4 or IPv6 address to listen on, without brackets: "127.0.0.1", "::1", "0.0.0.0".
    std::string listen_address = "127.0.0.1";
    /// TCP port to listen on; 0 picks a free port, which local_port() then returns.
    std::uint16_t port = 0;
    /// Request path that receives updates: the path of the webhook URL, such as "/telegram".
    /// The query part of a request target is ignored when the path is compared.
    std::string path = "/telegram";
    /// Value that every request must carry in X-Telegram-Bot-Api-Secret-Token. Never logged.
    std::string secret_token;
    /// Larger request bodies are answered with 413 and the connection is closed.
    std::size_t max_body_bytes = default_webhook_max_body_bytes;
    /// Time a client has to send one whole request, and the server to write its response.
    /// An idle keep-alive connection is closed after this long too.
    std::chrono::milliseconds read_timeout{30'000};
    /// Connections served at once. Further ones wait in the listen backlog until one closes.
    std::size_t max_connections = default_webhook_max_connections;
};

/// Outcome of the update handler, which sets the status of the response to Telegram. Telegram
/// sends the same update again after any status other than 2xx.
enum class webhook_verdict {
    /// handled by the bot: 200 with an empty body, after which Telegram forgets the update
    accepted,
    busy,         ///< no room for it now: 429 with Retry-After, so Telegram sends it later
    unavailable,  ///< the bot is shutting down: 503 with Retry-After
};

/// Receives the body of one webhook request, an Update object that parsed as a JSON object,
/// and completes once the bot has handled it. The response waits for it, so that Telegram
/// never sees an unfinished update confirmed.
using webhook_handler =
    std::function<boost::asio::awaitable<webhook_verdict>(std::string update_json)>;

/// HTTP/1.1 server for Telegram's webhook requests, built on Asio coroutines and Beast.
///
/// Responds to a POST on `options.path` that carries the right secret token with the
/// handler's verdict. Every other request gets an error status and never reaches the handler:
/// - 401 for a missing or wrong secret, logged at most once per minute with the peer address;
/// - 404 for another path, and 405 for another method;
/// - 413 for a body over the limit, and 431 for a header over 16 KiB;
/// - 400 for a body that is not a JSON object, or a request that is not valid HTTP.
/// A response to a HEAD request, such as the 405 for HEAD on the webhook path, has no body.
///
/// Keeps connections alive between requests when the client asks for it. Sends "100 Continue"
/// to "Expect: 100-continue" only after the header passed the checks. Closes a connection
/// whose request takes longer than `options.read_timeout`.
///
/// The handler runs on the server's executor, inside the coroutine that serves its
/// connection, so it must not block; with an io_context run by one thread the handler calls
/// never overlap. A handler that throws gets the request answered with 500.
class webhook_server {
public:
    /// Stores the settings; nothing listens before start(). `executor` must be a strand when
    /// its io_context runs on more than one thread.
    webhook_server(boost::asio::any_io_executor executor, webhook_options options,
                   webhook_handler on_update);

    /// Stops the server as stop() does. Destroy it on its executor's thread, or once the
    /// executor no longer runs, so that no handler call is in progress.
    ~webhook_server();

    webhook_server(const webhook_server&) = delete;
    webhook_server& operator=(const webhook_server&) = delete;

    /// Binds the listen address and starts accepting connections. Throws
    /// boost::system::system_error naming the address and port when the address is invalid or
    /// cannot be bound (for example, the port is in use), and std::logic_error when called
    /// twice. Call it on the executor's thread or before the executor runs.
    void start();

    /// Stops accepting, closes every connection and makes later requests never reach the
    /// handler. A request that is being read gets no response, so Telegram sends it again.
    /// Safe to call from any thread and more than once; the sockets close on the executor.
    void stop();

    /// Port the server listens on, useful after binding port 0. Valid after start().
    std::uint16_t local_port() const;

private:
    std::shared_ptr<detail::http_server> server_;
};

/// Default bound on the concurrent connections of a metrics_server. A Prometheus server
/// scrapes over one keep-alive connection, and a health monitor opens one now and then.
constexpr std::size_t default_metrics_max_connections = 16;

/// Settings of a metrics_server.
struct metrics_server_options {
    /// IPv4 or IPv6 address to listen on, without brackets.
    std::string listen_address = "127.0.0.1";
    /// TCP port to listen on. With 0 the server picks a free port, which local_port() returns.
    std::uint16_t port = 0;
    /// Time a client has to send one whole request, and the server to write its response.
    /// An idle keep-alive connection is closed after this long too.
    std::chrono::milliseconds read_timeout{30'000};
    /// Connections served at once. Further ones wait in the listen backlog until one closes.
    std::size_t max_connections = default_metrics_max_connections;
};

/// A response of a metrics_server route.
struct http_text_response {
    /// HTTP status code, such as 200 or 503.
    unsigned status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
};

/// Builds the response to a GET or HEAD of one path. Runs on the server's executor, so it must
/// be quick and must not block.
using http_get_handler = std::function<http_text_response()>;

/// HTTP/1.1 server that serves GET and HEAD requests from handlers by path, such as
/// "/metrics" and "/healthz". It runs on the same code as webhook_server, with its limits:
/// bounded connections, a read timeout per request, keep-alive, and at most 16 KiB of request
/// head and body.
///
/// Responds to a GET of a path in `routes` (the query part of the target is ignored) with the
/// handler's response, and to a HEAD with the same status and headers but no body. Other
/// paths get 404, and other methods on a known path 405 with "Allow: GET, HEAD". A handler
/// that throws gets the request answered with 500. No response to HEAD has a body.
class metrics_server {
public:
    /// Stores the settings. Nothing listens before start(). `executor` must be a strand when
    /// its io_context runs on more than one thread. Throws std::invalid_argument when a
    /// route's path does not start with "/".
    metrics_server(boost::asio::any_io_executor executor, metrics_server_options options,
                   std::map<std::string, http_get_handler, std::less<>> routes);

    /// Stops the server as stop() does. Destroy it on its executor's thread, or once the
    /// executor no longer runs, so that no handler call is in progress.
    ~metrics_server();

    metrics_server(const metrics_server&) = delete;
    metrics_server& operator=(const metrics_server&) = delete;

    /// Binds the listen address, logs it with the port bound at info, and starts accepting
    /// connections. Throws as webhook_server::start does.
    void start();

    /// Stops accepting and closes every connection. Safe to call from any thread and more than
    /// once. The sockets close on the executor.
    void stop();

    /// Port the server listens on, useful after binding port 0. Valid after start().
    std::uint16_t local_port() const;

private:
    std::shared_ptr<detail::http_server> server_;
};

/// Address and port of --listen.
struct listen_endpoint {
    std::string address;  ///< IPv4 or IPv6 literal, without brackets
    std::uint16_t port = 0;
};

/// Ports that parse_listen_endpoint accepts.
enum class listen_port {
    /// 1 to 65535: the webhook server, whose port the reverse proxy in front of it must know.
    fixed,
    /// 0 to 65535, where 0 makes the server pick a free port and log it: the metrics server,
    /// which tests start on port 0.
    fixed_or_any,
};

/// Parses `text` of the form "ADDR:PORT", where ADDR is an IPv4 address or an IPv6 address in
/// brackets ("127.0.0.1:8080", "[::1]:8080") and PORT is a number that `ports` allows. Throws
/// std::invalid_argument naming `setting` (such as "--listen"), `text` and the expected form.
listen_endpoint parse_listen_endpoint(std::string_view text, std::string_view setting = "--listen",
                                      listen_port ports = listen_port::fixed);

/// Generates a secret token for setWebhook: 32 bytes from OpenSSL's CSPRNG in base64url
/// without padding, 43 characters of A-Z, a-z, 0-9, '_' and '-'. Throws std::runtime_error
/// when the CSPRNG fails.
std::string make_webhook_secret();

}  // namespace tgsearch
