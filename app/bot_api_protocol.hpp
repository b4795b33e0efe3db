#pragma once

// The parts of the Bot API protocol that need neither Beast nor OpenSSL: checking the base URL,
// the token and method names, and scanning the envelope fields of a response. Internal to the
// Bot API client.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tgsearch::detail {

/// The parts of a base URL that a request needs.
struct base_url {
    bool tls = false;
    bool host_is_name = false;  // false for IP literals, which get no SNI
    std::string host;           // name or address to resolve, IPv6 without brackets
    std::string port;
    std::string host_header;  // host as written, plus the port when it is not the default
    std::string path_prefix;  // empty or "/prefix", without a trailing slash
};

/// Parses `text`, the value of --api-url, into the parts a request needs. Throws
/// std::invalid_argument naming the URL, with `token` redacted, unless it is an http or https URL
/// made of a host, an optional port and an optional path prefix.
base_url parse_base_url(const std::string& text, std::string_view token);

/// Throws std::invalid_argument when `token` is empty or contains a character other than a
/// letter, a digit, ':', '-' or '_'. The message never contains the token.
void check_token(std::string_view token);

/// Throws std::invalid_argument naming `method` when it is empty or not made of letters and
/// digits only.
void check_method(std::string_view method);

/// Envelope fields of a Bot API response: everything except "result".
struct bot_api_envelope {
    bool is_response = false;  // a JSON object with a boolean "ok"
    bool ok = false;
    std::optional<std::int64_t> error_code;
    std::optional<std::string> description;
    std::int64_t retry_after = 0;
    std::int64_t migrate_to_chat_id = 0;
};

/// Reads the envelope fields of the response body `body` and skips "result" without storing it.
/// Stops at `"ok": true`, so the rest of a successful response is left unchecked. Otherwise
/// invalid JSON, or a body that is not an object with a boolean "ok", gives `is_response` false.
bot_api_envelope scan_envelope(std::string_view body);

/// Checks `text`, the value of --webhook-url, and returns its path, or "/" when it has none.
/// Throws std::invalid_argument naming the URL unless it is an https URL with a host, an
/// optional port among 443, 80, 88 and 8443 (the ports Telegram sends webhooks to) and an
/// optional path, or an http URL to 127.0.0.1, [::1] or localhost on any port, for tests. User
/// info, a query and a fragment are rejected too.
std::string check_webhook_url(const std::string& text);

/// Tells whether `text` is one JSON object, with nothing but whitespace after it. Invalid
/// UTF-8 inside strings is accepted, so that the update parser can repair it.
bool is_json_object(std::string_view text);

}  // namespace tgsearch::detail
