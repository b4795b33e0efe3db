#pragma once

#include "app/bot_api_client.hpp"
#include "app/redis_client.hpp"
#include "app/send_scheduler.hpp"
#include "app/user_flood_guard.hpp"
#include "app/webhook_server.hpp"
#include "core/bot_replies.hpp"
#include "core/reply_pages.hpp"
#include "core/search_index.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tgsearch {

/// Address of the metrics and health server.
struct metrics_endpoint {
    /// IPv4 or IPv6 address without brackets.
    std::string address = "127.0.0.1";
    /// TCP port; 0 picks a free one.
    std::uint16_t port = 0;
};

struct telegram_options {
    bot_api_endpoint endpoint;
    /// getUpdates long-poll timeout; Telegram clamps it to 0..50 s.
    std::chrono::seconds poll_timeout{50};
    /// How long SIGTERM/SIGINT waits for queued work before confirming the offset and exiting.
    std::chrono::seconds shutdown_timeout{10};
    std::size_t workers = 1;
    std::size_t ring_capacity = 1024;
    /// When set, Telegram posts updates to this webhook instead of the bot polling getUpdates.
    std::optional<webhook_options> webhook;
    /// Keep-alive connections used for sending replies, beside the one used for polling, so
    /// that a slow send never holds up polling or the other sends.
    std::size_t send_connections = 4;
    /// Rates that every sendMessage keeps to.
    flood_limits flood;
    /// Queries one user may send before further ones are dropped with a notice.
    user_query_limits user_queries;
    /// Results per page of a reply, 1 to max_results_per_page.
    std::size_t page_size = results_per_reply;
    /// Expiry and capacity of the searches behind pagination buttons.
    page_store_limits pages;
    /// When set, the bot keeps received updates, answered ids and the offset in this Redis,
    /// so that a restart after a crash neither loses an update nor answers one twice, and
    /// tasks that do not fit in the ring wait there. See docs/redis.md.
    std::optional<redis_endpoint> redis;
    /// When set, an HTTP server on this address serves Prometheus metrics at /metrics and the
    /// polling health at /healthz.
    std::optional<metrics_endpoint> metrics;
    /// Telegram user ids that may use /stats. To anyone else /stats is an unknown command.
    std::vector<std::int64_t> admin_ids;
};

/// Serves the bot until SIGTERM or SIGINT: getMe and setMyCommands, then long-polls getUpdates,
/// searches every text message, button press and inline query on the worker pool, and sends
/// messages and edits through the flood scheduler. Inline answers and button answers without a
/// chat skip the scheduler, because they are not chat messages. With `options.metrics` it also
/// serves Prometheus metrics and the health check (see docs/metrics.md), and it replies to
/// /stats from the users in `options.admin_ids`. Returns the process exit code: 0 after an orderly
/// stop, 1 when the Bot API rejects the token or the metrics server cannot listen.
int run_telegram_bot(std::shared_ptr<const search_index> index, const telegram_options& options);

}  // namespace tgsearch
