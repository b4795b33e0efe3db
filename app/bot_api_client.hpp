#pragma once

// The Telegram Bot API over HTTP/1.1 with keep-alive, plain or TLS. This header keeps Beast and
// OpenSSL out of the files that include it; only bot_api_client.cpp compiles them.

#include "app/proxy_config.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tgsearch {

/// Address of the Bot API and the bot's token.
struct bot_api_endpoint {
    /// Base URL: scheme, host, optional port and optional path prefix, without the
    /// "/bot<token>" part. https verifies the server's certificate and host name;
    /// http is for a local Bot API server or a test server.
    std::string base_url = "https://api.telegram.org";
    std::string token;
    /// Every connection goes through this proxy when set. A failure to reach the proxy is a
    /// transport error; the client never falls back to a direct connection.
    std::optional<proxy_config> proxy;
};

/// Outcome of one Bot API call.
struct api_result {
    /// Kind of outcome. `transport_error` covers DNS, connect, TLS, timeouts and resets, so the
    /// request may or may not have reached Telegram.
    enum class status { ok, api_error, transport_error, cancelled } kind = status::transport_error;

    int http_status = 0;                  ///< 0 when no response arrived
    int error_code = 0;                   ///< Telegram's "error_code" when kind == api_error
    std::string description;              ///< Telegram's description or the transport error; never
                                          ///< contains the token
    std::string body;                     ///< the response body when one arrived: raw when ok,
                                          ///< with the token redacted otherwise
    std::int32_t retry_after = 0;         ///< parameters.retry_after in seconds, 0 when absent
    std::int64_t migrate_to_chat_id = 0;  ///< parameters.migrate_to_chat_id, 0 when absent

    bool ok() const { return kind == status::ok; }
};

/// One keep-alive connection to the Bot API that performs calls one at a time.
///
/// Connects lazily on the first call, directly or through the endpoint's proxy, and
/// reconnects after errors, after a timed-out call (a connection that went silent is never
/// reused) or when the server closes the connection. TCP keep-alive probes an idle connection
/// after 30 s. Not thread-safe: use it from one coroutine at a time on its executor, which must
/// be a strand when its io_context runs on more than one thread. Use one instance per
/// concurrent caller (the poller, each sender). Destroy it only when no call is in progress.
class bot_api_client {
public:
    /// Throws std::invalid_argument when `endpoint.base_url` is not an http or https URL made
    /// of a host, an optional port and an optional path prefix. User info, a query or a
    /// fragment are rejected too. It also throws when the token is empty or contains a
    /// character other than a letter, a digit, ':', '-' or '_'. The message names the URL and
    /// never the token.
    bot_api_client(boost::asio::any_io_executor executor, bot_api_endpoint endpoint);
    ~bot_api_client();

    bot_api_client(const bot_api_client&) = delete;
    bot_api_client& operator=(const bot_api_client&) = delete;

    /// Calls `method` with `json_body` (a JSON object, sent as application/json). `timeout`
    /// bounds the whole call, connect included. When a reused connection fails before any
    /// response byte arrives, the request is sent once more on a new connection. Never throws
    /// for network or API errors: they come back in the result. Throws std::invalid_argument
    /// at once when `method` is empty or not made of letters and digits, and the awaitable
    /// throws std::logic_error when another call on this client is in progress.
    boost::asio::awaitable<api_result> call(std::string_view method, std::string json_body,
                                            std::chrono::milliseconds timeout);

    /// Aborts the call in progress, if any, and closes the connection. The aborted call
    /// returns status::cancelled. Safe to call from the client's executor only.
    void cancel();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// Replaces every occurrence of `token` in `text` with "<redacted>", and every occurrence of
/// its secret part (after the first ':') when that part has at least 8 characters, which
/// catches a token whose colon was percent-encoded. Does nothing when the token is empty.
std::string redact_token(std::string text, std::string_view token);

/// Parameters of setWebhook that the bot sets.
struct webhook_registration {
    /// HTTPS URL that Telegram posts updates to.
    std::string url;
    /// Sent back by Telegram in the X-Telegram-Bot-Api-Secret-Token header of every webhook
    /// request: 1 to 256 characters of A-Z, a-z, 0-9, '_' and '-'. Never logged.
    std::string secret_token;
    /// Update types to receive, such as "message". Left out of the request when empty, which
    /// keeps the types set before.
    std::vector<std::string> allowed_updates;
    /// Concurrent HTTPS connections Telegram opens to deliver updates: 1 to 100; Telegram's
    /// default is 40.
    int max_connections = 40;
};

/// Builds the JSON body of a setWebhook request with drop_pending_updates false, so that the
/// updates waiting at Telegram are delivered to the webhook. Throws std::invalid_argument when
/// the URL is empty, the secret token is not 1 to 256 characters of A-Z, a-z, 0-9, '_' and '-',
/// or max_connections is outside 1 to 100. No message contains the secret token.
std::string make_set_webhook_body(const webhook_registration& registration);

/// Builds the JSON body of a deleteWebhook request with drop_pending_updates false, so that the
/// updates waiting at Telegram stay for getUpdates.
std::string make_delete_webhook_body();

/// Fields of a getWebhookInfo result that the bot reports.
struct webhook_info {
    std::string url;  ///< empty when no webhook is set
    std::int64_t pending_update_count = 0;
    std::int64_t last_error_date = 0;  ///< Unix time, 0 when absent
    std::string last_error_message;    ///< empty when absent
};

/// Parses a getWebhookInfo response body. Returns nothing unless it is a JSON object with
/// "ok": true and a "result" object with a string "url".
std::optional<webhook_info> parse_webhook_info(std::string_view body);

/// Tells whether a response body is a JSON object with "ok": true and "result": true, which
/// setWebhook and deleteWebhook return on success.
bool is_true_result(std::string_view body);

}  // namespace tgsearch
