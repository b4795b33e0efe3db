#include "app/logging.hpp"

#include "app/bot_api_client.hpp"
#include "core/html.hpp"

#include <fmt/format.h>
#include <spdlog/details/log_msg.h>
#include <spdlog/formatter.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iterator>
#include <mutex>
#include <stdexcept>
#include <string>

namespace tgsearch {
namespace {

std::mutex secret_mutex;
std::string redacted_secret;

std::string redact(std::string text) {
    std::lock_guard lock(secret_mutex);
    return redact_token(std::move(text), redacted_secret);
}

/// Appends `text` as the contents of a JSON string. `text` must be valid UTF-8.
void append_json_string(spdlog::memory_buf_t& out, std::string_view text) {
    constexpr std::string_view hex = "0123456789abcdef";
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (c == '\n') {
            out.append(std::string_view("\\n"));
        } else if (c == '\r') {
            out.append(std::string_view("\\r"));
        } else if (c == '\t') {
            out.append(std::string_view("\\t"));
        } else if (byte < 0x20 || byte == 0x7f) {
            const char escape[] = {'\\', 'u', '0', '0', hex[byte >> 4], hex[byte & 0xf]};
            out.append(std::string_view(escape, sizeof escape));
        } else {
            out.push_back(c);
        }
    }
}

/// Returns `text` with each control character (bytes below 0x20, and 0x7f) escaped: a newline
/// as the two characters \n and any other as \xNN, such as \x0d. A text log line then stays
/// one line even when its message quotes outside bytes, such as a Bot API error description.
std::string escape_control_characters(std::string text) {
    const auto is_control = [](char c) {
        const auto byte = static_cast<unsigned char>(c);
        return byte < 0x20 || byte == 0x7f;
    };
    if (std::none_of(text.begin(), text.end(), is_control)) {
        return text;
    }
    constexpr std::string_view hex = "0123456789abcdef";
    std::string escaped;
    escaped.reserve(text.size() + 8);
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '\n') {
            escaped += "\\n";
        } else if (is_control(c)) {
            escaped += "\\x";
            escaped += hex[byte >> 4];
            escaped += hex[byte & 0xf];
        } else {
            escaped += c;
        }
    }
    return escaped;
}

/// Formats a line as one JSON object: time in UTC, level, message and the ids of the line.
class json_formatter final : public spdlog::formatter {
public:
    void format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& out) override {
        const auto since_epoch = message.time.time_since_epoch();
        const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
        const auto milliseconds =
            std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds);
        const std::time_t time = static_cast<std::time_t>(seconds.count());
        std::tm utc{};
        gmtime_r(&time, &utc);

        fmt::format_to(std::back_inserter(out),
                       R"({{"time":"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z","level":")",
                       utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                       utc.tm_sec, milliseconds.count());
        const spdlog::string_view_t level = spdlog::level::to_string_view(message.level);
        out.append(level.data(), level.data() + level.size());
        out.append(std::string_view(R"(","message":")"));
        // A message may quote bytes from outside, such as a Bot API error text.
        append_json_string(out, replace_invalid_utf8(std::string_view(message.payload.data(),
                                                                      message.payload.size())));
        out.push_back('"');

        if (const log_ids* ids = detail::current_log_ids) {
            if (ids->update_id) {
                fmt::format_to(std::back_inserter(out), R"(,"update_id":{})", *ids->update_id);
            }
            if (ids->chat_id) {
                fmt::format_to(std::back_inserter(out), R"(,"chat_id":{})", *ids->chat_id);
            }
            if (ids->connection) {
                fmt::format_to(std::back_inserter(out), R"(,"connection":{})", *ids->connection);
            }
        }
        out.append(std::string_view("}\n"));
    }

    std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<json_formatter>();
    }
};

/// Redacts the token from every line, holds back repeats, and passes the lines to a writer.
class filtering_sink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    /// `escape_controls` escapes control characters in each message, for the text format,
    /// whose lines would otherwise break at a newline inside a message.
    filtering_sink(std::function<void(std::string_view)> write, bool escape_controls)
        : write_(std::move(write)), escape_controls_(escape_controls) {}

    /// Writes the summaries of the windows of repeats that have ended, or of all of them.
    void flush_repeats(bool all_windows) {
        std::lock_guard lock(mutex_);
        const auto now = log_repeat_filter::clock_type::now();
        for (const repeated_log_summary& summary :
             all_windows ? filter_.drain(now) : filter_.expire(now)) {
            write_summary(summary, now);
        }
    }

protected:
    void sink_it_(const spdlog::details::log_msg& message) override {
        // The message is redacted before the filter keeps a copy of it as an example, and the
        // whole line once more after formatting.
        std::string text = redact(std::string(message.payload.data(), message.payload.size()));
        if (escape_controls_) {
            text = escape_control_characters(std::move(text));
        }
        if (message.level >= spdlog::level::info) {
            const log_repeat_filter::decision decision =
                filter_.admit(message.level, text, message.time);
            if (decision.summary) {
                write_summary(*decision.summary, message.time);
            }
            if (!decision.write) {
                return;
            }
        }
        spdlog::details::log_msg redacted = message;
        redacted.payload = text;
        write_formatted(redacted);
    }

    void flush_() override { std::fflush(stderr); }

private:
    void write_summary(const repeated_log_summary& summary,
                       log_repeat_filter::clock_type::time_point now) {
        const std::string text = summary.message();
        spdlog::details::log_msg line(spdlog::source_loc{}, spdlog::string_view_t{}, summary.level,
                                      text);
        line.time = now;
        // The summary is about many events, so it carries none of the ids of this one.
        const log_ids* ids = detail::current_log_ids;
        detail::current_log_ids = nullptr;
        write_formatted(line);
        detail::current_log_ids = ids;
    }

    void write_formatted(const spdlog::details::log_msg& message) {
        spdlog::memory_buf_t formatted;
        formatter_->format(message, formatted);
        write_(redact(std::string(formatted.data(), formatted.size())));
    }

    std::function<void(std::string_view)> write_;
    bool escape_controls_;
    log_repeat_filter filter_;
};

}  // namespace

std::string repeated_log_summary::message() const {
    return fmt::format("{} more like this in the last {} s; the last: {}", held_back,
                       period.count(), example);
}

std::string log_repeat_filter::kind_of(spdlog::level::level_enum level, std::string_view message) {
    std::string kind = std::to_string(static_cast<int>(level));
    kind += ' ';
    bool in_number = false;
    for (const char c : message) {
        const bool digit = c >= '0' && c <= '9';
        if (digit && !in_number) {
            kind += '#';
        } else if (!digit) {
            kind += c;
        }
        in_number = digit;
    }
    return kind;
}

repeated_log_summary log_repeat_filter::summarize(const window_state& window,
                                                  clock_type::time_point now) {
    repeated_log_summary summary;
    summary.level = window.level;
    summary.held_back = window.held_back;
    summary.example = window.last_held_back;
    // Rounded up, so that "in the last M s" covers every line held back.
    summary.period = std::max(std::chrono::seconds(1),
                              std::chrono::ceil<std::chrono::seconds>(now - window.start));
    return summary;
}

log_repeat_filter::decision log_repeat_filter::admit(spdlog::level::level_enum level,
                                                     std::string_view message,
                                                     clock_type::time_point now) {
    decision result;
    std::string kind = kind_of(level, message);
    auto found = windows_.find(kind);
    if (found == windows_.end()) {
        if (windows_.size() >= limits_.max_kinds) {
            // The summaries of the windows this drops are lost, which only a flood of
            // distinct kinds with no flush_repeated_log_lines() call between can cause.
            std::erase_if(windows_, [&](const auto& entry) {
                return now - entry.second.start >= limits_.window;
            });
            if (windows_.size() >= limits_.max_kinds) {
                return result;
            }
        }
        found = windows_.emplace(std::move(kind), window_state{now, 0, 0, level, {}}).first;
    }
    window_state& window = found->second;
    if (now - window.start >= limits_.window) {
        if (window.held_back > 0) {
            result.summary = summarize(window, now);
        }
        window = window_state{now, 0, 0, level, {}};
    }
    if (window.written < limits_.burst) {
        ++window.written;
        return result;
    }
    ++window.held_back;
    window.last_held_back = std::string(message);
    result.write = false;
    return result;
}

std::vector<repeated_log_summary> log_repeat_filter::expire(clock_type::time_point now) {
    std::vector<repeated_log_summary> summaries;
    for (auto entry = windows_.begin(); entry != windows_.end();) {
        const window_state& window = entry->second;
        if (now - window.start < limits_.window) {
            ++entry;
            continue;
        }
        if (window.held_back > 0) {
            summaries.push_back(summarize(window, now));
        }
        entry = windows_.erase(entry);
    }
    return summaries;
}

std::vector<repeated_log_summary> log_repeat_filter::drain(clock_type::time_point now) {
    std::vector<repeated_log_summary> summaries;
    for (const auto& [kind, window] : windows_) {
        if (window.held_back > 0) {
            summaries.push_back(summarize(window, now));
        }
    }
    windows_.clear();
    return summaries;
}

std::shared_ptr<spdlog::logger> make_logger(log_format format,
                                            std::function<void(std::string_view line)> write) {
    auto sink = std::make_shared<filtering_sink>(std::move(write), format == log_format::text);
    if (format == log_format::json) {
        sink->set_formatter(std::make_unique<json_formatter>());
    } else {
        sink->set_formatter(
            std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v"));
    }
    auto logger = std::make_shared<spdlog::logger>("tgsearch", std::move(sink));
    logger->set_level(spdlog::level::info);
    logger->flush_on(spdlog::level::trace);
    return logger;
}

void setup_logging(spdlog::level::level_enum level, log_format format) {
    auto logger = make_logger(
        format, [](std::string_view line) { std::fwrite(line.data(), 1, line.size(), stderr); });
    logger->set_level(level);
    spdlog::set_default_logger(std::move(logger));
}

void set_redacted_secret(std::string secret) {
    std::lock_guard lock(secret_mutex);
    redacted_secret = std::move(secret);
}

namespace {

void flush_repeats_of_default_logger(bool all_windows) {
    const std::shared_ptr<spdlog::logger> logger = spdlog::default_logger();
    if (!logger) {
        return;
    }
    for (const spdlog::sink_ptr& sink : logger->sinks()) {
        if (auto* filtering = dynamic_cast<filtering_sink*>(sink.get())) {
            filtering->flush_repeats(all_windows);
        }
    }
}

}  // namespace

void flush_repeated_log_lines() { flush_repeats_of_default_logger(false); }

void flush_all_repeated_log_lines() { flush_repeats_of_default_logger(true); }

spdlog::level::level_enum parse_log_level(std::string_view name) {
    const auto level = spdlog::level::from_str(std::string(name));
    // from_str returns `off` for anything it does not know.
    if (level == spdlog::level::off && name != "off") {
        throw std::invalid_argument(
            "invalid log level \"" + std::string(name) +
            "\": expected trace, debug, info, warn, error, critical or off");
    }
    return level;
}

}  // namespace tgsearch
