#pragma once

// The fake Telegram Bot API of the load server: serves getUpdates from an open-loop schedule of
// planned updates, checks every reply and measures its latency. Beast stays in load_api.cpp.

#include "bench/latency_histogram.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tgsearch::bench {

using clock_type = std::chrono::steady_clock;

/// One update the server will make visible to getUpdates at `scheduled`, whether or not the
/// bot has kept up. Chat and user ids are assigned by the server, unique per update.
struct planned_update {
    clock_type::time_point scheduled;
    std::uint32_t query = 0;  ///< index into the query list
    /// For an inline query: bytes of the query typed so far (a prefix ending on a character
    /// boundary). 0 for a message, which carries the whole query.
    std::uint32_t prefix_bytes = 0;
    bool inline_query = false;
    /// Only measured updates count toward the latency histogram and the reply totals.
    bool measured = false;
    /// For inline queries: the typist, so that one user sends all of a query's prefixes.
    std::uint32_t typist = 0;
};

/// Telegram's flood limits on sendMessage, enforced with 429 and parameters.retry_after. The
/// bursts are the short bursts Telegram tolerates, as the integration tests' fake server has
/// them; Telegram does not publish exact values.
struct flood_limits_config {
    bool enabled = false;
    double messages_per_second = 30.0;
    double burst = 30.0;
    double chat_messages_per_second = 1.0;
    double chat_burst = 5.0;
    std::size_t group_messages = 20;
    std::chrono::seconds group_window{60};
};

/// Totals of one bot session. Replies to measured updates only, except where noted.
struct reply_counters {
    std::uint64_t answered = 0;   ///< first valid reply to a measured update
    std::uint64_t bad = 0;        ///< wrong chat, empty text, malformed JSON or results; all
                                  ///< updates
    std::uint64_t duplicate = 0;  ///< a second reply to an update; all updates
    std::uint64_t unknown = 0;    ///< a reply to no update of this session
    std::uint64_t http_429 = 0;   ///< sendMessage calls rejected by the flood limits
    std::uint64_t get_updates_calls = 0;
    std::uint64_t conflicts = 0;            ///< getUpdates calls ended by a newer one (409)
    std::vector<std::string> bad_examples;  ///< the first few reasons, for the report
    /// Arrival of the last valid reply to a measured update.
    clock_type::time_point last_answer{};
};

/// The fake Bot API. Single-threaded: every member runs on the io_context it was made with.
class load_api {
public:
    /// `queries` are the texts updates carry; `token` is the only token accepted in paths.
    load_api(boost::asio::io_context& io, std::string token, std::vector<std::string> queries);
    ~load_api();

    load_api(const load_api&) = delete;
    load_api& operator=(const load_api&) = delete;

    /// Accepts connections on `acceptor` and serves them until the io_context stops.
    boost::asio::awaitable<void> serve(boost::asio::ip::tcp::acceptor acceptor);

    /// Starts a new session for a new bot process. Clears every update, reply and counter,
    /// ends parked getUpdates calls, and gives later updates ids no earlier session used.
    void reset(flood_limits_config flood);

    /// Appends updates, which must be sorted by `scheduled` and not earlier than any update
    /// planned before in this session.
    void plan(const std::vector<planned_update>& updates);

    /// Waits until the bot has called getUpdates in this session, or `timeout` passes.
    /// Returns true when it has.
    boost::asio::awaitable<bool> wait_ready(clock_type::duration timeout);

    /// Waits until every measured update has a valid reply, or until `deadline`. Returns true
    /// when every one has.
    boost::asio::awaitable<bool> wait_answered(clock_type::time_point deadline);

    /// allowed_updates from the bot's latest getUpdates call that gave them. Nothing when no
    /// call did, which Telegram reads as every update type except a few not used here.
    const std::optional<std::vector<std::string>>& allowed_updates() const;

    std::uint64_t measured_count() const;
    const reply_counters& counters() const;
    /// Latency of each first valid reply to a measured update: arrival minus schedule.
    const latency_histogram& latencies() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace tgsearch::bench
