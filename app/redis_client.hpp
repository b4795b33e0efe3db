#pragma once

// A Redis client for Asio C++20 coroutines over TCP or a Unix socket. hiredis only formats
// commands and parses RESP2 replies; all I/O is Asio. Asio's socket types stay in
// redis_client.cpp.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace tgsearch {

/// Address of a Redis server and its login, as parsed from a `--redis` URL.
struct redis_endpoint {
    enum class transport { tcp, unix_socket };

    transport type = transport::tcp;
    std::string host;  ///< name or address, IPv6 without brackets; empty for a Unix socket
    std::uint16_t port = 6379;
    std::string socket_path;  ///< empty for TCP
    std::string username;     ///< empty: AUTH with the password alone (the default user)
    std::string password;     ///< empty: no AUTH. Never logged.
    int database = 0;         ///< sent with SELECT when not 0
    /// The URL with the password replaced by "****", for logs and errors.
    std::string display;
};

/// Parses `redis://[[user]:password@]host[:port][/db]` (port 6379 and db 0 by default) or
/// `unix:///path/to/redis.sock[?db=N]`. User and password may be percent-encoded. Throws
/// std::invalid_argument naming the URL, with the password masked, and the problem: another
/// scheme (`rediss://` gets "TLS to Redis is not supported; use a local Redis or a tunnel"), a
/// missing host or socket path, an invalid port or database number, an IPv6 address without
/// brackets, or an unknown query parameter.
redis_endpoint parse_redis_url(std::string_view url);

/// Replaces the password in the user info of a redis:// URL with "****". Works on the raw
/// text, so it also masks a URL that does not parse.
std::string mask_redis_url(std::string_view url);

/// One RESP2 reply.
struct redis_reply {
    enum class kind { status, error, integer, bulk, nil, array };

    kind type = kind::nil;
    std::string text;  ///< the string of a status, error or bulk reply
    std::int64_t integer = 0;
    std::vector<redis_reply> elements;  ///< the elements of an array reply

    bool is_error() const { return type == kind::error; }
    bool is_nil() const { return type == kind::nil; }
};

/// Renders a reply for logs and test failures, such as `integer 3` or `error "WRONGTYPE ..."`.
/// Bulk strings are cut after 80 bytes.
std::string describe_reply(const redis_reply& reply);

/// Failure of a request before all of its replies arrived. An error reply from Redis (such as
/// WRONGTYPE) is not one of these, because it arrives as a redis_reply of kind error.
struct redis_error {
    enum class kind {
        /// The client is waiting out its reconnect backoff and did not try to connect.
        not_connected,
        /// Resolving, connecting, or the connection's AUTH or SELECT failed.
        connect_failed,
        /// Redis rejected AUTH: wrong user name or password.
        auth_failed,
        /// Connecting, or writing and reading a request, took longer than its timeout. The
        /// request may have been carried out.
        timed_out,
        /// The connection broke during the request. The request may have been carried out.
        connection_lost,
        /// Redis sent bytes that are not RESP2. The connection is closed.
        protocol_error,
        /// close() was called.
        closed,
    };

    kind type = kind::connect_failed;
    std::string message;  ///< names the server (password masked) and what failed
};

/// Returns the name of an error kind, such as "timed_out", for logs and tests.
std::string_view to_string(redis_error::kind kind);

/// The value of a request that succeeded, or why it failed.
template <class T>
class redis_result {
public:
    redis_result(T value) : state_(std::move(value)) {}
    redis_result(redis_error error) : state_(std::move(error)) {}

    bool ok() const { return state_.index() == 0; }
    explicit operator bool() const { return ok(); }

    /// The value; only when ok().
    T& value() { return std::get<0>(state_); }
    const T& value() const { return std::get<0>(state_); }

    /// The error; only when !ok().
    const redis_error& error() const { return std::get<1>(state_); }

private:
    std::variant<T, redis_error> state_;
};

/// One command as its arguments, such as {"HSET", key, field, value}. Arguments are binary-safe.
using redis_command = std::vector<std::string>;

/// Timeouts and reconnect pacing of a redis_client.
struct redis_client_options {
    /// Bounds resolving, connecting, AUTH and SELECT together.
    std::chrono::milliseconds connect_timeout{1000};
    /// Bounds writing one pipeline and reading all of its replies.
    std::chrono::milliseconds command_timeout{2000};
    /// The wait before the first reconnect after a failed attempt. It doubles with every
    /// further failure up to `max_backoff`, and each wait is drawn at random from its upper
    /// half so that several clients do not retry in step.
    std::chrono::milliseconds min_backoff{100};
    std::chrono::milliseconds max_backoff{5000};
};

/// One connection to Redis that sends pipelines of commands and reads their replies in order.
///
/// Connects lazily on the first request, sending AUTH and SELECT on every (re)connect. After a
/// broken connection the next request reconnects at once; after a failed connect, requests
/// fail with not_connected without touching the network until the backoff has passed, so a
/// Redis that is down costs callers nothing. Requests from several coroutines run one after
/// another in the order they were made. Never throws across the coroutine boundary: every
/// failure comes back as a redis_error.
///
/// Not thread-safe: use it from one thread, the executor's. Destroy it only when no request
/// is in progress (call close() and let them finish).
class redis_client {
public:
    redis_client(boost::asio::any_io_executor executor, redis_endpoint endpoint,
                 redis_client_options options = {});
    ~redis_client();

    redis_client(const redis_client&) = delete;
    redis_client& operator=(const redis_client&) = delete;

    /// Sends `commands` in one write and returns their replies in the same order. A command
    /// that Redis rejects gives an error reply in its place, and the others still run. An
    /// empty batch returns no replies without connecting.
    boost::asio::awaitable<redis_result<std::vector<redis_reply>>> pipeline(
        std::vector<redis_command> commands);

    /// Sends one command and returns its reply.
    boost::asio::awaitable<redis_result<redis_reply>> command(redis_command command);

    /// Tells whether the connection is open now. False before the first request.
    bool connected() const;

    /// Drops the connection and makes every request in progress or waiting fail with
    /// `closed`, as will every later one.
    void close();

    const redis_endpoint& endpoint() const;

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace tgsearch
