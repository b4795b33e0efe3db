#pragma once

#include <spdlog/common.h>

#include <string>
#include <string_view>

namespace tgsearch {

/// How each log line is written: plain text, or one JSON object per line for log shippers.
enum class log_format { text, json };

/// Installs the default spdlog logger: one line per event on stderr, at `level`.
/// Every line passes through a filter that replaces the bot token with "<redacted>", so a token
/// that slips into an error text or a URL never reaches the log.
void setup_logging(spdlog::level::level_enum level, log_format format = log_format::text);

/// Registers the token to redact from every later log line. Thread-safe.
void set_redacted_secret(std::string secret);

/// Parses "trace", "debug", "info", "warn", "error", "critical" or "off". Throws
/// std::invalid_argument naming the value and the accepted ones.
spdlog::level::level_enum parse_log_level(std::string_view name);

}  // namespace tgsearch
