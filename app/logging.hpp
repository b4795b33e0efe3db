#pragma once

#include <spdlog/common.h>

#include <string>
#include <string_view>

namespace tgsearch {

/// Installs the default spdlog logger: one line per event on stderr, at `level`.
/// Every line passes through a filter that replaces the bot token with "<redacted>", so a token
/// that slips into an error text or a URL never reaches the log.
void setup_logging(spdlog::level::level_enum level);

/// Registers the token to redact from every later log line. Thread-safe.
void set_redacted_secret(std::string secret);

/// Parses "trace", "debug", "info", "warn", "error", "critical" or "off". Throws
/// std::invalid_argument naming the value and the accepted ones.
spdlog::level::level_enum parse_log_level(std::string_view name);

}  // namespace tgsearch
