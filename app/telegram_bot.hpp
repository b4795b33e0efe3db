#pragma once

#include "app/bot_api_client.hpp"
#include "app/send_scheduler.hpp"
#include "app/user_flood_guard.hpp"
#include "core/search_index.hpp"

#include <chrono>
#include <cstddef>
#include <memory>

namespace tgsearch {

struct telegram_options {
    bot_api_endpoint endpoint;
    /// getUpdates long-poll timeout; Telegram clamps it to 0..50 s.
    std::chrono::seconds poll_timeout{50};
    /// How long SIGTERM/SIGINT waits for queued work before confirming the offset and exiting.
    std::chrono::seconds shutdown_timeout{10};
    std::size_t workers = 1;
    std::size_t ring_capacity = 1024;
    /// Keep-alive connections used for sending replies, beside the one used for polling, so
    /// that a slow send never holds up polling or the other sends.
    std::size_t send_connections = 4;
    /// Rates that every sendMessage keeps to.
    flood_limits flood;
    /// Queries one user may send before further ones are dropped with a notice.
    user_query_limits user_queries;
};

/// Serves the bot until SIGTERM or SIGINT: getMe, then long-polls getUpdates, searches every
/// text message on the worker pool and sends the replies through the flood scheduler. Returns the
/// process exit code: 0 after an orderly stop, 1 when the Bot API rejects the token.
int run_telegram_bot(std::shared_ptr<const search_index> index, const telegram_options& options);

}  // namespace tgsearch
