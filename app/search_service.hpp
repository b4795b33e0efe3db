#pragma once

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

/// The search side of the bot: a bounded ring of messages feeding a pool of worker threads that
/// search the index and render replies. Both the Telegram and the console transport use it, so
/// the console shows exactly what Telegram users get.
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

    /// Closes the ring and waits for the workers to drain it.
    ~search_service();

    /// Queues as many of `messages` as fit, in order, moving them out, and wakes the workers
    /// once. Returns how many were queued; the rest stay in the vector for a later call. A
    /// full ring is back-pressure for the caller, never a block. Thread-safe.
    std::size_t submit(std::vector<incoming_message>& messages);

    /// Stops accepting messages, lets the workers finish every queued one and joins them.
    void shutdown();

    std::size_t worker_count() const { return workers_.size(); }
    std::size_t queued() const { return ring_.size_approx(); }

private:
    std::shared_ptr<const search_index> index_;
    reply_builder builder_;
    reply_sink on_reply_;
    mpmc_ring<incoming_message> ring_;
    worker_pool<incoming_message> workers_;
};

}  // namespace tgsearch
