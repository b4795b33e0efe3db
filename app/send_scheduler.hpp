#pragma once

// Flood control in front of every sendMessage: Telegram's overall, per-chat and per-group rate
// limits, and a fair order across chats.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>

namespace tgsearch {

/// The rates the scheduler keeps to. The defaults stay a little under the limits Telegram
/// states for bots: about 30 messages per second overall, about one per second in one chat
/// (short bursts allowed) and 20 per minute in one group.
struct flood_limits {
    /// Overall rate and burst, in messages. A small burst keeps the rate even, so that jitter
    /// in network delay cannot make the server see more than its own burst allows.
    double messages_per_second = 30.0;
    double burst = 10.0;

    /// Rate and burst in one chat, groups included.
    double chat_messages_per_second = 1.0;
    double chat_burst = 3.0;

    /// At most `group_messages` in any `group_window` in a group (a negative chat id). The
    /// window is one second longer than Telegram's minute, which absorbs up to a second of
    /// variation in network delay between the first and the last of them.
    std::size_t group_messages = 20;
    std::chrono::milliseconds group_window{61'000};
};

/// A token bucket: `rate` tokens per second, at most `burst` saved up, starting full.
class token_bucket {
public:
    using clock_type = std::chrono::steady_clock;

    token_bucket(double rate, double burst, clock_type::time_point now);

    /// Returns when a whole token is available: `now` or later.
    clock_type::time_point available_at(clock_type::time_point now);

    /// Takes one token. The caller checks available_at() first; taking from an empty bucket
    /// borrows from the future.
    void take(clock_type::time_point now);

    /// True when the bucket has refilled to its burst, so its state carries no information.
    bool full(clock_type::time_point now);

private:
    void refill(clock_type::time_point now);

    double rate_;
    double burst_;
    double tokens_;
    clock_type::time_point last_;
};

/// Chooses which chat sends its next message and when, so that the bot stays within
/// flood_limits and serves chats fairly.
///
/// A chat is queued when its next reply is ready and leaves the queue when next() picks it.
/// Chats are picked round-robin among those that their limits allow: a chat that sent goes to
/// the back when it is queued again, so a chat with 50 pending replies delays a chat with one
/// by at most one message. The caller sends one message per pick and queues the chat again
/// for its next one, which keeps each chat's replies in order.
///
/// Memory: one entry per queued chat, plus limit state for chats that sent recently. Not
/// thread-safe; the I/O thread owns it.
class send_scheduler {
public:
    using clock_type = std::chrono::steady_clock;

    explicit send_scheduler(flood_limits limits = {},
                            clock_type::time_point now = clock_type::now());

    /// Queues `chat_id` for one message, not to be sent before `not_before` (used after a 429
    /// or a failed attempt). A chat that is already queued keeps its place, and its
    /// `not_before` moves to the later of the two times.
    void enqueue(std::int64_t chat_id, clock_type::time_point not_before = {});

    /// Picks the next chat that may send at `now` and charges one message to the limits that
    /// apply to it. Otherwise returns nothing and sets `wake_at` to the earliest time a queued
    /// chat may become ready (time_point::max() when nothing is queued). A later enqueue()
    /// can make a chat ready sooner.
    std::optional<std::int64_t> next(clock_type::time_point now, clock_type::time_point& wake_at);

    /// Number of queued chats.
    std::size_t size() const { return queue_.size(); }
    bool empty() const { return queue_.empty(); }

    /// Number of chats whose limit state is kept; bounded by the chats active recently.
    std::size_t tracked_chats() const { return chats_.size(); }

private:
    struct queued_chat {
        std::int64_t chat_id;
        clock_type::time_point not_before;
    };

    struct chat_limits {
        token_bucket bucket;
        std::deque<clock_type::time_point> group_sends;  // within the group window, oldest first
    };

    chat_limits& limits_for(std::int64_t chat_id, clock_type::time_point now);
    clock_type::time_point ready_at(const queued_chat& chat, clock_type::time_point now);
    void forget_idle_chats(clock_type::time_point now);

    flood_limits limits_;
    token_bucket overall_;
    std::deque<queued_chat> queue_;
    std::unordered_map<std::int64_t, chat_limits> chats_;
    std::size_t picks_since_cleanup_ = 0;
};

}  // namespace tgsearch
