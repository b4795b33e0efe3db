#pragma once

#include "app/metrics.hpp"
#include "core/bot_messages.hpp"
#include "core/bot_replies.hpp"
#include "core/search_index.hpp"
#include "queue/mpmc_ring.hpp"
#include "queue/worker_pool.hpp"

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tgsearch {

/// Capacity of the ring that feeds inline queries to their own worker (a power of two).
inline constexpr std::size_t inline_ring_capacity = 256;

/// Histograms of the worker time to build one reply (the search and the rendering), by the
/// kind of message. A null pointer records nothing.
struct search_service_metrics {
    histogram* message_seconds = nullptr;
    histogram* callback_query_seconds = nullptr;
    histogram* inline_query_seconds = nullptr;
};

/// The search side of the bot: a bounded ring of messages and button presses feeding a pool of
/// worker threads that search the index and render replies. Inline queries have a ring and a
/// worker thread of their own, so that a backlog of chat messages never delays them: Telegram
/// drops an inline answer that comes more than 10 s late. Both the Telegram and the console
/// transport use it, so the console shows exactly what Telegram users get.
class search_service {
public:
    /// Called on a worker thread with each finished reply; must be thread-safe and quick
    /// (typically it posts the reply to the I/O thread).
    using reply_sink = std::function<void(outgoing_reply)>;

    /// Starts `worker_count` workers over a ring of `ring_capacity` messages (a power of two).
    /// `index` may be a replaceable index, which a reload swaps while the workers search; each
    /// reply takes one snapshot of it. `bot_username` is the bot's username from getMe, empty
    /// in the console.
    search_service(std::shared_ptr<const search_index> index, std::string bot_username,
                   std::size_t worker_count, std::size_t ring_capacity, reply_sink on_reply);

    /// Starts the service as above with the bot's identity, page size and page store in
    /// `settings`, for replies with pagination buttons, and records the time of each reply in
    /// `metrics`, whose histograms must outlive the service. Throws std::invalid_argument for
    /// an invalid page size.
    search_service(std::shared_ptr<const search_index> index, reply_settings settings,
                   std::size_t worker_count, std::size_t ring_capacity, reply_sink on_reply,
                   search_service_metrics metrics = {});

    /// Closes the ring and waits for the workers to drain it.
    ~search_service();

    /// Queues as many of `messages` as fit, in order, moving them out, and wakes the workers
    /// once. Inline queries go to their own ring. Returns how many were queued; the rest stay
    /// in the vector for a later call, in order within each ring. A full ring is back-pressure
    /// for the caller, never a block. Thread-safe.
    std::size_t submit(std::vector<incoming_message>& messages);

    /// Stops accepting messages, lets the workers finish every queued one and joins them.
    void shutdown();

    std::size_t worker_count() const { return workers_.size(); }
    std::size_t queued() const { return ring_.size_approx() + inline_ring_.size_approx(); }

    /// Messages and button presses in their ring, an estimate while workers take from it.
    std::size_t queued_messages() const { return ring_.size_approx(); }
    std::size_t queued_inline_queries() const { return inline_ring_.size_approx(); }
    std::size_t message_capacity() const { return ring_.capacity(); }
    std::size_t inline_query_capacity() const { return inline_ring_.capacity(); }

private:
    /// Builds the reply to `message` on a worker thread and hands it to the sink.
    void answer(incoming_message& message);
    histogram* histogram_for(incoming_message::kind type) const;

    std::shared_ptr<const search_index> index_;
    reply_builder builder_;
    reply_sink on_reply_;
    search_service_metrics metrics_;
    mpmc_ring<incoming_message> ring_;
    mpmc_ring<incoming_message> inline_ring_;
    worker_pool<incoming_message> workers_;
    worker_pool<incoming_message> inline_workers_;
};

}  // namespace tgsearch
