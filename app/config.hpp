#pragma once

// Settings of the server and of `tgsearch index`, gathered from the command line, the
// environment and a TOML config file, and the checks that run on them before the server starts.
// Precedence, from highest to lowest: command-line flag, environment variable, config file,
// built-in default. docs/configuration.md lists every setting.

#include "app/proxy_config.hpp"
#include "app/redis_client.hpp"
#include "app/webhook_server.hpp"
#include "core/bot_replies.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tgsearch {

/// Source of a setting's value, in order of increasing precedence.
enum class setting_source { built_in_default, config_file, environment, command_line };

/// The source of one setting's value.
struct setting_origin {
    setting_source source = setting_source::built_in_default;
    /// The flag ("--poll-timeout") or environment variable ("TGSEARCH_POLL_TIMEOUT") that set
    /// the value. Empty for a default or a config file value.
    std::string name;
    std::size_t line = 0;  ///< 1-based line in the config file, for config_file only
};

/// Settings of the server and of the index command after precedence is applied. Each field is
/// a key of the config file, named in the comment. The flag is the key with "--" in front.
struct settings {
    std::vector<std::string> corpus;  ///< corpus: sources, each a path with optional "#options"
    std::string index;                ///< index: an index file to serve instead of a corpus
    std::string output;               ///< output: the file that `tgsearch index` writes
    std::string format = "detect";    ///< format
    std::string id_column;            ///< id-column
    std::string title_column;         ///< title-column
    std::vector<std::string> text_columns;             ///< text-column
    std::string url_column;                            ///< url-column
    std::string channel_username;                      ///< channel-username
    std::int64_t workers = 0;                          ///< workers: 0 is one per CPU core
    std::int64_t ring_capacity = 1024;                 ///< ring-capacity, in messages
    bool console = false;                              ///< console
    std::string token_file;                            ///< token-file
    std::string api_url = "https://api.telegram.org";  ///< api-url
    /// proxy. Empty with a non-default origin means a direct connection, with the proxy
    /// environment variables (https_proxy and the rest) ignored.
    std::string proxy;
    std::string webhook_url;                     ///< webhook-url
    std::string listen;                          ///< listen: ADDR:PORT of the webhook server
    std::int64_t poll_timeout_seconds = 50;      ///< poll-timeout
    std::int64_t shutdown_timeout_seconds = 10;  ///< shutdown-timeout
    /// page-size
    std::int64_t page_size = static_cast<std::int64_t>(results_per_reply);
    std::int64_t page_expiry_seconds = 48 * 3600;  ///< page-expiry
    std::string flood_limits = "telegram";         ///< flood-limits: telegram or off
    std::string log_level = "info";                ///< log-level
    std::string redis;                             ///< redis: a Redis URL, empty for none
    std::string metrics;                           ///< metrics: ADDR:PORT, empty for none
    std::vector<std::int64_t> admins;              ///< admins: Telegram user ids
    std::string log_format = "text";               ///< log-format: text or json

    /// The config file that was read, empty when none was.
    std::string config_path;
    /// Origin of each key whose value is not the built-in default.
    std::map<std::string, setting_origin, std::less<>> origins;
    /// Remarks shown beside a key by `tgsearch check-config`, such as "corpus is not used".
    std::map<std::string, std::string, std::less<>> notes;

    /// Returns the origin of `key`, the built-in default when no source set it.
    const setting_origin& origin(std::string_view key) const;

    /// Tells whether a flag, an environment variable or the config file set `key`.
    bool is_set(std::string_view key) const {
        return origin(key).source != setting_source::built_in_default;
    }
};

/// Command that the command line selects.
enum class command { serve, index, check_config };

/// Environment variables by name.
using environment_map = std::map<std::string, std::string, std::less<>>;

/// A config file read from disk.
struct config_file_contents {
    std::string text;
    unsigned permissions = 0600;  ///< the mode bits of st_mode, such as 0644
    bool owned_by_root = false;
};

/// Reads the config file at a path. Throws std::runtime_error naming the path and the reason.
using config_file_reader = std::function<config_file_contents(const std::string& path)>;

/// Reads `path` from disk, for load_settings.
config_file_contents read_config_file(const std::string& path);

/// Settings of one run, with the problems found while loading them.
struct loaded_settings {
    tgsearch::command command = command::serve;
    settings values;
    /// Each names the source (flag, variable, or file and line), the key and the value, and
    /// states what is expected.
    std::vector<std::string> errors;
    std::vector<std::string> warnings;
};

/// The command line requested --help, or CLI11 rejected it. The process should write the texts
/// and exit with `exit_code`.
struct command_line_exit {
    int exit_code = 0;
    std::string output;        ///< for stdout, such as the help text
    std::string error_output;  ///< for stderr, such as a parse error
};

/// Parses the command line `arguments` (argv, program name first), reads the config file named
/// by --config or TGSEARCH_CONFIG through `read_file`, reads the TGSEARCH_* variables of
/// `environment`, and merges them: flag over environment over file over default. A list
/// replaces the list of a lower source whole. Values of the wrong type, unknown keys and
/// invalid TOML become errors. Warnings are unknown TGSEARCH_* variables, relative paths in the
/// config file, and a config file that contains a password while other users may read or write
/// it. A file owned by root that its group may read (0640) draws no warning, because that is
/// how a service user gets read access to it. Value ranges, URLs and paths are left to
/// check_settings.
std::variant<loaded_settings, command_line_exit> load_settings(
    const std::vector<std::string>& arguments, const environment_map& environment,
    const config_file_reader& read_file = read_config_file);

/// The bot token and where it comes from.
struct bot_token {
    std::string value;  ///< empty when none is configured
    /// "TELEGRAM_BOT_TOKEN" or "token file PATH". Empty without a token.
    std::string source;
};

/// The webhook that the bot registers, after checking. The secret token is made at start-up.
struct webhook_target {
    std::string url;
    std::string path;  ///< the URL's path, "/" when it has none
    listen_endpoint listen;
};

/// Values that check_settings converted for the server.
struct server_plan {
    bot_token token;
    /// True when the bot serves Telegram, false for the console chat.
    bool serves_telegram = false;
    /// The proxy choice for the Bot API. Set when serves_telegram.
    std::optional<proxy_choice> proxy;
    std::optional<webhook_target> webhook;
    std::optional<listen_endpoint> metrics;
    std::optional<redis_endpoint> redis;
    std::size_t workers = 1;  ///< workers, with 0 resolved to the number of CPU cores
};

/// Outcome of check_settings.
struct settings_check {
    server_plan plan;
    std::vector<std::string> errors;
    std::vector<std::string> warnings;
};

/// Checks `values` for `to_run`, the command that is to run, and reads the bot token (from the
/// file named by token-file, or TELEGRAM_BOT_TOKEN in `environment`). Checks ranges, the power
/// of two of ring-capacity, the names of formats, levels and modes, the API and webhook URLs,
/// the proxy (also from the proxy variables of `environment`), listen addresses and the Redis
/// URL, and the token's form. check_config also checks that every corpus source and the index
/// file exist and can be read. Never reads a corpus and never connects to anything. Every
/// problem is reported, and no message contains the token or a password.
settings_check check_settings(const settings& values, const environment_map& environment,
                              command to_run);

/// Returns the effective settings, one line per key, as TOML with the source of each value in a
/// comment, then the token and the connection the bot would make. The token shows only the bot
/// id, and Redis and proxy passwords are masked.
std::vector<std::string> describe_settings(const settings& values, const server_plan& plan);

/// Returns the token with its secret masked, such as "123456:****", so that only the bot id
/// shows. A value that is not of the form "<digits>:<secret>" becomes "****".
std::string mask_bot_token(std::string_view token);

/// Returns `text`, a message about the settings, with its secrets masked: the bot token `token`
/// as mask_bot_token shows it, the token's secret wherever it appears alone, the secret of any
/// other text of the form of a bot token, the password of every URL (scheme://user:password@),
/// and the value of every password= or pass= query parameter. `token` may be empty.
std::string mask_secrets_in(std::string_view text, std::string_view token);

/// Applies mask_secrets_in to every line of `lines`.
void mask_secrets_in(std::vector<std::string>& lines, std::string_view token);

/// Tells whether `token` has the form "<bot id>:<secret>": a numeric id, then a secret of
/// letters, digits, '_' and '-'.
bool looks_like_token(std::string_view token);

/// Returns the environment variable for a config key: TGSEARCH_ and the key in upper case with
/// '-' as '_', except TGSEARCH_REDIS_URL for redis.
std::string environment_variable_for(std::string_view key);

}  // namespace tgsearch
