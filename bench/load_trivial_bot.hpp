#pragma once

// A bot that does no work, for measuring the load server's own ceiling: it polls getUpdates and
// replies "ok" to each message and an empty result list to each inline query.

#include <string>

namespace tgsearch::bench {

/// Serves the Bot API at `api_url` (http://host:port) with `token` until SIGTERM or SIGINT,
/// sending replies over `senders` keep-alive connections. Returns the exit code. Throws
/// std::runtime_error on an invalid URL.
int run_trivial_bot(const std::string& api_url, const std::string& token, int senders);

}  // namespace tgsearch::bench
