#pragma once

// Durable bot state in Redis: received updates not yet answered, the ids of answered updates,
// the getUpdates offset and the tasks that did not fit in the ring. docs/redis.md lists every
// key, its type, its content and its lifetime.

#include "app/redis_client.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace tgsearch {

/// An update as received from getUpdates.
struct received_update {
    std::int64_t update_id = 0;
    std::string json;  ///< the update object exactly as Telegram sent it
};

/// A task taken back from the spill-over list.
struct spilled_task {
    std::int64_t chat_id = 0;
    std::string json;  ///< the task as given to spill()
};

struct update_store_options {
    /// The bot's user id from getMe. Every key starts with "tgsearch:<bot_id>:", so bots that
    /// share a Redis database never see each other's state.
    std::int64_t bot_id = 0;
    /// How long answered ids, a saved offset and pending updates stay. Telegram keeps an
    /// unconfirmed update for 24 hours, so anything older cannot come back.
    std::chrono::seconds retention{std::chrono::hours(24)};
    /// Maximum answered ids kept in memory while Redis is down. When it is full the oldest are
    /// dropped (and counted in a warning), and after a crash those updates may be answered twice.
    std::size_t max_backlog = 100'000;
    /// While Redis is down, at most one warning per interval; the others are counted.
    std::chrono::seconds warning_interval{30};
    /// Wall clock for the times stored in Redis; tests replace it to age data.
    std::function<std::chrono::system_clock::time_point()> clock = [] {
        return std::chrono::system_clock::now();
    };
};

/// The bot's durable state in Redis, on top of one redis_client.
///
/// Redis is optional: every operation returns as soon as the client does, which is at once
/// while the client waits out its reconnect backoff. Writes of answered ids and of the offset
/// that fail are kept in a bounded in-memory backlog and written by the next operation that
/// reaches Redis (or by flush()). Other failed writes return false so that the caller keeps
/// the data in memory. Data under the store's keys that is not what the store wrote (a wrong
/// type, an entry that does not parse) is logged with its key and skipped, never fatal.
///
/// Not thread-safe: use it from the client's executor thread. Several coroutines may use it
/// at once; their requests reach Redis in the order they were made. The client must outlive
/// the store.
class update_store {
public:
    update_store(redis_client& client, update_store_options options);

    /// Stores updates in the pending hash, replacing entries with the same id. Call it before
    /// confirming an offset that skips them, so that a crash cannot lose them. Returns false
    /// when they were not stored (Redis down, or the key contains a value of another type).
    boost::asio::awaitable<bool> save_received(const std::vector<received_update>& updates);

    /// Records that an update is done (answered, or dropped on purpose) and removes it from the
    /// pending hash. Returns false when Redis is down: the id then waits in the backlog. A key
    /// of another type is reported and the write is not retried.
    boost::asio::awaitable<bool> mark_answered(std::int64_t update_id);

    /// Tells whether an update was marked answered within the retention period. Returns
    /// nothing when that is unknown: Redis is down and the id is not in the backlog, or the
    /// answered set contains a value of another type.
    boost::asio::awaitable<std::optional<bool>> was_answered(std::int64_t update_id);

    /// Returns the ids among `update_ids` that were marked answered within the retention
    /// period, checked in one pipeline. Ids in the backlog count as answered without a request.
    /// Returns nothing when Redis cannot tell for one of the others, as for was_answered().
    boost::asio::awaitable<std::optional<std::set<std::int64_t>>> answered_among(
        const std::vector<std::int64_t>& update_ids);

    /// Returns the offset saved last, unless it is older than the retention period (logged
    /// and discarded). Returns nothing when no usable offset is stored or Redis is down.
    boost::asio::awaitable<std::optional<std::int64_t>> load_offset();

    /// Stores the getUpdates offset with the current time. Returns false when Redis is down:
    /// the offset then waits in the backlog, where a later one replaces it.
    boost::asio::awaitable<bool> save_offset(std::int64_t offset);

    /// Returns the pending updates that are not answered, in update_id order, for the next
    /// start. Removes answered entries and entries that do not parse (logged with the key and
    /// field). Returns nothing when Redis is down or the key contains a value of another type.
    boost::asio::awaitable<std::vector<received_update>> load_pending();

    /// Appends a task to the spill-over list shared by all chats, so tasks come back in the
    /// order they were spilled. Returns false when it was not stored: the caller keeps it.
    /// NOTE: a Redis that restarts without persistence loses the list and the pending hash,
    /// and the store does not detect that, so their updates are lost unless Telegram still
    /// has them unconfirmed.
    boost::asio::awaitable<bool> spill(std::int64_t chat_id, std::string_view task_json);

    /// Removes and returns up to `max` of the oldest spilled tasks, in the order they were
    /// spilled. Entries that do not parse are logged and dropped. Returns nothing when Redis
    /// is down.
    boost::asio::awaitable<std::vector<spilled_task>> unspill(std::size_t max);

    /// Deletes the spill-over list. At start-up the pending hash contains every update that a
    /// spilled task came from, so the list from the last run only duplicates it.
    boost::asio::awaitable<bool> discard_spill();

    /// Writes the backlog, if any. Returns true when it is empty afterwards. Call it now and
    /// then (every second, say) so that the backlog reaches Redis soon after Redis returns,
    /// even when no other operation runs.
    boost::asio::awaitable<bool> flush();

    /// Spilled tasks as of the last spill or unspill.
    std::size_t spilled_count() const { return spilled_count_; }

    /// False from a failed request until one succeeds again.
    bool available() const { return available_; }

    /// Answered ids and offsets waiting to be written.
    std::size_t backlog_size() const {
        return answered_backlog_.size() + (offset_backlog_ ? 1 : 0);
    }

    /// The full name of one of the store's keys, such as key("offset").
    std::string key(std::string_view name) const { return prefix_ + std::string(name); }

private:
    struct answered_entry {
        std::int64_t update_id;
        std::int64_t answered_at_ms;  ///< Unix time in milliseconds
    };
    struct offset_entry {
        std::int64_t offset;
        std::int64_t saved_at;  ///< Unix time in seconds
        std::uint64_t version;  ///< orders saves, so an older one never overwrites a newer
    };

    boost::asio::awaitable<std::optional<std::vector<redis_reply>>> run(
        std::vector<redis_command> commands, std::string_view operation);
    std::optional<std::vector<redis_reply>> check(redis_result<std::vector<redis_reply>> result,
                                                  std::string_view operation);
    void restore_backlog(std::vector<answered_entry> answered, std::optional<offset_entry> offset);
    std::optional<std::vector<received_update>> parse_pending(const redis_reply& reply,
                                                              std::vector<std::string>& removals);
    boost::asio::awaitable<void> remove_answered(std::vector<received_update>& updates,
                                                 std::vector<std::string>& removals);
    /// Logs a failed request on one key, at most once per warning interval for each key.
    void report_malformed(const std::string& key, const std::string& problem);
    /// Logs entries skipped by one request, the first few one by one.
    void report_entries(const std::string& key, const std::vector<std::string>& problems);
    std::int64_t now_ms() const;

    redis_client& client_;
    update_store_options options_;
    std::string prefix_;
    std::string offset_key_;
    std::string pending_key_;
    std::string answered_key_;
    std::string spill_key_;

    std::deque<answered_entry> answered_backlog_;
    std::optional<offset_entry> offset_backlog_;
    std::uint64_t offset_version_ = 0;
    std::uint64_t written_offset_version_ = 0;
    std::size_t dropped_backlog_ = 0;

    std::size_t spilled_count_ = 0;
    bool available_ = true;
    std::chrono::steady_clock::time_point last_down_warning_{};
    bool warned_down_ = false;
    std::size_t suppressed_warnings_ = 0;
    std::map<std::string, std::chrono::steady_clock::time_point> malformed_warnings_;
};

}  // namespace tgsearch
