#include "app/redis_client.hpp"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>
#include <sys/un.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <climits>
#include <deque>
#include <limits>
#include <optional>
#include <random>
#include <stdexcept>

namespace tgsearch {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using clock_type = std::chrono::steady_clock;
using generic_socket = asio::generic::stream_protocol::socket;
using tcp = asio::ip::tcp;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

constexpr std::uint16_t default_port = 6379;

/// Bytes read from the socket at a time. Larger replies take several reads.
constexpr std::size_t read_chunk_bytes = 16 * 1024;

/// Maximum bytes of a bulk string that describe_reply shows.
constexpr std::size_t described_bulk_bytes = 80;

[[noreturn]] void reject_url(std::string_view url, const std::string& problem) {
    throw std::invalid_argument("invalid Redis URL \"" + mask_redis_url(url) + "\": " + problem);
}

std::optional<std::string> percent_decode(std::string_view text) {
    std::string decoded;
    decoded.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            decoded += text[i];
            continue;
        }
        unsigned value = 0;
        if (i + 2 >= text.size()) {
            return std::nullopt;
        }
        const auto [end, error] =
            std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
        if (error != std::errc() || end != text.data() + i + 3) {
            return std::nullopt;
        }
        decoded += static_cast<char>(value);
        i += 2;
    }
    return decoded;
}

/// Parses a whole string of decimal digits into [0, max].
std::optional<std::int64_t> parse_decimal(std::string_view text, std::int64_t max) {
    if (text.empty() || text.size() > 18 ||
        text.find_first_not_of("0123456789") != std::string_view::npos) {
        return std::nullopt;
    }
    std::int64_t value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    if (value > max) {
        return std::nullopt;
    }
    return value;
}

int parse_database(std::string_view url, std::string_view text) {
    const auto database = parse_decimal(text, std::numeric_limits<int>::max());
    if (!database) {
        reject_url(url, "the database \"" + std::string(text) + "\" is not a number from 0 to " +
                            std::to_string(std::numeric_limits<int>::max()));
    }
    return static_cast<int>(*database);
}

/// Splits "user:password" into the endpoint's user name and password.
void parse_user_info(std::string_view url, std::string_view user_info, redis_endpoint& endpoint) {
    const std::size_t colon = user_info.find(':');
    if (colon == std::string_view::npos) {
        reject_url(url,
                   "the user info has no ':' before the password; write redis://:password@host "
                   "for a password alone or redis://user:password@host");
    }
    const auto username = percent_decode(user_info.substr(0, colon));
    const auto password = percent_decode(user_info.substr(colon + 1));
    if (!username || !password) {
        reject_url(url, "the user name or password has an invalid percent-encoding");
    }
    if (password->empty()) {
        reject_url(url, "the password after ':' is empty");
    }
    endpoint.username = *username;
    endpoint.password = *password;
}

void parse_host_port(std::string_view url, std::string_view authority, redis_endpoint& endpoint) {
    std::string_view port_text;
    if (authority.starts_with('[')) {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos) {
            reject_url(url, "the IPv6 address has no closing ']'");
        }
        endpoint.host = std::string(authority.substr(1, close - 1));
        const std::string_view rest = authority.substr(close + 1);
        if (!rest.empty()) {
            if (rest[0] != ':') {
                reject_url(url, "expected ':' and a port after the IPv6 address");
            }
            port_text = rest.substr(1);
            if (port_text.empty()) {
                reject_url(url, "the port after ':' is empty");
            }
        }
    } else {
        const std::size_t colon = authority.find(':');
        if (colon != std::string_view::npos &&
            authority.find(':', colon + 1) != std::string_view::npos) {
            reject_url(url, "an IPv6 address needs brackets, as in redis://[::1]:6379");
        }
        endpoint.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) {
            port_text = authority.substr(colon + 1);
            if (port_text.empty()) {
                reject_url(url, "the port after ':' is empty");
            }
        }
    }
    if (endpoint.host.empty()) {
        reject_url(url, "the host is missing");
    }
    if (!port_text.empty()) {
        const auto port = parse_decimal(port_text, 65535);
        if (!port || *port == 0) {
            reject_url(
                url, "the port \"" + std::string(port_text) + "\" is not a number from 1 to 65535");
        }
        endpoint.port = static_cast<std::uint16_t>(*port);
    }
}

redis_endpoint parse_tcp_url(std::string_view url, std::string_view rest) {
    redis_endpoint endpoint;
    endpoint.type = redis_endpoint::transport::tcp;
    endpoint.port = default_port;
    if (rest.find_first_of("?#") != std::string_view::npos) {
        reject_url(url, "a query or fragment is not supported; give the database as the path");
    }
    // The password may contain '/', so the user info ends at the last '@'.
    const std::size_t at = rest.rfind('@');
    if (at != std::string_view::npos) {
        parse_user_info(url, rest.substr(0, at), endpoint);
        rest.remove_prefix(at + 1);
    }
    const std::size_t slash = rest.find('/');
    parse_host_port(url, rest.substr(0, slash), endpoint);
    if (slash != std::string_view::npos) {
        const std::string_view path = rest.substr(slash + 1);
        if (!path.empty()) {
            endpoint.database = parse_database(url, path);
        }
    }
    return endpoint;
}

redis_endpoint parse_unix_url(std::string_view url, std::string_view rest) {
    redis_endpoint endpoint;
    endpoint.type = redis_endpoint::transport::unix_socket;
    if (rest.find('#') != std::string_view::npos) {
        reject_url(url, "a fragment is not supported");
    }
    std::string_view query;
    if (const std::size_t question = rest.find('?'); question != std::string_view::npos) {
        query = rest.substr(question + 1);
        rest = rest.substr(0, question);
    }

    if (const std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
        parse_user_info(url, rest.substr(0, at), endpoint);
        rest.remove_prefix(at + 1);
    }
    if (!rest.starts_with('/')) {
        reject_url(url, "expected an absolute socket path, as in unix:///run/redis/redis.sock");
    }
    const auto path = percent_decode(rest);
    if (!path) {
        reject_url(url, "the socket path has an invalid percent-encoding");
    }
    if (path->size() >= sizeof(sockaddr_un::sun_path)) {
        reject_url(url, "the socket path is longer than " +
                            std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes");
    }
    endpoint.socket_path = *path;

    while (!query.empty()) {
        const std::size_t amp = query.find('&');
        const std::string_view parameter = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (parameter.starts_with("db=")) {
            endpoint.database = parse_database(url, parameter.substr(3));
        } else {
            reject_url(url, "unknown query parameter \"" + std::string(parameter) +
                                "\"; only db=N is supported");
        }
    }
    return endpoint;
}

redis_reply convert_reply(const redisReply& raw) {
    redis_reply reply;
    switch (raw.type) {
        case REDIS_REPLY_STATUS:
            reply.type = redis_reply::kind::status;
            reply.text.assign(raw.str, raw.len);
            break;
        case REDIS_REPLY_ERROR:
            reply.type = redis_reply::kind::error;
            reply.text.assign(raw.str, raw.len);
            break;
        case REDIS_REPLY_INTEGER:
            reply.type = redis_reply::kind::integer;
            reply.integer = raw.integer;
            break;
        case REDIS_REPLY_STRING:
            reply.type = redis_reply::kind::bulk;
            reply.text.assign(raw.str, raw.len);
            break;
        case REDIS_REPLY_ARRAY:
            reply.type = redis_reply::kind::array;
            reply.elements.reserve(raw.elements);
            for (std::size_t i = 0; i < raw.elements; ++i) {
                reply.elements.push_back(convert_reply(*raw.element[i]));
            }
            break;
        default:  // REDIS_REPLY_NIL, the only other type RESP2 has
            reply.type = redis_reply::kind::nil;
            break;
    }
    return reply;
}

struct reader_deleter {
    void operator()(redisReader* reader) const { redisReaderFree(reader); }
};

/// Formats commands into RESP bytes. Returns false when hiredis fails, which it does only when
/// out of memory.
bool append_command(std::string& out, const redis_command& command) {
    std::vector<const char*> arguments;
    std::vector<std::size_t> lengths;
    arguments.reserve(command.size());
    lengths.reserve(command.size());
    for (const std::string& argument : command) {
        arguments.push_back(argument.data());
        lengths.push_back(argument.size());
    }
    char* formatted = nullptr;
    const int size = redisFormatCommandArgv(&formatted, static_cast<int>(command.size()),
                                            arguments.data(), lengths.data());
    if (size < 0 || formatted == nullptr) {
        return false;
    }
    out.append(formatted, static_cast<std::size_t>(size));
    redisFreeCommand(formatted);
    return true;
}

}  // namespace

std::string mask_redis_url(std::string_view url) {
    const std::size_t scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos) {
        return std::string(url);
    }
    const std::size_t start = scheme_end + 3;
    const std::size_t at = url.rfind('@');
    if (at == std::string_view::npos || at < start) {
        return std::string(url);
    }
    const std::string_view user_info = url.substr(start, at - start);
    const std::size_t colon = user_info.find(':');
    // Without a colon the whole user info may be a password, as some clients read it.
    const std::string_view kept =
        colon == std::string_view::npos ? std::string_view() : user_info.substr(0, colon + 1);
    return std::string(url.substr(0, start)) + std::string(kept) + "****" +
           std::string(url.substr(at));
}

redis_endpoint parse_redis_url(std::string_view url) {
    const std::size_t scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos) {
        reject_url(url, "expected redis://host:port/db or unix:///path/to/redis.sock");
    }
    std::string scheme(url.substr(0, scheme_end));
    std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const std::string_view rest = url.substr(scheme_end + 3);
    redis_endpoint endpoint;
    if (scheme == "redis") {
        endpoint = parse_tcp_url(url, rest);
    } else if (scheme == "unix") {
        endpoint = parse_unix_url(url, rest);
    } else if (scheme == "rediss") {
        reject_url(url, "TLS to Redis is not supported; use a local Redis or a tunnel");
    } else {
        reject_url(url, "unsupported scheme \"" + scheme + "\"; expected redis:// or unix://");
    }
    endpoint.display = mask_redis_url(url);
    return endpoint;
}

std::string describe_reply(const redis_reply& reply) {
    switch (reply.type) {
        case redis_reply::kind::status:
            return "status \"" + reply.text + "\"";
        case redis_reply::kind::error:
            return "error \"" + reply.text + "\"";
        case redis_reply::kind::integer:
            return "integer " + std::to_string(reply.integer);
        case redis_reply::kind::bulk:
            if (reply.text.size() > described_bulk_bytes) {
                return "bulk \"" + reply.text.substr(0, described_bulk_bytes) + "\"... (" +
                       std::to_string(reply.text.size()) + " bytes)";
            }
            return "bulk \"" + reply.text + "\"";
        case redis_reply::kind::nil:
            return "nil";
        case redis_reply::kind::array: {
            std::string text = "array [";
            for (std::size_t i = 0; i < reply.elements.size(); ++i) {
                text += (i == 0 ? "" : ", ") + describe_reply(reply.elements[i]);
            }
            return text + "]";
        }
    }
    return "unknown";
}

std::string_view to_string(redis_error::kind kind) {
    switch (kind) {
        case redis_error::kind::not_connected:
            return "not_connected";
        case redis_error::kind::connect_failed:
            return "connect_failed";
        case redis_error::kind::auth_failed:
            return "auth_failed";
        case redis_error::kind::timed_out:
            return "timed_out";
        case redis_error::kind::connection_lost:
            return "connection_lost";
        case redis_error::kind::protocol_error:
            return "protocol_error";
        case redis_error::kind::closed:
            return "closed";
    }
    return "unknown";
}

struct redis_client::impl : std::enable_shared_from_this<impl> {
    /// Flags of the request in progress. The deadline's handler holds a weak reference, so a
    /// handler that runs after its request ended does nothing.
    struct request_state {
        bool timed_out = false;
        std::chrono::milliseconds timeout{};
    };

    /// Outcome of a resolve, shared with the resolver's handler. getaddrinfo cannot be
    /// interrupted, so a timed-out request stops waiting and leaves the handler to finish
    /// later on this shared state alone.
    struct resolve_state {
        explicit resolve_state(const asio::any_io_executor& executor)
            : wakeup(executor, clock_type::time_point::max()) {}

        asio::steady_timer wakeup;
        error_code error;
        tcp::resolver::results_type endpoints;
        bool done = false;
    };

    impl(asio::any_io_executor executor, redis_endpoint endpoint, redis_client_options options)
        : executor_(std::move(executor)),
          endpoint_(std::move(endpoint)),
          options_(options),
          resolver_(executor_),
          socket_(executor_),
          deadline_(executor_),
          random_(std::random_device{}()) {
        if (endpoint_.display.empty()) {
            endpoint_.display =
                endpoint_.type == redis_endpoint::transport::tcp
                    ? "redis://" + endpoint_.host + ":" + std::to_string(endpoint_.port)
                    : "unix://" + endpoint_.socket_path;
        }
    }

    asio::awaitable<redis_result<std::vector<redis_reply>>> pipeline(
        std::vector<redis_command> commands) {
        if (commands.empty()) {
            co_return std::vector<redis_reply>{};
        }
        std::string request;
        for (const redis_command& command : commands) {
            if (command.empty()) {
                co_return redis_error{redis_error::kind::protocol_error,
                                      "an empty command cannot be sent to Redis"};
            }
            if (!append_command(request, command)) {
                co_return redis_error{redis_error::kind::protocol_error,
                                      "failed to format the " + command[0] + " command"};
            }
        }

        // Keeps the impl alive while this request waits, even if close() runs meanwhile.
        const auto self = shared_from_this();
        if (!co_await acquire()) {
            co_return closed_error();
        }
        turn_guard turn{this};

        if (auto failure = co_await ensure_connected()) {
            co_return std::move(*failure);
        }
        auto state = std::make_shared<request_state>();
        state->timeout = options_.command_timeout;
        start_deadline(state);
        std::vector<redis_reply> replies;
        replies.reserve(commands.size());
        auto failure = co_await exchange(request, commands.size(), replies, *state);
        deadline_.cancel();
        if (failure) {
            co_return std::move(*failure);
        }
        co_return replies;
    }

    bool connected() const { return open_; }

    void close() {
        closed_ = true;
        abort_io();
        for (const auto& waiter : waiters_) {
            waiter->cancel();
        }
    }

    const redis_endpoint& endpoint() const { return endpoint_; }

private:
    /// Hands the turn to the next waiting request when a request ends.
    struct turn_guard {
        impl* owner;
        ~turn_guard() { owner->release(); }
    };

    /// Waits until no other request is in progress. Returns false when close() was called.
    asio::awaitable<bool> acquire() {
        if (closed_) {
            co_return false;
        }
        if (!busy_) {
            busy_ = true;
            co_return true;
        }
        auto waiter =
            std::make_shared<asio::steady_timer>(executor_, clock_type::time_point::max());
        waiters_.push_back(waiter);
        co_await waiter->async_wait(use_tuple);
        // release() keeps busy_ set when it hands the turn over, so this request owns it now,
        // unless close() woke every waiter.
        if (closed_) {
            std::erase(waiters_, waiter);
            co_return false;
        }
        co_return true;
    }

    void release() {
        if (waiters_.empty()) {
            busy_ = false;
            return;
        }
        // busy_ stays set: the turn passes straight to the oldest waiter.
        auto next = std::move(waiters_.front());
        waiters_.pop_front();
        next->cancel();
    }

    redis_error closed_error() const {
        return {redis_error::kind::closed,
                "the Redis client for " + endpoint_.display + " is closed"};
    }

    // Returns the failure, or nothing once the connection is open and logged in.
    asio::awaitable<std::optional<redis_error>> ensure_connected() {
        if (closed_) {
            co_return closed_error();
        }
        if (open_) {
            co_return std::nullopt;
        }
        const auto now = clock_type::now();
        if (now < next_attempt_) {
            const auto wait =
                std::chrono::duration_cast<std::chrono::milliseconds>(next_attempt_ - now);
            co_return redis_error{redis_error::kind::not_connected,
                                  "not connected to Redis at " + endpoint_.display +
                                      "; next attempt in " + std::to_string(wait.count()) +
                                      " ms; last failure: " + last_failure_};
        }

        auto failure = co_await connect();
        if (failure) {
            close_socket();
            backoff_ = backoff_ == clock_type::duration::zero()
                           ? clock_type::duration(options_.min_backoff)
                           : std::min<clock_type::duration>(backoff_ * 2, options_.max_backoff);
            const auto low = backoff_.count() / 2;
            std::uniform_int_distribution<clock_type::rep> jitter(low, backoff_.count());
            next_attempt_ = clock_type::now() + clock_type::duration(jitter(random_));
            last_failure_ = failure->message;
            co_return failure;
        }
        backoff_ = clock_type::duration::zero();
        next_attempt_ = {};
        spdlog::debug("connected to Redis at {}", endpoint_.display);
        co_return std::nullopt;
    }

    asio::awaitable<std::optional<redis_error>> connect() {
        auto state = std::make_shared<request_state>();
        state->timeout = options_.connect_timeout;
        start_deadline(state);
        auto failure = co_await open_socket(*state);
        if (!failure) {
            failure = co_await log_in(*state);
        }
        deadline_.cancel();
        co_return failure;
    }

    asio::awaitable<std::optional<redis_error>> open_socket(request_state& state) {
        close_socket();
        reader_.reset(redisReaderCreate());
        if (!reader_) {
            co_return redis_error{redis_error::kind::connect_failed,
                                  "failed to create the Redis reply parser"};
        }
        if (endpoint_.type == redis_endpoint::transport::unix_socket) {
            // Asio throws for a path longer than sockaddr_un allows; parse_redis_url rejects
            // one, but an endpoint may be built by hand.
            if (endpoint_.socket_path.size() >= sizeof(sockaddr_un::sun_path)) {
                co_return redis_error{redis_error::kind::connect_failed,
                                      "the Redis socket path " + endpoint_.socket_path +
                                          " is too long for a Unix socket"};
            }
            const asio::generic::stream_protocol::endpoint target(
                asio::local::stream_protocol::endpoint(endpoint_.socket_path));
            auto [error] = co_await socket_.async_connect(target, use_tuple);
            if (auto stopped = stop_error(state, "connecting")) {
                co_return stopped;
            }
            if (error) {
                co_return redis_error{
                    redis_error::kind::connect_failed,
                    "failed to connect to Redis at " + endpoint_.display + ": " + error.message()};
            }
            open_ = true;
            co_return std::nullopt;
        }

        std::vector<tcp::endpoint> targets;
        error_code address_error;
        const auto address = asio::ip::make_address(endpoint_.host, address_error);
        if (!address_error) {
            targets.emplace_back(address, endpoint_.port);
        } else {
            auto resolved = std::make_shared<resolve_state>(executor_);
            pending_resolve_ = resolved;
            resolver_.async_resolve(
                endpoint_.host, std::to_string(endpoint_.port),
                [resolved](error_code error, tcp::resolver::results_type found) {
                    resolved->error = error;
                    resolved->endpoints = std::move(found);
                    resolved->done = true;
                    resolved->wakeup.cancel();
                });
            if (!resolved->done) {
                co_await resolved->wakeup.async_wait(use_tuple);
            }
            if (auto stopped = stop_error(state, "resolving " + endpoint_.host)) {
                co_return stopped;
            }
            if (resolved->error) {
                co_return redis_error{redis_error::kind::connect_failed,
                                      "failed to resolve the Redis host " + endpoint_.host + ": " +
                                          resolved->error.message()};
            }
            for (const auto& entry : resolved->endpoints) {
                targets.push_back(entry.endpoint());
            }
        }

        error_code last_error = asio::error::host_not_found;
        for (const tcp::endpoint& target : targets) {
            close_socket();
            auto [error] = co_await socket_.async_connect(
                asio::generic::stream_protocol::endpoint(target), use_tuple);
            if (auto stopped = stop_error(state, "connecting")) {
                co_return stopped;
            }
            if (!error) {
                error_code ignored;
                socket_.set_option(tcp::no_delay(true), ignored);
                open_ = true;
                co_return std::nullopt;
            }
            last_error = error;
        }
        co_return redis_error{
            redis_error::kind::connect_failed,
            "failed to connect to Redis at " + endpoint_.display + ": " + last_error.message()};
    }

    // Sends AUTH and SELECT, as the connection needs.
    asio::awaitable<std::optional<redis_error>> log_in(request_state& state) {
        std::string request;
        std::size_t count = 0;
        const bool with_auth = !endpoint_.password.empty();
        if (with_auth) {
            redis_command auth{"AUTH"};
            if (!endpoint_.username.empty()) {
                auth.push_back(endpoint_.username);
            }
            auth.push_back(endpoint_.password);
            append_command(request, auth);
            ++count;
        }
        if (endpoint_.database != 0) {
            append_command(request, {"SELECT", std::to_string(endpoint_.database)});
            ++count;
        }
        if (count == 0) {
            co_return std::nullopt;
        }
        std::vector<redis_reply> replies;
        if (auto failure = co_await exchange(request, count, replies, state)) {
            failure->type = failure->type == redis_error::kind::timed_out
                                ? redis_error::kind::timed_out
                                : redis_error::kind::connect_failed;
            co_return failure;
        }
        if (with_auth && replies[0].is_error()) {
            close_socket();
            co_return redis_error{
                redis_error::kind::auth_failed,
                "Redis at " + endpoint_.display + " rejected AUTH" +
                    (endpoint_.username.empty() ? "" : " for user " + endpoint_.username) + ": " +
                    replies[0].text + "; check the password in --redis"};
        }
        if (endpoint_.database != 0 && replies[count - 1].is_error()) {
            close_socket();
            co_return redis_error{redis_error::kind::connect_failed,
                                  "Redis at " + endpoint_.display + " rejected SELECT " +
                                      std::to_string(endpoint_.database) + ": " +
                                      replies[count - 1].text};
        }
        co_return std::nullopt;
    }

    // Writes `request` and reads `count` replies into `replies`. Closes the connection on any
    // failure, because a later reply could otherwise be taken for this request's.
    asio::awaitable<std::optional<redis_error>> exchange(const std::string& request,
                                                         std::size_t count,
                                                         std::vector<redis_reply>& replies,
                                                         request_state& state) {
        auto [write_error, written] =
            co_await asio::async_write(socket_, asio::buffer(request), use_tuple);
        if (auto stopped = stop_error(state, "sending a request")) {
            co_return stopped;
        }
        if (write_error) {
            close_socket();
            co_return redis_error{
                redis_error::kind::connection_lost,
                "failed to send to Redis at " + endpoint_.display + ": " + write_error.message()};
        }

        while (replies.size() < count) {
            void* raw = nullptr;
            if (redisReaderGetReply(reader_.get(), &raw) != REDIS_OK) {
                const std::string reason = reader_->errstr;
                close_socket();
                co_return redis_error{
                    redis_error::kind::protocol_error,
                    "Redis at " + endpoint_.display + " sent an invalid reply: " + reason};
            }
            if (raw != nullptr) {
                replies.push_back(convert_reply(*static_cast<redisReply*>(raw)));
                freeReplyObject(raw);
                continue;
            }
            auto [read_error, size] =
                co_await socket_.async_read_some(asio::buffer(read_buffer_), use_tuple);
            if (auto stopped = stop_error(state, "waiting for a reply")) {
                co_return stopped;
            }
            if (read_error) {
                close_socket();
                co_return redis_error{redis_error::kind::connection_lost,
                                      "lost the connection to Redis at " + endpoint_.display +
                                          " after " + std::to_string(replies.size()) + " of " +
                                          std::to_string(count) + " replies: " +
                                          (read_error == asio::error::eof ? "closed by the server"
                                                                          : read_error.message())};
            }
            if (redisReaderFeed(reader_.get(), read_buffer_.data(), size) != REDIS_OK) {
                close_socket();
                co_return redis_error{
                    redis_error::kind::protocol_error,
                    "failed to buffer a reply from Redis at " + endpoint_.display};
            }
        }
        co_return std::nullopt;
    }

    // Returns the error of a request that the deadline or close() stopped, if either did.
    std::optional<redis_error> stop_error(const request_state& state, const std::string& step) {
        if (closed_) {
            close_socket();
            return closed_error();
        }
        if (!state.timed_out) {
            return std::nullopt;
        }
        close_socket();
        return redis_error{redis_error::kind::timed_out,
                           "timed out after " + std::to_string(state.timeout.count()) + " ms " +
                               step + " (Redis at " + endpoint_.display + ")"};
    }

    void start_deadline(const std::shared_ptr<request_state>& state) {
        deadline_.expires_after(state->timeout);
        deadline_.async_wait([weak_self = weak_from_this(),
                              weak_state = std::weak_ptr<request_state>(state)](error_code error) {
            const auto self = weak_self.lock();
            const auto state = weak_state.lock();
            if (error || !self || !state) {
                return;
            }
            state->timed_out = true;
            self->abort_io();
        });
    }

    void close_socket() {
        open_ = false;
        error_code ignored;
        socket_.close(ignored);
    }

    // Makes the operation in progress, whichever it is, complete at once.
    void abort_io() {
        resolver_.cancel();
        if (auto resolved = pending_resolve_.lock()) {
            resolved->wakeup.cancel();
        }
        close_socket();
    }

    asio::any_io_executor executor_;
    redis_endpoint endpoint_;
    redis_client_options options_;
    tcp::resolver resolver_;
    generic_socket socket_;
    asio::steady_timer deadline_;
    std::minstd_rand random_;
    std::unique_ptr<redisReader, reader_deleter> reader_;
    std::array<char, read_chunk_bytes> read_buffer_{};
    std::weak_ptr<resolve_state> pending_resolve_;
    bool open_ = false;
    bool closed_ = false;
    bool busy_ = false;
    std::deque<std::shared_ptr<asio::steady_timer>> waiters_;
    clock_type::time_point next_attempt_{};
    clock_type::duration backoff_{};
    std::string last_failure_;
};

redis_client::redis_client(boost::asio::any_io_executor executor, redis_endpoint endpoint,
                           redis_client_options options)
    : impl_(std::make_shared<impl>(std::move(executor), std::move(endpoint), options)) {}

redis_client::~redis_client() { impl_->close(); }

boost::asio::awaitable<redis_result<std::vector<redis_reply>>> redis_client::pipeline(
    std::vector<redis_command> commands) {
    return impl_->pipeline(std::move(commands));
}

boost::asio::awaitable<redis_result<redis_reply>> redis_client::command(redis_command command) {
    std::vector<redis_command> commands;
    commands.push_back(std::move(command));
    auto result = co_await impl_->pipeline(std::move(commands));
    if (!result) {
        co_return result.error();
    }
    co_return std::move(result.value().front());
}

bool redis_client::connected() const { return impl_->connected(); }

void redis_client::close() { impl_->close(); }

const redis_endpoint& redis_client::endpoint() const { return impl_->endpoint(); }

}  // namespace tgsearch
