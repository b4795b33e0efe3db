#include "app/config.hpp"

#include "app/bot_api_protocol.hpp"
#include "app/logging.hpp"
#include "core/corpus_loader.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>
#include <CLI/CLI.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>

namespace tgsearch {
namespace {

/// Upper bounds on workers and ring-capacity. More threads than this only add contention, and
/// a larger ring only hides a backlog that Telegram would keep for us anyway.
constexpr std::int64_t max_workers = 1024;
constexpr std::int64_t max_ring_capacity = std::int64_t{1} << 20;

/// getUpdates long-poll timeouts above this are clamped by Telegram.
constexpr std::int64_t max_poll_timeout_seconds = 50;

/// Upper bound on shutdown-timeout, 1 hour. systemd stops waiting long before (its
/// DefaultTimeoutStopSec is 90 s), and seconds near the int64 limit overflow when converted to
/// nanoseconds, which would end the drain at once.
constexpr std::int64_t max_shutdown_timeout_seconds = 3600;

/// Upper bound on page-expiry, 365 days. Seconds overflow as int64 nanoseconds at about 292
/// years (106752 d), and then every page button reports that its search has expired.
constexpr std::int64_t max_page_expiry_seconds = 365 * 86400;

/// Values longer than this are cut in error messages.
constexpr std::size_t max_shown_value_chars = 120;

/// The environment variable that names the config file when --config is absent.
constexpr std::string_view config_variable = "TGSEARCH_CONFIG";
constexpr std::string_view environment_prefix = "TGSEARCH_";
constexpr std::string_view token_variable = "TELEGRAM_BOT_TOKEN";

/// Type of a setting's value. In the config file each type is a TOML type. In the environment
/// every value is text, and lists are separated by commas.
enum class setting_type {
    text,
    integer,
    boolean,
    text_list,
    integer_list,
    duration,  ///< integer seconds, or a string of a number and s, m, h or d
};

using setting_member =
    std::variant<std::string settings::*, std::int64_t settings::*, bool settings::*,
                 std::vector<std::string> settings::*, std::vector<std::int64_t> settings::*>;

using setting_value = std::variant<std::string, std::int64_t, bool, std::vector<std::string>,
                                   std::vector<std::int64_t>>;

/// One key of the config file. Its flag is "--" + key, and its environment variable is
/// environment_variable_for(key).
struct setting_spec {
    std::string_view key;
    setting_type type;
    setting_member member;
    /// A valid TOML value, shown in errors as the form to use.
    std::string_view example;
    /// The value is a path, which the config file should give as an absolute path.
    bool is_path = false;
};

// The order is the order of `tgsearch check-config` and of docs/configuration.md.
const std::array<setting_spec, 27> setting_specs{{
    {"corpus", setting_type::text_list, &settings::corpus, R"(["/var/lib/tgsearch/corpus.jsonl"])",
     true},
    {"index", setting_type::text, &settings::index, R"("/var/lib/tgsearch/index.idx")", true},
    {"output", setting_type::text, &settings::output, R"("/var/lib/tgsearch/index.idx")", true},
    {"format", setting_type::text, &settings::format, R"("jsonl")"},
    {"id-column", setting_type::text, &settings::id_column, R"("id")"},
    {"title-column", setting_type::text, &settings::title_column, R"("title")"},
    {"text-column", setting_type::text_list, &settings::text_columns, R"(["question", "answer"])"},
    {"url-column", setting_type::text, &settings::url_column, R"("url")"},
    {"channel-username", setting_type::text, &settings::channel_username, R"("mychannel")"},
    {"workers", setting_type::integer, &settings::workers, "4"},
    {"ring-capacity", setting_type::integer, &settings::ring_capacity, "1024"},
    {"console", setting_type::boolean, &settings::console, "false"},
    {"token-file", setting_type::text, &settings::token_file, R"("/etc/tgsearch/token")", true},
    {"api-url", setting_type::text, &settings::api_url, R"("https://api.telegram.org")"},
    {"proxy", setting_type::text, &settings::proxy, R"("socks5://127.0.0.1:1080")"},
    {"webhook-url", setting_type::text, &settings::webhook_url,
     R"("https://bot.example.org/telegram")"},
    {"listen", setting_type::text, &settings::listen, R"("127.0.0.1:8080")"},
    {"poll-timeout", setting_type::integer, &settings::poll_timeout_seconds, "50"},
    {"shutdown-timeout", setting_type::integer, &settings::shutdown_timeout_seconds, "10"},
    {"page-size", setting_type::integer, &settings::page_size, "5"},
    {"page-expiry", setting_type::duration, &settings::page_expiry_seconds, R"("48h")"},
    {"flood-limits", setting_type::text, &settings::flood_limits, R"("telegram")"},
    {"log-level", setting_type::text, &settings::log_level, R"("info")"},
    {"redis", setting_type::text, &settings::redis, R"("redis://127.0.0.1:6379")"},
    {"metrics", setting_type::text, &settings::metrics, R"("127.0.0.1:9464")"},
    {"admins", setting_type::integer_list, &settings::admins, "[123456789]"},
    {"log-format", setting_type::text, &settings::log_format, R"("text")"},
}};

const setting_spec* find_spec(std::string_view key) {
    for (const setting_spec& spec : setting_specs) {
        if (spec.key == key) {
            return &spec;
        }
    }
    return nullptr;
}

/// Copies the value of `spec` from `source` to `target`.
void copy_value(const setting_spec& spec, const settings& source, settings& target) {
    std::visit([&](auto member) { target.*member = source.*member; }, spec.member);
}

/// Stores `value`, whose alternative matches the field of `spec`, in `target`.
void store_value(const setting_spec& spec, setting_value value, settings& target) {
    std::visit(
        [&](auto member) {
            using field = std::remove_reference_t<decltype(target.*member)>;
            target.*member = std::get<field>(std::move(value));
        },
        spec.member);
}

// ------------------------------------------------------------------------------------------
// Text helpers

std::string trim(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    const auto last = text.find_last_not_of(" \t\r\n");
    return first == std::string_view::npos ? std::string()
                                           : std::string(text.substr(first, last - first + 1));
}

std::string lower_case(std::string_view text) {
    std::string result(text);
    for (char& c : result) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return result;
}

/// Returns `text` cut to max_shown_value_chars, for error messages.
std::string shorten(std::string text) {
    if (text.size() > max_shown_value_chars) {
        text.resize(max_shown_value_chars);
        text += "...";
    }
    return text;
}

/// Writes `text` as a TOML basic string, in quotes and with escapes.
std::string toml_quote(std::string_view text) {
    std::string quoted = "\"";
    for (const char c : text) {
        switch (c) {
            case '"':
                quoted += "\\\"";
                break;
            case '\\':
                quoted += "\\\\";
                break;
            case '\n':
                quoted += "\\n";
                break;
            case '\t':
                quoted += "\\t";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
                    quoted += fmt::format("\\u{:04X}", static_cast<unsigned char>(c));
                } else {
                    quoted += c;
                }
        }
    }
    return quoted + "\"";
}

/// Levenshtein distance between two short ASCII strings.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        row[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] =
                std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

/// Returns the candidate nearest to `name`, compared in lower case with '_' as '-', or an empty
/// string when none is within two edits (one for names of four characters or fewer).
std::string nearest_name(std::string_view name, const std::vector<std::string>& candidates) {
    std::string normalized = lower_case(name);
    std::replace(normalized.begin(), normalized.end(), '_', '-');
    const std::size_t allowed = normalized.size() <= 4 ? 1 : 2;
    std::string best;
    std::size_t best_distance = allowed + 1;
    for (const std::string& candidate : candidates) {
        std::string compared = lower_case(candidate);
        std::replace(compared.begin(), compared.end(), '_', '-');
        const std::size_t distance = edit_distance(normalized, compared);
        if (distance < best_distance) {
            best = candidate;
            best_distance = distance;
        }
    }
    return best;
}

/// Parses a whole decimal integer, sign allowed.
std::optional<std::int64_t> parse_integer(std::string_view text) {
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

/// Parses a duration: a whole number of seconds, or a number followed by s, m, h or d, such as
/// "30m" or "48h". Returns nothing and sets `problem` when `text` is neither.
std::optional<std::int64_t> parse_duration(std::string_view text, std::string& problem) {
    std::size_t digits_end = 0;
    if (digits_end < text.size() && (text[0] == '-' || text[0] == '+')) {
        ++digits_end;
    }
    while (digits_end < text.size() && std::isdigit(static_cast<unsigned char>(text[digits_end]))) {
        ++digits_end;
    }
    const std::optional<std::int64_t> number = parse_integer(text.substr(0, digits_end));
    const std::string unit = trim(text.substr(digits_end));
    if (!number) {
        problem = "expected a whole number of seconds, or a number with s, m, h or d, such as 30m";
        return std::nullopt;
    }
    std::int64_t seconds_per_unit = 1;
    if (unit == "m") {
        seconds_per_unit = 60;
    } else if (unit == "h") {
        seconds_per_unit = 3600;
    } else if (unit == "d") {
        seconds_per_unit = 86400;
    } else if (!unit.empty() && unit != "s") {
        problem = "unknown unit \"" + unit + "\": expected s, m, h or d, such as 30m or 48h";
        return std::nullopt;
    }
    std::int64_t seconds = 0;
    if (__builtin_mul_overflow(*number, seconds_per_unit, &seconds)) {
        problem = "the duration is too long";
        return std::nullopt;
    }
    return seconds;
}

/// Writes seconds as an exact duration string: "48h", "30m", "90s", and days only beyond
/// 72 hours, because "48h" reads better than "2d".
std::string format_duration(std::int64_t seconds) {
    if (seconds > 72 * 3600 && seconds % 86400 == 0) {
        return fmt::format("{}d", seconds / 86400);
    }
    if (seconds != 0 && seconds % 3600 == 0) {
        return fmt::format("{}h", seconds / 3600);
    }
    if (seconds != 0 && seconds % 60 == 0) {
        return fmt::format("{}m", seconds / 60);
    }
    return fmt::format("{}s", seconds);
}

/// Splits a comma-separated list and drops items that are empty or only spaces. Other items
/// are trimmed when `trim_items` is set. Column names are not, because a CSV header may pad them.
std::vector<std::string> split_list(std::string_view text, bool trim_items = true) {
    std::vector<std::string> items;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t comma = std::min(text.find(',', start), text.size());
        const std::string_view item = text.substr(start, comma - start);
        if (!trim(item).empty()) {
            items.push_back(trim_items ? trim(item) : std::string(item));
        }
        start = comma + 1;
    }
    return items;
}

/// Parses a comma-separated list of positive Telegram user ids, as --admins and
/// TGSEARCH_ADMINS take it. `setting` names the flag or variable in the message.
std::optional<std::vector<std::int64_t>> parse_id_list(std::string_view text,
                                                       std::string_view setting,
                                                       std::string& problem) {
    std::vector<std::int64_t> ids;
    for (const std::string& item : split_list(text)) {
        const std::optional<std::int64_t> id = parse_integer(item);
        if (!id || *id <= 0) {
            problem = fmt::format(
                "invalid user id \"{}\" in {} \"{}\": expected positive Telegram user ids "
                "separated by commas, such as 12345,67890",
                item, setting, text);
            return std::nullopt;
        }
        ids.push_back(*id);
    }
    return ids;
}

/// Replaces a password in a Redis or proxy URL with "****". Values of other keys are returned
/// unchanged.
std::string mask_secrets(std::string_view key, std::string_view text) {
    if (key == "redis") {
        return mask_redis_url(text);
    }
    if (key == "proxy") {
        return detail::mask_url_password(text);
    }
    return std::string(text);
}

/// Writes the value of `spec` in `values` as TOML, with passwords masked.
std::string render_value(const setting_spec& spec, const settings& values) {
    return std::visit(
        [&](auto member) -> std::string {
            const auto& field = values.*member;
            using field_type = std::remove_cvref_t<decltype(field)>;
            if constexpr (std::is_same_v<field_type, std::string>) {
                return toml_quote(mask_secrets(spec.key, field));
            } else if constexpr (std::is_same_v<field_type, bool>) {
                return field ? "true" : "false";
            } else if constexpr (std::is_same_v<field_type, std::int64_t>) {
                if (spec.type == setting_type::duration) {
                    return toml_quote(format_duration(field));
                }
                return std::to_string(field);
            } else if constexpr (std::is_same_v<field_type, std::vector<std::string>>) {
                std::string list = "[";
                for (std::size_t i = 0; i < field.size(); ++i) {
                    list += (i == 0 ? "" : ", ") + toml_quote(field[i]);
                }
                return list + "]";
            } else {
                return "[" + fmt::format("{}", fmt::join(field, ", ")) + "]";
            }
        },
        spec.member);
}

// ------------------------------------------------------------------------------------------
// The command line

/// Values as CLI11 parsed them, before they are merged with the other sources.
struct command_line_values {
    settings values;
    std::string text_columns;  ///< --text-column: comma-separated
    std::string admins;        ///< --admins: comma-separated
};

/// The options that set each key: the server's, and the index command's of the same name.
using option_map = std::map<std::string, std::vector<CLI::Option*>, std::less<>>;

/// Adds --corpus and the options that describe how to read it to `app`, the server or the
/// index command. `sample_default` is set for the server, which indexes the built-in sample
/// without --corpus.
void add_corpus_options(CLI::App& app, command_line_values& flags, option_map& options,
                        bool sample_default) {
    settings& values = flags.values;
    options["corpus"].push_back(app.add_option(
        "--corpus", values.corpus,
        std::string("Corpus to index: a JSONL, CSV or TSV file, a Telegram Desktop "
                    "export (result.json or its folder), or a folder of .txt and .md "
                    "files; files may be gzipped. Repeatable, and formats may be "
                    "mixed. Options for one source follow its path after '#', "
                    "separated by ';': text=COLUMNS, title=, id=, url=, format=, as in "
                    "'faq.csv#text=q,a;title=q'") +
            (sample_default ? ". Default: the sample corpus built into the binary" : "")));
    options["format"].push_back(
        app.add_option("--format", values.format,
                       "Corpus format of every --corpus: detect, jsonl, csv, tsv, telegram or "
                       "folder; detect decides per source from its name or first line")
            ->capture_default_str());
    options["id-column"].push_back(
        app.add_option("--id-column", values.id_column,
                       "CSV/TSV column with the document id in every CSV/TSV source (default: id, "
                       "else <file>:<line>)"));
    options["title-column"].push_back(
        app.add_option("--title-column", values.title_column,
                       "CSV/TSV column with the title in every CSV/TSV source (default: title)"));
    options["text-column"].push_back(
        app.add_option("--text-column", flags.text_columns,
                       "CSV/TSV column with the text in every CSV/TSV source, or several separated "
                       "by commas, joined with line breaks (default: text, body, content or "
                       "message)"));
    options["url-column"].push_back(
        app.add_option("--url-column", values.url_column,
                       "CSV/TSV column with the link in every CSV/TSV source (default: url or "
                       "link)"));
    options["channel-username"].push_back(app.add_option(
        "--channel-username", values.channel_username,
        "Public username of the channel or supergroup of a single-chat Telegram "
        "export (name, @name or https://t.me/name), for https://t.me/name/<id> "
        "links; without it links use t.me/c/<chat id>, which only members can open"));
}

/// Adds the options of the connection to the Bot API and of the webhook to `app`.
void add_connection_options(CLI::App& app, command_line_values& flags, option_map& options) {
    settings& values = flags.values;
    options["token-file"].push_back(app.add_option(
        "--token-file", values.token_file,
        "File that contains the bot token (takes precedence over TELEGRAM_BOT_TOKEN)"));
    options["api-url"].push_back(
        app.add_option("--api-url", values.api_url,
                       "Bot API base URL; http:// is allowed for a local Bot API server")
            ->capture_default_str());
    options["proxy"].push_back(
        app.add_option("--proxy", values.proxy,
                       "Proxy for the Bot API: socks5://[user:password@]host:port (the proxy "
                       "resolves host names) or http://[user:password@]host[:port] (CONNECT). "
                       "Default: https_proxy, HTTPS_PROXY (http_proxy for an http:// API URL), "
                       "all_proxy or ALL_PROXY, except for hosts in no_proxy or NO_PROXY. "
                       "--proxy \"\" connects directly and ignores those variables"));

    options["webhook-url"].push_back(app.add_option(
        "--webhook-url", values.webhook_url,
        "Receive updates by webhook at this HTTPS URL instead of polling getUpdates. "
        "A TLS reverse proxy must forward it to --listen; Telegram connects only to "
        "ports 443, 80, 88 and 8443"));
    options["listen"].push_back(
        app.add_option("--listen", values.listen,
                       "Address and port of the webhook HTTP server, such as 127.0.0.1:8080 or "
                       "[::1]:8080; required with --webhook-url"));
    options["poll-timeout"].push_back(
        app.add_option("--poll-timeout", values.poll_timeout_seconds,
                       "getUpdates long-poll timeout in seconds (0 to 50)")
            ->capture_default_str());
}

/// Adds the server's options other than the corpus options to `app`.
void add_server_options(CLI::App& app, command_line_values& flags, option_map& options) {
    settings& values = flags.values;
    options["index"].push_back(
        app.add_option("--index", values.index,
                       "Index file to serve, written by `tgsearch index`; replaces --corpus and "
                       "starts in a fraction of the time")
            ->excludes("--corpus"));
    options["workers"].push_back(app.add_option(
        "--workers", values.workers, "Search worker threads (default: the number of CPU cores)"));
    options["ring-capacity"].push_back(
        app.add_option("--ring-capacity", values.ring_capacity,
                       "Messages the queue to the workers holds (a power of two)")
            ->capture_default_str());
    options["console"].push_back(
        app.add_flag("--console", values.console,
                     "Answer queries from standard input even when a token is configured"));
    add_connection_options(app, flags, options);

    options["shutdown-timeout"].push_back(
        app.add_option("--shutdown-timeout", values.shutdown_timeout_seconds,
                       "Seconds to finish queued work after SIGTERM or SIGINT (0 to 3600)")
            ->capture_default_str());
    options["page-size"].push_back(
        app.add_option("--page-size", values.page_size,
                       "Results per page of a Telegram reply (1 to 20); more results are paged "
                       "with buttons")
            ->capture_default_str());
    options["page-expiry"].push_back(
        app.add_option("--page-expiry", values.page_expiry_seconds,
                       "How long the buttons of a result page keep working after their last "
                       "use: seconds, or a number with s, m, h or d, such as 30m or 48h, "
                       "up to 365d (default: 48h)")
            ->transform(CLI::AsNumberWithUnit(
                std::map<std::string, std::int64_t>{{"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}},
                CLI::AsNumberWithUnit::CASE_SENSITIVE)));

    options["flood-limits"].push_back(
        app.add_option("--flood-limits", values.flood_limits,
                       "telegram: pace replies to Telegram's flood limits; off: send at once, "
                       "only for tests and benchmarks against a fake Bot API server")
            ->check(CLI::IsMember({"telegram", "off"}))
            ->capture_default_str());
    options["log-level"].push_back(
        app.add_option("--log-level", values.log_level,
                       "trace, debug, info, warn, error, critical or off")
            ->capture_default_str());

    options["redis"].push_back(
        app.add_option("--redis", values.redis,
                       "Redis that keeps received updates, answered ids and the offset, so that a "
                       "restart after a crash loses no update and answers none twice, and that "
                       "stores the queries the ring has no room for: redis://[[user]:password@]"
                       "host[:port][/db] or unix:///path/to/redis.sock[?db=N]. Default: "
                       "TGSEARCH_REDIS_URL, which keeps the password out of the process list; "
                       "without either the bot keeps this state in memory only"));
    options["metrics"].push_back(app.add_option(
        "--metrics", values.metrics,
        "Serve Prometheus metrics at /metrics and the polling health at /healthz on "
        "this address and port, such as 127.0.0.1:9464. Default: no metrics server"));
    options["admins"].push_back(app.add_option(
        "--admins", flags.admins, "Telegram user ids, separated by commas, that may use /stats"));
    options["log-format"].push_back(
        app.add_option("--log-format", values.log_format,
                       "text: one readable line per event; json: one JSON object per line, for "
                       "log shippers")
            ->check(CLI::IsMember({"text", "json"}))
            ->capture_default_str());
}

void add_config_option(CLI::App& app, command_line_values& flags, option_map& options) {
    options["config"].push_back(app.add_option(
        "--config", flags.values.config_path,
        "TOML file with settings, keyed by the long option names without the dashes, such as "
        "poll-timeout = 50. Flags and TGSEARCH_* variables take precedence over it. Default: "
        "TGSEARCH_CONFIG, else none"));
}

// ------------------------------------------------------------------------------------------
// Converting values from the environment and the config file

/// Converts the text of an environment variable or list flag for `spec`. Returns nothing and
/// sets `problem` (what is expected) when the text does not fit the type.
std::optional<setting_value> parse_text_value(const setting_spec& spec, std::string_view text,
                                              std::string_view setting, std::string& problem) {
    switch (spec.type) {
        case setting_type::text:
            return std::string(text);
        case setting_type::integer: {
            if (const auto number = parse_integer(trim(text))) {
                return *number;
            }
            problem = "expected a whole number, such as " + std::string(spec.example);
            return std::nullopt;
        }
        case setting_type::boolean: {
            const std::string word = lower_case(trim(text));
            if (word == "true" || word == "1" || word == "yes" || word == "on") {
                return true;
            }
            if (word == "false" || word == "0" || word == "no" || word == "off") {
                return false;
            }
            problem = "expected true or false";
            return std::nullopt;
        }
        case setting_type::text_list:
            return split_list(text, spec.key != "text-column");
        case setting_type::integer_list: {
            std::optional<std::vector<std::int64_t>> ids = parse_id_list(text, setting, problem);
            if (!ids) {
                return std::nullopt;
            }
            return std::move(*ids);
        }
        case setting_type::duration:
            if (const auto seconds = parse_duration(trim(text), problem)) {
                return *seconds;
            }
            return std::nullopt;
    }
    return std::nullopt;
}

/// Writes a TOML node on one line, cut to max_shown_value_chars.
std::string render_node(const toml::node& node) {
    std::ostringstream out;
    if (const toml::table* table = node.as_table()) {
        out << "{ ";
        bool first = true;
        for (const auto& [key, value] : *table) {
            out << (first ? "" : ", ") << key.str() << " = " << render_node(value);
            first = false;
        }
        out << " }";
    } else if (const toml::array* array = node.as_array()) {
        out << "[";
        for (std::size_t i = 0; i < array->size(); ++i) {
            out << (i == 0 ? "" : ", ") << render_node(*array->get(i));
        }
        out << "]";
    } else if (const auto* text = node.as_string()) {
        out << toml_quote(text->get());
    } else {
        node.visit([&out](const auto& value) { out << value; });
    }
    return shorten(out.str());
}

std::string_view toml_type_name(const toml::node& node) {
    switch (node.type()) {
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a floating-point number";
        case toml::node_type::boolean:
            return "a boolean";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::table:
            return "a table";
        default:
            return "a date or time";
    }
}

/// A value from the config file that does not fit its key.
struct file_value_problem {
    std::size_t line = 0;  ///< where the value or list item is
    std::string message;   ///< what is wrong and what is expected
};

/// Converts a TOML integer, or reports why `node` is not one. A string that contains an integer
/// gets the advice to drop the quotes.
std::optional<std::int64_t> toml_integer(const toml::node& node, std::string_view example,
                                         std::string& problem) {
    if (const auto* integer = node.as_integer()) {
        return integer->get();
    }
    if (const auto* text = node.as_string()) {
        if (parse_integer(trim(text->get()))) {
            problem =
                "expected an integer, not a string: drop the quotes, as in " + std::string(example);
            return std::nullopt;
        }
    }
    problem = fmt::format("expected an integer such as {}, not {}", example, toml_type_name(node));
    return std::nullopt;
}

/// Converts the TOML value of `spec`. Returns nothing and fills `problem` when the value does
/// not fit.
std::optional<setting_value> convert_file_value(const setting_spec& spec, const toml::node& node,
                                                file_value_problem& problem) {
    problem.line = node.source().begin.line;
    const std::string key_example = std::string(spec.key) + " = " + std::string(spec.example);
    switch (spec.type) {
        case setting_type::text:
            if (const auto* text = node.as_string()) {
                return text->get();
            }
            problem.message = fmt::format("expected a string in quotes, such as {}, not {}",
                                          key_example, toml_type_name(node));
            return std::nullopt;
        case setting_type::integer:
            if (const auto number = toml_integer(node, key_example, problem.message)) {
                return *number;
            }
            return std::nullopt;
        case setting_type::boolean:
            if (const auto* flag = node.as_boolean()) {
                return flag->get();
            }
            problem.message =
                fmt::format("expected true or false without quotes, not {}", toml_type_name(node));
            return std::nullopt;
        case setting_type::duration:
            if (const auto* integer = node.as_integer()) {
                return integer->get();
            }
            if (const auto* text = node.as_string()) {
                if (parse_integer(trim(text->get()))) {
                    problem.message = fmt::format(
                        "a number of seconds is an integer: drop the quotes, or add a unit "
                        "such as \"{}s\"",
                        trim(text->get()));
                    return std::nullopt;
                }
                if (const auto seconds = parse_duration(trim(text->get()), problem.message)) {
                    return *seconds;
                }
                return std::nullopt;
            }
            problem.message = fmt::format(
                "expected an integer number of seconds or a string with a unit, such as {}, "
                "not {}",
                key_example, toml_type_name(node));
            return std::nullopt;
        case setting_type::text_list:
        case setting_type::integer_list:
            break;
    }
    const toml::array* array = node.as_array();
    if (array == nullptr) {
        problem.message =
            fmt::format("expected an array such as {}, not {}", key_example, toml_type_name(node));
        return std::nullopt;
    }
    std::vector<std::string> texts;
    std::vector<std::int64_t> numbers;
    for (std::size_t i = 0; i < array->size(); ++i) {
        const toml::node& item = *array->get(i);
        problem.line = item.source().begin.line;
        const std::string item_name = fmt::format("item {} ({})", i + 1, render_node(item));
        if (spec.type == setting_type::text_list) {
            const auto* text = item.as_string();
            if (text == nullptr || text->get().empty()) {
                problem.message =
                    fmt::format("{} is {}: expected a non-empty string, as in {}", item_name,
                                text == nullptr ? toml_type_name(item) : "empty", key_example);
                return std::nullopt;
            }
            texts.push_back(text->get());
        } else {
            std::string item_problem;
            const std::optional<std::int64_t> number =
                toml_integer(item, key_example, item_problem);
            if (!number || *number <= 0) {
                problem.message =
                    fmt::format("{}: {}", item_name,
                                number ? "expected a positive Telegram user id" : item_problem);
                return std::nullopt;
            }
            numbers.push_back(*number);
        }
    }
    if (spec.type == setting_type::text_list) {
        return texts;
    }
    return numbers;
}

/// Tells whether the name of a config key suggests a secret, whose value must not appear in an
/// error.
bool names_a_secret(std::string_view key) {
    const std::string name = lower_case(key);
    return name.find("token") != std::string::npos || name.find("secret") != std::string::npos ||
           name.find("password") != std::string::npos;
}

/// Builds the error for the unknown config key `key`, with a suggestion for a near miss.
std::string unknown_key_message(std::string_view key, const toml::node& value) {
    if (key == "token" || key == "bot-token" || key == "bot_token") {
        return fmt::format(
            "unknown key {}: the config file takes no bot token. Put the token in a file that "
            "only the bot's user can read and name it with token-file, or set "
            "TELEGRAM_BOT_TOKEN",
            key);
    }
    std::string message = fmt::format("unknown key {}", key);
    if (!names_a_secret(key)) {
        message += " = " + render_node(value);
    }
    if (key == "config") {
        return message + ": a config file cannot name another one";
    }
    std::vector<std::string> keys;
    for (const setting_spec& spec : setting_specs) {
        keys.emplace_back(spec.key);
    }
    std::string suggestion = nearest_name(key, keys);
    if (suggestion.empty() && (lower_case(key) == "redis-url" || lower_case(key) == "redis_url")) {
        suggestion = "redis";
    }
    if (!suggestion.empty()) {
        return message + fmt::format(": did you mean {}?", suggestion);
    }
    if (value.is_table()) {
        return message + ": settings are top-level keys, not tables, such as poll-timeout = 50";
    }
    return message +
           ": the keys are the long option names that `tgsearch --help` lists, "
           "without the leading dashes";
}

/// Reads the config file into `loaded`: each known key overrides the default, and each problem
/// becomes an error that names the file, line, key and value.
void apply_config_file(loaded_settings& loaded, const std::string& path,
                       const config_file_reader& read_file) {
    config_file_contents contents;
    try {
        contents = read_file(path);
    } catch (const std::exception& error) {
        loaded.errors.push_back(error.what());
        return;
    }
    loaded.values.config_path = path;
    toml::table table;
    try {
        table = toml::parse(contents.text, path);
    } catch (const toml::parse_error& error) {
        loaded.errors.push_back(fmt::format("{}:{}: invalid TOML: {}", path,
                                            error.source().begin.line, error.description()));
        return;
    }
    // The table iterates in key order, so problems are collected by line and sorted.
    std::vector<std::pair<std::size_t, std::string>> problems;
    std::vector<std::string> warnings;
    std::vector<std::string> secret_keys;
    for (const auto& [key, node] : table) {
        const std::string_view name = key.str();
        const setting_spec* spec = find_spec(name);
        if (spec == nullptr) {
            const std::size_t line = key.source().begin.line;
            problems.emplace_back(
                line, fmt::format("{}:{}: {}", path, line, unknown_key_message(name, node)));
            continue;
        }
        // A multi-line array starts on the line of its key.
        const std::size_t line = key.source().begin.line;
        file_value_problem problem;
        std::optional<setting_value> value = convert_file_value(*spec, node, problem);
        if (!value) {
            problems.emplace_back(
                problem.line, fmt::format("{}:{}: invalid {} = {}: {}", path, problem.line, name,
                                          render_node(node), problem.message));
            continue;
        }
        if (const auto* text = std::get_if<std::string>(&*value);
            text != nullptr && mask_secrets(name, *text) != *text) {
            secret_keys.emplace_back(name);
        }
        if (spec->is_path) {
            const auto* text = std::get_if<std::string>(&*value);
            const auto* list = std::get_if<std::vector<std::string>>(&*value);
            const std::vector<std::string> paths =
                text != nullptr ? std::vector<std::string>{*text} : *list;
            for (const std::string& item : paths) {
                if (!item.empty() && item.front() != '/') {
                    warnings.push_back(fmt::format(
                        "{}:{}: {} \"{}\" is a relative path, which is resolved against the "
                        "working directory of the process: give an absolute path",
                        path, line, name, item));
                }
            }
        }
        store_value(*spec, std::move(*value), loaded.values);
        loaded.values.origins[std::string(name)] =
            setting_origin{setting_source::config_file, "", line};
    }
    std::stable_sort(problems.begin(), problems.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [line, message] : problems) {
        loaded.errors.push_back(std::move(message));
    }
    loaded.warnings.insert(loaded.warnings.end(), warnings.begin(), warnings.end());
    const bool group_may_read_only = (contents.permissions & 070) == 040;
    const bool shared =
        (contents.permissions & 007) != 0 ||
        ((contents.permissions & 070) != 0 && !(contents.owned_by_root && group_may_read_only));
    if (!secret_keys.empty() && shared) {
        loaded.warnings.push_back(fmt::format(
            "config file {} contains a password ({}) and other users may read or write it "
            "(mode {:04o}): run chmod 600 {}",
            path, fmt::join(secret_keys, ", "), contents.permissions & 07777, path));
    }
}

/// Applies the TGSEARCH_* variables of `environment` and warns about unknown ones.
void apply_environment(loaded_settings& loaded, const environment_map& environment) {
    std::vector<std::string> known{std::string(config_variable)};
    for (const setting_spec& spec : setting_specs) {
        const std::string name = environment_variable_for(spec.key);
        known.push_back(name);
        const auto found = environment.find(name);
        // systemd's Environment=NAME= sets an empty value, which is taken to mean unset.
        if (found == environment.end() || found->second.empty()) {
            continue;
        }
        std::string problem;
        std::optional<setting_value> value = parse_text_value(spec, found->second, name, problem);
        if (!value) {
            loaded.errors.push_back(
                spec.type == setting_type::integer_list
                    ? problem
                    : fmt::format("invalid {}={}: {}", name,
                                  shorten(mask_secrets(spec.key, found->second)), problem));
            continue;
        }
        store_value(spec, std::move(*value), loaded.values);
        loaded.values.origins[std::string(spec.key)] =
            setting_origin{setting_source::environment, name, 0};
    }
    for (const auto& [name, value] : environment) {
        if (!name.starts_with(environment_prefix) ||
            std::find(known.begin(), known.end(), name) != known.end()) {
            continue;
        }
        std::string warning = fmt::format("ignoring the unknown environment variable {}", name);
        if (const std::string suggestion = nearest_name(name, known); !suggestion.empty()) {
            warning += fmt::format(": did you mean {}?", suggestion);
        }
        loaded.warnings.push_back(std::move(warning));
    }
}

/// Applies every option given on the command line over the values of the other sources.
void apply_flags(loaded_settings& loaded, const command_line_values& flags,
                 const option_map& options) {
    for (const setting_spec& spec : setting_specs) {
        const auto found = options.find(spec.key);
        if (found == options.end()) {
            continue;
        }
        std::size_t count = 0;
        for (const CLI::Option* option : found->second) {
            count += option->count();
        }
        if (count == 0) {
            continue;
        }
        const std::string flag = "--" + std::string(spec.key);
        if (spec.key == "text-column") {
            loaded.values.text_columns = split_list(flags.text_columns, false);
        } else if (spec.key == "admins") {
            std::string problem;
            std::optional<std::vector<std::int64_t>> ids =
                parse_id_list(flags.admins, flag, problem);
            if (!ids) {
                loaded.errors.push_back(problem);
                continue;
            }
            loaded.values.admins = std::move(*ids);
        } else {
            copy_value(spec, flags.values, loaded.values);
        }
        loaded.values.origins[std::string(spec.key)] =
            setting_origin{setting_source::command_line, flag, 0};
    }
}

/// Describes an origin for check-config and notes: "config file line 4" and the like.
std::string describe_origin(const setting_origin& origin) {
    switch (origin.source) {
        case setting_source::built_in_default:
            return "default";
        case setting_source::config_file:
            return fmt::format("config file line {}", origin.line);
        case setting_source::environment:
            return "environment " + origin.name;
        case setting_source::command_line:
            return "flag " + origin.name;
    }
    return "default";
}

/// Chooses between the index file and the corpus, because the server serves one of them. When
/// both are set, the one from the higher source wins, and index wins a tie, so that one config
/// file can name the corpus for `tgsearch index` and the index file for the server.
void choose_corpus_or_index(settings& values) {
    if (values.index.empty() || values.corpus.empty()) {
        return;
    }
    const setting_origin corpus = values.origin("corpus");
    const setting_origin index = values.origin("index");
    if (corpus.source > index.source) {
        values.notes["corpus"] = fmt::format("index from {} is not used", describe_origin(index));
        values.index.clear();
    } else {
        values.notes["index"] = fmt::format("corpus from {} is not used", describe_origin(corpus));
        values.corpus.clear();
    }
}

}  // namespace

// ------------------------------------------------------------------------------------------
// Loading

const setting_origin& settings::origin(std::string_view key) const {
    static const setting_origin built_in_default;
    const auto found = origins.find(key);
    return found == origins.end() ? built_in_default : found->second;
}

std::string environment_variable_for(std::string_view key) {
    if (key == "redis") {
        return "TGSEARCH_REDIS_URL";
    }
    std::string name(environment_prefix);
    for (const char c : key) {
        name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return name;
}

config_file_contents read_config_file(const std::string& path) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) {
        throw std::runtime_error(fmt::format("cannot read config file {}: {}", path,
                                             std::generic_category().message(errno)));
    }
    if (!S_ISREG(info.st_mode)) {
        throw std::runtime_error(fmt::format(
            "config file {} is not a regular file: give the path of a TOML file", path));
    }
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        throw std::runtime_error(fmt::format(
            "cannot read config file {}: check its permissions for the bot's user", path));
    }
    std::ostringstream text;
    text << file.rdbuf();
    return config_file_contents{text.str(), static_cast<unsigned>(info.st_mode & 07777),
                                info.st_uid == 0};
}

std::variant<loaded_settings, command_line_exit> load_settings(
    const std::vector<std::string>& arguments, const environment_map& environment,
    const config_file_reader& read_file) {
    CLI::App app{
        "tgsearch: a Telegram bot that searches a corpus of documents.\n"
        "With a bot token (TELEGRAM_BOT_TOKEN or --token-file) it serves Telegram;\n"
        "without one it answers queries typed on standard input."};
    app.footer(
        "Each option is also a key of the --config file (poll-timeout = 50) and an environment "
        "variable (TGSEARCH_POLL_TIMEOUT=50). A flag takes precedence over a variable, and a "
        "variable over the file.");
    command_line_values flags;
    option_map options;
    add_config_option(app, flags, options);
    add_corpus_options(app, flags, options, true);
    add_server_options(app, flags, options);

    CLI::App* index_command = app.add_subcommand(
        "index", "Build the index of a corpus and write it to a file that --index serves");
    add_config_option(*index_command, flags, options);
    add_corpus_options(*index_command, flags, options, false);
    options["output"].push_back(index_command->add_option(
        "--output", flags.values.output,
        "Index file to write; it is written to FILE.tmp first and renamed"));
    options["log-level"].push_back(
        index_command
            ->add_option("--log-level", flags.values.log_level,
                         "trace, debug, info, warn, error, critical or off")
            ->capture_default_str());

    CLI::App* check_command = app.add_subcommand(
        "check-config",
        "Check the settings of the server as it would load them from --config, the "
        "environment and the other options given, print them with the source of each, and "
        "exit: 0 when they are valid, 2 otherwise. Reads no corpus and connects nowhere");
    check_command->footer("check-config takes every option of the server, such as --config.");
    // Options after check-config, such as --config, belong to the server.
    check_command->fallthrough();

    std::vector<const char*> argv;
    argv.reserve(arguments.size());
    for (const std::string& argument : arguments) {
        argv.push_back(argument.c_str());
    }
    try {
        app.parse(static_cast<int>(argv.size()), argv.data());
    } catch (const CLI::ParseError& error) {
        std::ostringstream output;
        std::ostringstream error_output;
        int exit_code = app.exit(error, output, error_output);
        if (exit_code != 0 && check_command->parsed()) {
            // check-config exits 2 for every invalid setting, flags included.
            exit_code = 2;
        }
        // CLI11 quotes the value it rejects, which may be a token or a URL with a password.
        // The help text is left alone: its URL templates contain "password@".
        return command_line_exit{exit_code, output.str(), mask_secrets_in(error_output.str(), "")};
    }

    loaded_settings loaded;
    if (index_command->parsed()) {
        loaded.command = command::index;
    } else if (check_command->parsed()) {
        loaded.command = command::check_config;
    }
    std::string config_path;
    std::size_t config_flags = 0;
    for (const CLI::Option* option : options["config"]) {
        config_flags += option->count();
    }
    if (config_flags > 0) {
        config_path = flags.values.config_path;
    } else if (const auto found = environment.find(config_variable);
               found != environment.end() && !found->second.empty()) {
        config_path = found->second;
    }
    if (!config_path.empty()) {
        apply_config_file(loaded, config_path, read_file);
    }
    apply_environment(loaded, environment);
    apply_flags(loaded, flags, options);
    loaded.values.config_path = config_path;
    if (loaded.command != command::index) {
        choose_corpus_or_index(loaded.values);
    }
    // The token is not known before check_settings reads it, so only values of its form and
    // URL passwords are masked here. The caller masks the token itself once it is known.
    mask_secrets_in(loaded.errors, "");
    mask_secrets_in(loaded.warnings, "");
    return loaded;
}

// ------------------------------------------------------------------------------------------
// Checking

bool looks_like_token(std::string_view token) {
    const auto colon = token.find(':');
    if (colon == 0 || colon == std::string_view::npos || colon + 1 == token.size()) {
        return false;
    }
    for (std::size_t i = 0; i < token.size(); ++i) {
        const char c = token[i];
        const bool digit = c >= '0' && c <= '9';
        const bool word =
            digit || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
        if (i < colon ? !digit : (i > colon && !word)) {
            return false;
        }
    }
    return true;
}

std::string mask_bot_token(std::string_view token) {
    if (!looks_like_token(token)) {
        return "****";
    }
    return std::string(token.substr(0, token.find(':'))) + ":****";
}

namespace {

bool is_token_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
}

/// Ends of a value inside a message: values are shown bare, in TOML quotes or after '='.
bool ends_value(char c) {
    return std::isspace(static_cast<unsigned char>(c)) != 0 || c == '"' || c == '\'';
}

void replace_all(std::string& text, std::string_view secret, std::string_view mask) {
    if (secret.empty()) {
        return;
    }
    for (std::size_t found = text.find(secret); found != std::string::npos;
         found = text.find(secret, found + mask.size())) {
        text.replace(found, secret.size(), mask);
    }
}

/// Masks the secret of every run that has the form of a bot token: three or more digits that
/// follow no digit or '.', a colon, then five or more token characters with a letter among
/// them. Addresses such as 127.0.0.1:8080 and IPv6 groups, of at most four characters, never
/// have that form.
void mask_token_forms(std::string& text) {
    for (std::size_t colon = text.find(':'); colon != std::string::npos;
         colon = text.find(':', colon + 1)) {
        std::size_t id_start = colon;
        while (id_start > 0 && std::isdigit(static_cast<unsigned char>(text[id_start - 1]))) {
            --id_start;
        }
        if (colon - id_start < 3 || (id_start > 0 && text[id_start - 1] == '.')) {
            continue;
        }
        std::size_t secret_end = colon + 1;
        bool has_letter = false;
        while (secret_end < text.size() && is_token_char(text[secret_end])) {
            has_letter = has_letter || std::isalpha(static_cast<unsigned char>(text[secret_end]));
            ++secret_end;
        }
        if (secret_end - colon - 1 >= 5 && has_letter) {
            text.replace(colon + 1, secret_end - colon - 1, "****");
        }
    }
}

/// Masks the password of every URL of the form scheme://user:password@host. The whole user info
/// of a redis:// URL is masked when it has no colon, because Redis clients read it as a password.
void mask_url_user_info(std::string& text) {
    for (std::size_t scheme_end = text.find("://"); scheme_end != std::string::npos;
         scheme_end = text.find("://", scheme_end + 3)) {
        const std::size_t start = scheme_end + 3;
        std::size_t end = start;
        while (end < text.size() && !ends_value(text[end]) && text[end] != '?') {
            ++end;
        }
        // A password may contain '/' or '@', so the user info ends at the last '@'.
        const std::size_t at = text.rfind('@', end == start ? start : end - 1);
        if (at == std::string::npos || at < start) {
            continue;
        }
        const std::string_view user_info = std::string_view(text).substr(start, at - start);
        const std::size_t colon = user_info.find(':');
        std::size_t scheme_start = scheme_end;
        while (scheme_start > 0 &&
               std::isalpha(static_cast<unsigned char>(text[scheme_start - 1]))) {
            --scheme_start;
        }
        const bool redis =
            lower_case(text.substr(scheme_start, scheme_end - scheme_start)).starts_with("redis");
        if (colon != std::string::npos) {
            text.replace(start + colon + 1, at - start - colon - 1, "****");
        } else if (redis) {
            text.replace(start, at - start, "****");
        }
    }
}

/// Masks the value of every password= or pass= query parameter, as in
/// unix:///run/redis.sock?password=SECRET.
void mask_password_parameters(std::string& text) {
    std::string masked;
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t name_size = 0;
        if (i == 0 || !is_token_char(text[i - 1])) {
            for (const std::string_view name : {"password=", "pass="}) {
                if (lower_case(std::string_view(text).substr(i, name.size())) == name) {
                    name_size = name.size();
                }
            }
        }
        if (name_size == 0) {
            masked += text[i];
            ++i;
            continue;
        }
        masked += text.substr(i, name_size) + "****";
        i += name_size;
        while (i < text.size() && !ends_value(text[i]) && text[i] != '&' && text[i] != '#') {
            ++i;
        }
    }
    text = std::move(masked);
}

}  // namespace

std::string mask_secrets_in(std::string_view text, std::string_view token) {
    std::string masked(text);
    if (!token.empty()) {
        replace_all(masked, token, mask_bot_token(token));
        if (const std::size_t colon = token.find(':'); colon != std::string_view::npos) {
            replace_all(masked, token.substr(colon + 1), "****");
        }
    }
    mask_token_forms(masked);
    mask_url_user_info(masked);
    mask_password_parameters(masked);
    return masked;
}

void mask_secrets_in(std::vector<std::string>& lines, std::string_view token) {
    for (std::string& line : lines) {
        line = mask_secrets_in(line, token);
    }
}

namespace {

/// Collects the problems of check_settings, each worded for the source of its value.
class settings_checker {
public:
    settings_checker(const settings& values, settings_check& check)
        : values_(values), check_(check) {}

    /// Returns the name that messages use for `key`, which is its flag, its environment
    /// variable or its config file key.
    std::string name(std::string_view key) const {
        const setting_origin& origin = values_.origin(key);
        switch (origin.source) {
            case setting_source::config_file:
                return std::string(key);
            case setting_source::environment:
                return origin.name;
            default:
                return "--" + std::string(key);
        }
    }

    /// Returns the name of `key` when it is set, else its name in the source of `model`. That
    /// is the key for the config file, the variable for the environment and the flag
    /// otherwise. Messages use it for a missing setting that `model` needs.
    std::string name_like(std::string_view key, std::string_view model) const {
        if (values_.is_set(key)) {
            return name(key);
        }
        switch (values_.origin(model).source) {
            case setting_source::config_file:
                return std::string(key);
            case setting_source::environment:
                return environment_variable_for(key);
            default:
                return "--" + std::string(key);
        }
    }

    /// Returns "PATH:LINE: " for a value from the config file, else an empty string.
    std::string where(std::string_view key) const {
        const setting_origin& origin = values_.origin(key);
        if (origin.source != setting_source::config_file) {
            return "";
        }
        return fmt::format("{}:{}: ", values_.config_path, origin.line);
    }

    /// Reports that `key` has an invalid value, written as `value_text`, and what is expected.
    void invalid(std::string_view key, std::string_view value_text, std::string_view expected) {
        const setting_origin& origin = values_.origin(key);
        std::string assignment;
        switch (origin.source) {
            case setting_source::config_file:
                assignment = fmt::format("{} = {}", key, value_text);
                break;
            case setting_source::environment:
                assignment = fmt::format("{}={}", origin.name, value_text);
                break;
            default:
                assignment = fmt::format("--{} {}", key, value_text);
        }
        error(key, fmt::format("invalid {}: {}", assignment, expected));
    }

    /// Reports that the integer `key` is outside the range that `expected` states.
    void invalid_number(std::string_view key, std::int64_t value, std::string_view expected) {
        invalid(key, std::to_string(value), expected);
    }

    /// Reports that the text `key` is invalid, showing it as TOML in the config file.
    void invalid_text(std::string_view key, const std::string& value, std::string_view expected) {
        const bool in_file = values_.origin(key).source == setting_source::config_file;
        invalid(key, in_file ? toml_quote(value) : value, expected);
    }

    /// Runs `parse`, and reports the std::invalid_argument it throws as a problem of `key`.
    /// `names_setting` is set when the message already names the flag or key.
    template <class Parse>
    bool attempt(std::string_view key, Parse parse, bool names_setting = false) {
        try {
            parse();
            return true;
        } catch (const std::invalid_argument& problem) {
            std::string message = problem.what();
            // Parsers name the flag, so a value from elsewhere gets its key or variable instead.
            const std::string flag = "--" + std::string(key);
            if (const auto found = message.find(flag); found != std::string::npos) {
                message.replace(found, flag.size(), name(key));
                names_setting = true;
            }
            error(key, names_setting ? message : fmt::format("{}: {}", name(key), message));
            return false;
        }
    }

    void error(std::string_view key, std::string message) {
        errors_.emplace_back(line_of(key), where(key) + message);
    }

    void warning(std::string_view key, std::string message) {
        check_.warnings.push_back(where(key) + message);
    }

    /// Moves the errors into the check: those of the config file in line order, then the rest
    /// in the order they were found.
    void finish() {
        std::stable_sort(errors_.begin(), errors_.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        for (auto& [line, message] : errors_) {
            check_.errors.push_back(std::move(message));
        }
        errors_.clear();
    }

private:
    std::size_t line_of(std::string_view key) const {
        const setting_origin& origin = values_.origin(key);
        return origin.source == setting_source::config_file
                   ? origin.line
                   : std::numeric_limits<std::size_t>::max();
    }

    const settings& values_;
    settings_check& check_;
    std::vector<std::pair<std::size_t, std::string>> errors_;
};

void check_names(const settings& values, settings_checker& checker) {
    if (values.log_format != "text" && values.log_format != "json") {
        checker.invalid_text("log-format", values.log_format, "expected text or json");
    }
    if (values.flood_limits != "telegram" && values.flood_limits != "off") {
        checker.invalid_text("flood-limits", values.flood_limits, "expected telegram or off");
    }
}

/// Reports an error unless `path` is a file or folder that this process can read.
void check_readable(std::string_view key, const std::string& path, bool folder_allowed,
                    settings_checker& checker) {
    std::error_code error;
    const std::filesystem::file_status status = std::filesystem::status(path, error);
    if (!std::filesystem::exists(status)) {
        checker.error(key, fmt::format("{} {} not found", checker.name(key), path));
        return;
    }
    if (error) {
        checker.error(
            key, fmt::format("cannot check {} {}: {}", checker.name(key), path, error.message()));
        return;
    }
    if (!folder_allowed && std::filesystem::is_directory(status)) {
        checker.error(
            key, fmt::format("{} {} is a directory: expected a file", checker.name(key), path));
        return;
    }
    if (::access(path.c_str(), R_OK) != 0) {
        checker.error(key,
                      fmt::format("{} {} cannot be read: {}; check its permissions for the "
                                  "bot's user",
                                  checker.name(key), path, std::generic_category().message(errno)));
    }
}

void check_corpus(const settings& values, command to_run, settings_checker& checker) {
    corpus_options defaults;
    checker.attempt("format", [&] { defaults.format = parse_corpus_format(values.format); });
    if (!values.channel_username.empty()) {
        checker.attempt("channel-username",
                        [&] { parse_channel_username(values.channel_username); });
    }
    for (const std::string& argument : values.corpus) {
        corpus_source source;
        if (!checker.attempt("corpus", [&] { source = parse_corpus_source(argument, defaults); })) {
            continue;
        }
        if (to_run == command::check_config) {
            check_readable("corpus", source.path.string(), true, checker);
        }
    }
    if (to_run == command::check_config && !values.index.empty()) {
        check_readable("index", values.index, false, checker);
    }
    if (to_run == command::index) {
        if (values.corpus.empty()) {
            checker.error("corpus",
                          "tgsearch index needs a corpus: give --corpus, TGSEARCH_CORPUS or "
                          "corpus in the config file");
        }
        if (values.output.empty()) {
            checker.error("output",
                          "tgsearch index needs the file to write: give --output, "
                          "TGSEARCH_OUTPUT or output in the config file");
        }
    }
}

void check_numbers(const settings& values, server_plan& plan, settings_checker& checker) {
    if (values.workers < 0 || values.workers > max_workers) {
        checker.invalid_number(
            "workers", values.workers,
            fmt::format("expected 1 to {}, or 0 for one per CPU core", max_workers));
    }
    plan.workers = values.workers > 0 ? static_cast<std::size_t>(values.workers)
                                      : std::max(1u, std::thread::hardware_concurrency());
    if (values.ring_capacity < 2 || values.ring_capacity > max_ring_capacity ||
        (values.ring_capacity & (values.ring_capacity - 1)) != 0) {
        checker.invalid_number(
            "ring-capacity", values.ring_capacity,
            fmt::format("expected a power of two from 2 to {}", max_ring_capacity));
    }
    if (values.poll_timeout_seconds < 0 || values.poll_timeout_seconds > max_poll_timeout_seconds) {
        checker.invalid_number("poll-timeout", values.poll_timeout_seconds,
                               fmt::format("expected 0 to {} seconds", max_poll_timeout_seconds));
    }
    if (values.shutdown_timeout_seconds < 0 ||
        values.shutdown_timeout_seconds > max_shutdown_timeout_seconds) {
        checker.invalid_number(
            "shutdown-timeout", values.shutdown_timeout_seconds,
            fmt::format("expected 0 to {} seconds", max_shutdown_timeout_seconds));
    }
    if (values.page_size < 1 ||
        values.page_size > static_cast<std::int64_t>(max_results_per_page)) {
        checker.invalid_number("page-size", values.page_size,
                               fmt::format("expected 1 to {}", max_results_per_page));
    }
    if (values.page_expiry_seconds < 1 || values.page_expiry_seconds > max_page_expiry_seconds) {
        checker.invalid(
            "page-expiry", std::to_string(values.page_expiry_seconds) + " s",
            fmt::format("expected 1 s to {} ({} s)", format_duration(max_page_expiry_seconds),
                        max_page_expiry_seconds));
    }
}

/// Reads the token file, with a warning when other users may read or write it. Returns nothing
/// after reporting an error.
std::optional<std::string> read_token_file(const settings& values, settings_checker& checker) {
    const std::string& path = values.token_file;
    if (looks_like_token(trim(path))) {
        // Every message about the file would print the token, so this one names only the key.
        checker.error("token-file",
                      fmt::format("{} contains a bot token instead of the path of a file: put "
                                  "the token in a file and give its path",
                                  checker.name("token-file")));
        return std::nullopt;
    }
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode)) {
        checker.error("token-file", "token file " + path +
                                        " is not a regular file: give the path of the file "
                                        "that contains the token");
        return std::nullopt;
    }
    std::ifstream file(path);
    if (!file) {
        checker.error("token-file",
                      "cannot read token file " + path + ": check the path and its permissions");
        return std::nullopt;
    }
    std::ostringstream contents;
    contents << file.rdbuf();
    if ((info.st_mode & 077) != 0) {
        checker.warning("token-file",
                        fmt::format("token file {} can be read or written by other users (mode "
                                    "{:04o}): run chmod 600 {}",
                                    path, info.st_mode & 07777, path));
    }
    return trim(contents.str());
}

/// Reads the bot token. A token file named by a flag or TGSEARCH_TOKEN_FILE takes precedence
/// over TELEGRAM_BOT_TOKEN, which takes precedence over a token file named in the config file.
/// Returns no token after reporting an error.
bot_token read_bot_token(const settings& values, const environment_map& environment,
                         settings_checker& checker) {
    std::string from_environment;
    if (const auto found = environment.find(token_variable); found != environment.end()) {
        from_environment = trim(found->second);
    }
    const bool file_first = values.origin("token-file").source >= setting_source::environment;
    if (!values.token_file.empty() && (file_first || from_environment.empty())) {
        std::optional<std::string> token = read_token_file(values, checker);
        if (!token) {
            return {};
        }
        if (!looks_like_token(*token)) {
            checker.error("token-file", "invalid bot token in token file " + values.token_file +
                                            ": expected the form <bot id>:<secret>, as "
                                            "@BotFather gives it");
            return {};
        }
        return bot_token{std::move(*token), "token file " + values.token_file};
    }
    if (from_environment.empty()) {
        return {};
    }
    if (!looks_like_token(from_environment)) {
        checker.error("", fmt::format("invalid bot token in {}: expected the form "
                                      "<bot id>:<secret>, as @BotFather gives it",
                                      token_variable));
        return {};
    }
    return bot_token{std::move(from_environment), std::string(token_variable)};
}

/// Tells whether `url` contains a Bot API method path, "/bot<bot id>:", which carries a token.
bool has_token_path(std::string_view url) {
    for (std::size_t found = url.find("/bot"); found != std::string_view::npos;
         found = url.find("/bot", found + 1)) {
        std::size_t end = found + 4;
        while (end < url.size() && std::isdigit(static_cast<unsigned char>(url[end]))) {
            ++end;
        }
        if (end > found + 4 && end < url.size() && url[end] == ':') {
            return true;
        }
    }
    return false;
}

/// Reports an error when the webhook server and the metrics server would bind the same port on
/// overlapping addresses. An unspecified address (0.0.0.0 or ::) overlaps every address, and
/// port 0 never conflicts, because the system picks a free port for it.
void check_listen_conflict(const server_plan& plan, const settings& values,
                           settings_checker& checker) {
    if (!plan.webhook || !plan.metrics || plan.metrics->port == 0 ||
        plan.webhook->listen.port != plan.metrics->port) {
        return;
    }
    const auto unspecified = [](const std::string& address) {
        return address == "0.0.0.0" || address == "::";
    };
    const std::string& webhook_address = plan.webhook->listen.address;
    const std::string& metrics_address = plan.metrics->address;
    if (webhook_address != metrics_address && !unspecified(webhook_address) &&
        !unspecified(metrics_address)) {
        return;
    }
    checker.error("metrics",
                  fmt::format("{} {} and {} {} use the same port on overlapping addresses, so the "
                              "second server would fail with \"Address already in use\": give "
                              "them different ports",
                              checker.name("metrics"), values.metrics, checker.name("listen"),
                              values.listen));
}

void check_connections(const settings& values, const environment_map& environment,
                       server_plan& plan, settings_checker& checker) {
    if (has_token_path(values.api_url)) {
        checker.error("api-url",
                      fmt::format("{} contains a bot token in its path (/bot<bot id>:...): give "
                                  "only the base URL, such as https://api.telegram.org, and put "
                                  "the token in the file that token-file names",
                                  checker.name("api-url")));
    }
    std::optional<detail::base_url> api;
    checker.attempt("api-url",
                    [&] { api = detail::parse_base_url(values.api_url, plan.token.value); });
    if (!values.proxy.empty()) {
        // A bad proxy fails even in console mode.
        checker.attempt("proxy", [&] { parse_proxy_url(values.proxy); });
    }
    if (plan.serves_telegram && api) {
        const std::optional<std::string_view> flag =
            values.is_set("proxy") ? std::optional<std::string_view>(values.proxy) : std::nullopt;
        const auto get_env = [&environment](const char* name) -> const char* {
            const auto found = environment.find(name);
            return found == environment.end() ? nullptr : found->second.c_str();
        };
        try {
            plan.proxy = choose_proxy(flag, api->tls, api->host, get_env);
        } catch (const std::invalid_argument& problem) {
            // Only a proxy from the environment is left to fail here, and its message names
            // the variable.
            if (values.proxy.empty()) {
                checker.error("", problem.what());
            }
        }
    }

    if (values.webhook_url.empty()) {
        if (!values.listen.empty()) {
            checker.error("listen", fmt::format("{} {} needs {}, the public HTTPS URL that the "
                                                "reverse proxy forwards to this address",
                                                checker.name("listen"), values.listen,
                                                checker.name_like("webhook-url", "listen")));
        }
    } else {
        webhook_target webhook;
        webhook.url = values.webhook_url;
        bool valid = checker.attempt(
            "webhook-url", [&] { webhook.path = detail::check_webhook_url(values.webhook_url); });
        if (values.listen.empty()) {
            checker.error("webhook-url",
                          fmt::format("{} {} needs {} ADDR:PORT, the address that the reverse "
                                      "proxy forwards webhook requests to, such as "
                                      "127.0.0.1:8080",
                                      checker.name("webhook-url"), values.webhook_url,
                                      checker.name_like("listen", "webhook-url")));
            valid = false;
        } else {
            valid = checker.attempt(
                        "listen",
                        [&] {
                            webhook.listen =
                                parse_listen_endpoint(values.listen, checker.name("listen"));
                        },
                        true) &&
                    valid;
        }
        if (valid) {
            plan.webhook = webhook;
        }
    }
    if (!values.metrics.empty()) {
        checker.attempt(
            "metrics",
            [&] {
                plan.metrics = parse_listen_endpoint(values.metrics, checker.name("metrics"),
                                                     listen_port::fixed_or_any);
            },
            true);
    }
    if (!values.redis.empty()) {
        checker.attempt("redis", [&] { plan.redis = parse_redis_url(values.redis); });
    }
    check_listen_conflict(plan, values, checker);
}

}  // namespace

settings_check check_settings(const settings& values, const environment_map& environment,
                              command to_run) {
    settings_check check;
    settings_checker checker(values, check);
    checker.attempt("log-level", [&] { parse_log_level(values.log_level); });
    check_corpus(values, to_run, checker);
    if (to_run != command::index) {
        check_names(values, checker);
        check_numbers(values, check.plan, checker);
        check.plan.token = read_bot_token(values, environment, checker);
        check.plan.serves_telegram = !values.console && !check.plan.token.value.empty();
        check_connections(values, environment, check.plan, checker);
    }
    checker.finish();
    // Any setting may contain the token or a password, and parsers quote the values they reject.
    mask_secrets_in(check.errors, check.plan.token.value);
    mask_secrets_in(check.warnings, check.plan.token.value);
    return check;
}

// ------------------------------------------------------------------------------------------
// Describing

std::vector<std::string> describe_settings(const settings& values, const server_plan& plan) {
    std::vector<std::pair<std::string, std::string>> rows;
    for (const setting_spec& spec : setting_specs) {
        std::string source = describe_origin(values.origin(spec.key));
        if (spec.key == "corpus" && values.corpus.empty() && values.index.empty()) {
            source += ": the sample corpus built into the binary";
        } else if (spec.key == "workers" && values.workers == 0) {
            source += fmt::format(": one per CPU core, {} here", plan.workers);
        } else if (spec.key == "proxy" && !values.is_set("proxy")) {
            source += ": https_proxy and the other proxy variables, if set";
        }
        if (const auto note = values.notes.find(spec.key); note != values.notes.end()) {
            source += "; " + note->second;
        }
        if (spec.key == "token-file" && !values.token_file.empty() &&
            plan.token.source == token_variable) {
            source +=
                "; not used, because TELEGRAM_BOT_TOKEN takes precedence over a token "
                "file named in the config file";
        }
        rows.emplace_back(std::string(spec.key) + " = " + render_value(spec, values), source);
    }
    if (plan.token.value.empty()) {
        rows.emplace_back("# no bot token", "the server would start the console chat");
    } else {
        rows.emplace_back("# token = " + toml_quote(mask_bot_token(plan.token.value)),
                          plan.token.source);
    }
    std::size_t width = 0;
    for (const auto& row : rows) {
        width = std::max(width, row.first.size());
    }
    width = std::min<std::size_t>(width, 60);

    std::vector<std::string> lines;
    lines.push_back(values.config_path.empty()
                        ? "# settings of tgsearch: no config file"
                        : "# settings of tgsearch from config file " + values.config_path);
    for (const auto& [setting, source] : rows) {
        lines.push_back(fmt::format("{:<{}}  # {}", setting, width, source));
    }
    if (values.console) {
        lines.emplace_back("# the server would start the console chat (console = true)");
    } else if (plan.serves_telegram && plan.webhook) {
        lines.push_back(
            fmt::format("# the server would receive updates by webhook at {}, "
                        "listening on {}",
                        plan.webhook->url, values.listen));
    } else if (plan.serves_telegram) {
        lines.push_back("# the server would poll getUpdates at " + values.api_url);
    }
    if (plan.proxy) {
        lines.push_back("# " + plan.proxy->summary);
    }
    mask_secrets_in(lines, plan.token.value);
    return lines;
}

}  // namespace tgsearch
