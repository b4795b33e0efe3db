#pragma once

#include <spdlog/common.h>
#include <spdlog/logger.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tgsearch {

/// Format of log lines: plain text, or one JSON object per line for log shippers.
enum class log_format { text, json };

/// Installs the default spdlog logger: one line per event on stderr, at `level`.
///
/// Text lines read "2024-06-07T12:00:00.123 info message" in local time. Control characters
/// in a text message are escaped, a newline as \n and any other as \xNN, so that a message
/// that quotes outside text stays on one line. A backslash is written as it is. JSON lines are
/// objects with "time" (ISO 8601 in UTC), "level", "message" and, when a line is about them,
/// "update_id", "chat_id" and "connection" (see log_event).
///
/// Every line passes through a filter that replaces the bot token with "<redacted>", so a token
/// that slips into an error text or a URL never reaches the log. Lines at info and above that
/// repeat are rate-limited (see log_repeat_filter): of the lines that differ only in their
/// numbers, the first 5 in a minute are written, and a summary line counts the rest.
void setup_logging(spdlog::level::level_enum level, log_format format = log_format::text);

/// Creates a logger that writes each line as setup_logging describes, but passes it to `write`
/// instead of stderr. `write` receives one line with its trailing newline, under a lock. The
/// level starts at info. For tests and for embedding.
std::shared_ptr<spdlog::logger> make_logger(log_format format,
                                            std::function<void(std::string_view line)> write);

/// Registers the token to redact from every later log line. Thread-safe.
void set_redacted_secret(std::string secret);

/// Writes the summary lines of repeated lines whose minute has passed, so that a burst of
/// repeats is reported even when no later line of the same kind comes. Call it now and then,
/// such as every few seconds. Thread-safe.
void flush_repeated_log_lines();

/// Writes the summary lines of every kind with lines held back, whether its minute has passed
/// or not, and starts every kind afresh. Call it before exiting. Thread-safe.
void flush_all_repeated_log_lines();

/// Parses "trace", "debug", "info", "warn", "error", "critical" or "off". Throws
/// std::invalid_argument naming the value and the accepted ones.
spdlog::level::level_enum parse_log_level(std::string_view name);

/// Ids of the things a log line is about. JSON lines carry those that are set as fields.
struct log_ids {
    std::optional<std::int64_t> update_id{};
    std::optional<std::int64_t> chat_id{};
    /// Number of the HTTP connection of the webhook or metrics server, counted from 1.
    std::optional<std::uint64_t> connection{};
};

namespace detail {

/// Ids of the line being written on this thread, set by log_event. Header-only, so that the
/// libraries below the one that compiles logging.cpp can log with ids too.
inline thread_local const log_ids* current_log_ids = nullptr;

/// Sets the ids that the JSON format attaches to the lines this thread writes while the
/// object lives. Never let one live across a co_await: another coroutine would log with it.
class scoped_log_ids {
public:
    explicit scoped_log_ids(const log_ids& ids) : previous_(current_log_ids) {
        current_log_ids = &ids;
    }
    ~scoped_log_ids() { current_log_ids = previous_; }
    scoped_log_ids(const scoped_log_ids&) = delete;
    scoped_log_ids& operator=(const scoped_log_ids&) = delete;

private:
    const log_ids* previous_;
};

}  // namespace detail

/// Logs a line as spdlog::log does with the default logger, and attaches `ids` to it: a JSON
/// line carries them as fields. A text line shows only its message, so the message should name
/// the ids too.
template <typename... Args>
void log_event(spdlog::level::level_enum level, const log_ids& ids,
               spdlog::format_string_t<Args...> format, Args&&... args) {
    if (!spdlog::should_log(level)) {
        return;
    }
    const detail::scoped_log_ids scope(ids);
    spdlog::log(level, format, std::forward<Args>(args)...);
}

/// A summary of log lines held back by log_repeat_filter.
struct repeated_log_summary {
    spdlog::level::level_enum level = spdlog::level::info;
    std::size_t held_back = 0;
    /// The last line held back, as an example of the kind.
    std::string example;
    /// Time from the first line of the kind in this window to when the summary is made.
    std::chrono::seconds period{0};

    /// Returns the summary line: "N more like this in the last M s; the last: EXAMPLE".
    std::string message() const;
};

/// Rate limit for log lines that repeat. Lines of one kind have the same level and differ only
/// in their digits (ids, counts, delays). The first `burst` lines of a kind in each `window`
/// are let through, and the rest are counted for a summary. Not thread-safe.
class log_repeat_filter {
public:
    using clock_type = std::chrono::system_clock;

    struct settings {
        std::size_t burst = 5;
        std::chrono::seconds window{60};
        /// Kinds tracked at once. Lines of further kinds are let through unfiltered until old
        /// windows end.
        std::size_t max_kinds = 1024;
    };

    struct decision {
        bool write = true;
        /// A summary of the previous window of this kind, to write before the line.
        std::optional<repeated_log_summary> summary;
    };

    log_repeat_filter() = default;
    explicit log_repeat_filter(settings limits) : limits_(limits) {}

    /// Decides whether the line `message` at `level`, logged at `now`, is written.
    decision admit(spdlog::level::level_enum level, std::string_view message,
                   clock_type::time_point now);

    /// Returns the summaries of windows that ended by `now` with lines held back, and removes
    /// every window that ended.
    std::vector<repeated_log_summary> expire(clock_type::time_point now);

    /// Returns the summaries of every window with lines held back, ended or not, and removes
    /// every window.
    std::vector<repeated_log_summary> drain(clock_type::time_point now);

    /// Returns the kind of a line: its level and its text with each run of digits replaced
    /// by '#'.
    static std::string kind_of(spdlog::level::level_enum level, std::string_view message);

private:
    struct window_state {
        clock_type::time_point start;
        std::size_t written = 0;
        std::size_t held_back = 0;
        spdlog::level::level_enum level = spdlog::level::info;
        std::string last_held_back;
    };

    static repeated_log_summary summarize(const window_state& window, clock_type::time_point now);

    settings limits_;
    std::map<std::string, window_state, std::less<>> windows_;
};

}  // namespace tgsearch
