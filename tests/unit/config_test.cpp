#include "app/config.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using tgsearch::check_settings;
using tgsearch::command;
using tgsearch::command_line_exit;
using tgsearch::config_file_contents;
using tgsearch::environment_map;
using tgsearch::loaded_settings;
using tgsearch::setting_source;
using tgsearch::settings_check;

constexpr const char* config_path = "test.toml";
constexpr const char* token = "123456789:AAH-secret_part";
constexpr const char* token_secret = "AAH-secret_part";

/// One run of load_settings: the arguments after the program name, the environment and the
/// text of test.toml with its mode.
struct config_run {
    std::vector<std::string> arguments{};
    environment_map environment{};
    std::string file_text{};
    unsigned permissions = 0600;
    bool owned_by_root = false;
};

std::variant<loaded_settings, command_line_exit> load_any(const config_run& run) {
    std::vector<std::string> arguments{"tgsearch"};
    arguments.insert(arguments.end(), run.arguments.begin(), run.arguments.end());
    const auto read_file = [&run](const std::string& path) {
        if (path != config_path) {
            throw std::runtime_error("cannot read config file " + path + ": not found");
        }
        return config_file_contents{run.file_text, run.permissions, run.owned_by_root};
    };
    return tgsearch::load_settings(arguments, run.environment, read_file);
}

loaded_settings load(const config_run& run) {
    auto result = load_any(run);
    REQUIRE(std::holds_alternative<loaded_settings>(result));
    return std::get<loaded_settings>(std::move(result));
}

/// Loads `file_text` as test.toml.
loaded_settings load_file(const std::string& file_text) {
    return load({{"--config", config_path}, {}, file_text});
}

/// Returns the errors of loading and checking, in that order.
std::vector<std::string> all_errors(const config_run& run, command what = command::serve) {
    const loaded_settings loaded = load(run);
    const settings_check check = check_settings(loaded.values, run.environment, what);
    std::vector<std::string> errors = loaded.errors;
    errors.insert(errors.end(), check.errors.begin(), check.errors.end());
    return errors;
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

/// Tells whether one of `lines` contains every one of `parts`.
bool any_line_has(const std::vector<std::string>& lines, const std::vector<std::string>& parts) {
    return std::any_of(lines.begin(), lines.end(), [&parts](const std::string& line) {
        return std::all_of(parts.begin(), parts.end(),
                           [&line](const std::string& part) { return contains(line, part); });
    });
}

std::string joined(const std::vector<std::string>& lines) {
    std::string text;
    for (const std::string& line : lines) {
        text += line + "\n";
    }
    return text;
}

/// A file in a fresh temporary directory, removed with it.
class temporary_file {
public:
    temporary_file(const std::string& name, const std::string& contents, unsigned mode) {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "tgsearch-config-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        directory_ = pattern;
        path_ = (std::filesystem::path(directory_) / name).string();
        std::ofstream(path_) << contents;
        REQUIRE(::chmod(path_.c_str(), mode) == 0);
    }
    ~temporary_file() {
        std::error_code ignored;
        std::filesystem::remove_all(directory_, ignored);
    }
    temporary_file(const temporary_file&) = delete;
    temporary_file& operator=(const temporary_file&) = delete;

    const std::string& path() const { return path_; }

private:
    std::string directory_;
    std::string path_;
};

}  // namespace

// ------------------------------------------------------------------------------------------
// Precedence

TEST_CASE("flag overrides environment, file and default", "[config]") {
    const std::string file =
        "poll-timeout = 20\n"
        "page-size = 7\n"
        "redis = \"redis://127.0.0.1:1\"\n"
        "corpus = [\"/srv/file.jsonl\"]\n"
        "page-expiry = \"30m\"\n"
        "admins = [1]\n";
    const environment_map environment{{"TGSEARCH_POLL_TIMEOUT", "30"},
                                      {"TGSEARCH_PAGE_SIZE", "8"},
                                      {"TGSEARCH_REDIS_URL", "redis://127.0.0.1:2"},
                                      {"TGSEARCH_CORPUS", "/srv/env.jsonl"},
                                      {"TGSEARCH_PAGE_EXPIRY", "2h"},
                                      {"TGSEARCH_ADMINS", "2"}};
    const std::vector<std::string> flags{"--poll-timeout", "40",
                                         "--page-size",    "9",
                                         "--redis",        "redis://127.0.0.1:3",
                                         "--corpus",       "/srv/flag.jsonl",
                                         "--page-expiry",  "3h",
                                         "--admins",       "3"};
    std::vector<std::string> with_config{"--config", config_path};

    SECTION("flag") {
        std::vector<std::string> arguments = with_config;
        arguments.insert(arguments.end(), flags.begin(), flags.end());
        const loaded_settings loaded = load({arguments, environment, file});
        CHECK(loaded.errors.empty());
        CHECK(loaded.values.poll_timeout_seconds == 40);
        CHECK(loaded.values.page_size == 9);
        CHECK(loaded.values.redis == "redis://127.0.0.1:3");
        CHECK(loaded.values.corpus == std::vector<std::string>{"/srv/flag.jsonl"});
        CHECK(loaded.values.page_expiry_seconds == 3 * 3600);
        CHECK(loaded.values.admins == std::vector<std::int64_t>{3});
        CHECK(loaded.values.origin("poll-timeout").source == setting_source::command_line);
        CHECK(loaded.values.origin("poll-timeout").name == "--poll-timeout");
    }
    SECTION("environment") {
        const loaded_settings loaded = load({with_config, environment, file});
        CHECK(loaded.errors.empty());
        CHECK(loaded.values.poll_timeout_seconds == 30);
        CHECK(loaded.values.page_size == 8);
        CHECK(loaded.values.redis == "redis://127.0.0.1:2");
        CHECK(loaded.values.corpus == std::vector<std::string>{"/srv/env.jsonl"});
        CHECK(loaded.values.page_expiry_seconds == 2 * 3600);
        CHECK(loaded.values.admins == std::vector<std::int64_t>{2});
        CHECK(loaded.values.origin("redis").source == setting_source::environment);
        CHECK(loaded.values.origin("redis").name == "TGSEARCH_REDIS_URL");
    }
    SECTION("config file") {
        const loaded_settings loaded = load({with_config, {}, file});
        CHECK(loaded.errors.empty());
        CHECK(loaded.values.poll_timeout_seconds == 20);
        CHECK(loaded.values.page_size == 7);
        CHECK(loaded.values.redis == "redis://127.0.0.1:1");
        CHECK(loaded.values.corpus == std::vector<std::string>{"/srv/file.jsonl"});
        CHECK(loaded.values.page_expiry_seconds == 30 * 60);
        CHECK(loaded.values.admins == std::vector<std::int64_t>{1});
        CHECK(loaded.values.origin("page-size").source == setting_source::config_file);
        CHECK(loaded.values.origin("page-size").line == 2);
        CHECK(loaded.values.config_path == config_path);
    }
    SECTION("default") {
        const loaded_settings loaded = load({});
        CHECK(loaded.errors.empty());
        CHECK(loaded.values.poll_timeout_seconds == 50);
        CHECK(loaded.values.page_size == 5);
        CHECK(loaded.values.redis.empty());
        CHECK(loaded.values.corpus.empty());
        CHECK(loaded.values.page_expiry_seconds == 48 * 3600);
        CHECK(loaded.values.admins.empty());
        CHECK_FALSE(loaded.values.is_set("poll-timeout"));
        CHECK(loaded.values.config_path.empty());
    }
}

TEST_CASE("config flag overrides TGSEARCH_CONFIG", "[config]") {
    const loaded_settings from_variable =
        load({{}, {{"TGSEARCH_CONFIG", config_path}}, "page-size = 3\n"});
    CHECK(from_variable.errors.empty());
    CHECK(from_variable.values.page_size == 3);

    const loaded_settings from_flag =
        load({{"--config", "other.toml"}, {{"TGSEARCH_CONFIG", config_path}}, "page-size = 3\n"});
    REQUIRE(from_flag.errors.size() == 1);
    CHECK(contains(from_flag.errors[0], "cannot read config file other.toml"));
    CHECK(from_flag.values.page_size == 5);
}

TEST_CASE("empty environment variable counts as unset", "[config]") {
    const loaded_settings loaded =
        load({{"--config", config_path}, {{"TGSEARCH_PAGE_SIZE", ""}}, "page-size = 3\n"});
    CHECK(loaded.errors.empty());
    CHECK(loaded.values.page_size == 3);
    CHECK(loaded.values.origin("page-size").source == setting_source::config_file);
}

TEST_CASE("environment lists are comma-separated", "[config]") {
    const loaded_settings loaded = load({{},
                                         {{"TGSEARCH_CORPUS", "/a.jsonl, /b.csv#text=q"},
                                          {"TGSEARCH_ADMINS", "12, 34,"},
                                          {"TGSEARCH_TEXT_COLUMN", "question,answer"},
                                          {"TGSEARCH_CONSOLE", "true"}}});
    CHECK(loaded.errors.empty());
    CHECK(loaded.values.corpus == std::vector<std::string>{"/a.jsonl", "/b.csv#text=q"});
    CHECK(loaded.values.admins == std::vector<std::int64_t>{12, 34});
    CHECK(loaded.values.text_columns == std::vector<std::string>{"question", "answer"});
    CHECK(loaded.values.console);
}

TEST_CASE("flag keeps its comma-separated lists", "[config]") {
    const loaded_settings loaded =
        load({{"--admins", "5,6", "--text-column", "q,a", "--corpus", "/x.jsonl"}});
    CHECK(loaded.errors.empty());
    CHECK(loaded.values.admins == std::vector<std::int64_t>{5, 6});
    CHECK(loaded.values.text_columns == std::vector<std::string>{"q", "a"});
}

TEST_CASE("higher source chooses index or corpus", "[config]") {
    const std::string file = "corpus = [\"/srv/a.jsonl\"]\nindex = \"/srv/a.tgs\"\n";
    SECTION("both in the file: index wins") {
        const loaded_settings loaded = load_file(file);
        CHECK(loaded.values.index == "/srv/a.tgs");
        CHECK(loaded.values.corpus.empty());
        CHECK(contains(loaded.values.notes.at("index"), "corpus from config file line 1"));
    }
    SECTION("corpus flag wins over index in the file") {
        const loaded_settings loaded =
            load({{"--config", config_path, "--corpus", "/srv/b.jsonl"}, {}, file});
        CHECK(loaded.values.index.empty());
        CHECK(loaded.values.corpus == std::vector<std::string>{"/srv/b.jsonl"});
    }
    SECTION("the index command keeps both") {
        const loaded_settings loaded =
            load({{"index", "--config", config_path, "--output", "/srv/out.tgs"}, {}, file});
        CHECK(loaded.command == command::index);
        CHECK(loaded.values.corpus == std::vector<std::string>{"/srv/a.jsonl"});
        CHECK(loaded.values.output == "/srv/out.tgs");
    }
}

TEST_CASE("token sources follow their precedence", "[config]") {
    const temporary_file token_file("token", std::string(token) + "\n", 0600);
    const environment_map environment{{"TELEGRAM_BOT_TOKEN", "42:from-environment"}};

    const loaded_settings from_flag = load({{"--token-file", token_file.path()}, environment});
    const settings_check flag_check = check_settings(from_flag.values, environment, command::serve);
    CHECK(flag_check.errors.empty());
    CHECK(flag_check.plan.token.value == token);
    CHECK(flag_check.plan.token.source == "token file " + token_file.path());

    environment_map with_variable = environment;
    with_variable["TGSEARCH_TOKEN_FILE"] = token_file.path();
    const loaded_settings from_variable = load({{}, with_variable});
    const settings_check variable_check =
        check_settings(from_variable.values, with_variable, command::serve);
    CHECK(variable_check.errors.empty());
    CHECK(variable_check.plan.token.value == token);

    const loaded_settings from_file = load(
        {{"--config", config_path}, environment, "token-file = \"" + token_file.path() + "\"\n"});
    const settings_check file_check = check_settings(from_file.values, environment, command::serve);
    CHECK(file_check.errors.empty());
    CHECK(file_check.plan.token.value == "42:from-environment");
    CHECK(file_check.plan.token.source == "TELEGRAM_BOT_TOKEN");

    const loaded_settings file_alone =
        load({{"--config", config_path}, {}, "token-file = \"" + token_file.path() + "\"\n"});
    const settings_check alone_check = check_settings(file_alone.values, {}, command::serve);
    CHECK(alone_check.plan.token.value == token);
    CHECK(alone_check.plan.serves_telegram);
}

// ------------------------------------------------------------------------------------------
// Errors while loading

TEST_CASE("unknown key names file, line and key", "[config]") {
    const loaded_settings loaded = load_file("page-size = 5\n\ncolour = \"blue\"\n");
    REQUIRE(loaded.errors.size() == 1);
    CHECK(contains(loaded.errors[0], "test.toml:3: unknown key colour = \"blue\""));
    CHECK(contains(loaded.errors[0], "tgsearch --help"));
}

TEST_CASE("near-miss key suggests the known key", "[config]") {
    const std::vector<std::pair<std::string, std::string>> cases{
        {"poll-timout = 5", "did you mean poll-timeout?"},
        {"poll_timeout = 5", "did you mean poll-timeout?"},
        {"pagesize = 5", "did you mean page-size?"},
        {"admin = [1]", "did you mean admins?"},
        {"redis-url = \"redis://h\"", "did you mean redis?"},
    };
    for (const auto& [line, suggestion] : cases) {
        const loaded_settings loaded = load_file(line + "\n");
        INFO(line);
        REQUIRE(loaded.errors.size() == 1);
        CHECK(contains(loaded.errors[0], "test.toml:1: unknown key"));
        CHECK(contains(loaded.errors[0], suggestion));
    }
}

TEST_CASE("token key rejected without its value", "[config]") {
    const loaded_settings loaded = load_file(std::string("token = \"") + token + "\"\n");
    REQUIRE(loaded.errors.size() == 1);
    CHECK(contains(loaded.errors[0], "test.toml:1: unknown key token"));
    CHECK(contains(loaded.errors[0], "token-file"));
    CHECK_FALSE(contains(loaded.errors[0], token_secret));
}

TEST_CASE("quoted integer tells to drop the quotes", "[config]") {
    const loaded_settings loaded = load_file("poll-timeout = \"50\"\n");
    REQUIRE(loaded.errors.size() == 1);
    CHECK(contains(loaded.errors[0], "test.toml:1: invalid poll-timeout = \"50\""));
    CHECK(contains(loaded.errors[0], "drop the quotes"));
    CHECK(loaded.values.poll_timeout_seconds == 50);
}

TEST_CASE("wrong type names key, value and expected type", "[config]") {
    const std::vector<std::pair<std::string, std::vector<std::string>>> cases{
        {"listen = 8080", {"invalid listen = 8080", "expected a string", "not an integer"}},
        {"workers = 2.5", {"invalid workers = 2.5", "expected an integer", "floating-point"}},
        {"console = \"yes\"", {"invalid console = \"yes\"", "expected true or false"}},
        {"corpus = \"/srv/a.jsonl\"",
         {"invalid corpus = \"/srv/a.jsonl\"", "expected an array", "corpus = [", "not a string"}},
        {"page-expiry = true", {"invalid page-expiry = true", "seconds", "a boolean"}},
        {"[server]\npage-size = 5", {"unknown key server", "top-level keys"}},
    };
    for (const auto& [text, parts] : cases) {
        const loaded_settings loaded = load_file(text + "\n");
        INFO(text);
        REQUIRE(loaded.errors.size() == 1);
        CHECK(contains(loaded.errors[0], "test.toml:1: "));
        for (const std::string& part : parts) {
            CHECK(contains(loaded.errors[0], part));
        }
    }
}

TEST_CASE("bad duration unit is an error", "[config]") {
    const loaded_settings from_file = load_file("page-expiry = \"48x\"\n");
    REQUIRE(from_file.errors.size() == 1);
    CHECK(contains(from_file.errors[0], "test.toml:1: invalid page-expiry = \"48x\""));
    CHECK(contains(from_file.errors[0], "unknown unit \"x\": expected s, m, h or d"));

    const loaded_settings quoted_seconds = load_file("page-expiry = \"90\"\n");
    REQUIRE(quoted_seconds.errors.size() == 1);
    CHECK(contains(quoted_seconds.errors[0], "drop the quotes, or add a unit such as \"90s\""));

    const loaded_settings from_environment = load({{}, {{"TGSEARCH_PAGE_EXPIRY", "2w"}}});
    REQUIRE(from_environment.errors.size() == 1);
    CHECK(contains(from_environment.errors[0], "invalid TGSEARCH_PAGE_EXPIRY=2w"));
    CHECK(contains(from_environment.errors[0], "unknown unit \"w\""));
}

TEST_CASE("bad list item names item and line", "[config]") {
    const loaded_settings multi_line =
        load_file("workers = 1\ncorpus = [\n  \"/srv/a.jsonl\",\n]\n");
    REQUIRE(multi_line.errors.empty());
    CHECK(multi_line.values.origin("corpus").line == 2);

    const loaded_settings mixed = load_file("corpus = [\n  \"/srv/a.jsonl\",\n  3,\n]\n");
    REQUIRE(mixed.errors.size() == 1);
    CHECK(contains(mixed.errors[0], "test.toml:3: invalid corpus = [\"/srv/a.jsonl\", 3]"));
    CHECK(contains(mixed.errors[0], "item 2 (3) is an integer"));

    const loaded_settings negative = load_file("admins = [1, -2]\n");
    REQUIRE(negative.errors.size() == 1);
    CHECK(contains(negative.errors[0], "item 2 (-2): expected a positive Telegram user id"));

    const loaded_settings quoted = load_file("admins = [1, \"2\"]\n");
    REQUIRE(quoted.errors.size() == 1);
    CHECK(contains(quoted.errors[0], "item 2 (\"2\")"));
    CHECK(contains(quoted.errors[0], "drop the quotes"));

    const loaded_settings empty = load_file("text-column = [\"q\", \"\"]\n");
    REQUIRE(empty.errors.size() == 1);
    CHECK(contains(empty.errors[0], "item 2 (\"\") is empty"));

    const loaded_settings from_environment = load({{}, {{"TGSEARCH_ADMINS", "1,x"}}});
    REQUIRE(from_environment.errors.size() == 1);
    CHECK(contains(from_environment.errors[0], "invalid user id \"x\" in TGSEARCH_ADMINS \"1,x\""));

    const loaded_settings from_flag = load({{"--admins", "7,-8"}});
    REQUIRE(from_flag.errors.size() == 1);
    CHECK(contains(from_flag.errors[0], "invalid user id \"-8\" in --admins \"7,-8\""));
}

TEST_CASE("duplicate key is TOML error", "[config]") {
    const loaded_settings loaded = load_file("page-size = 5\nworkers = 2\npage-size = 6\n");
    REQUIRE(loaded.errors.size() == 1);
    CHECK(contains(loaded.errors[0], "test.toml:3: invalid TOML"));
    CHECK(contains(loaded.errors[0], "page-size"));
}

TEST_CASE("file problems reported in line order", "[config]") {
    const loaded_settings loaded = load_file("workers = \"2\"\nzzz = 1\nlisten = 1\naaa = 2\n");
    REQUIRE(loaded.errors.size() == 4);
    CHECK(contains(loaded.errors[0], "test.toml:1:"));
    CHECK(contains(loaded.errors[1], "test.toml:2:"));
    CHECK(contains(loaded.errors[2], "test.toml:3:"));
    CHECK(contains(loaded.errors[3], "test.toml:4:"));
}

TEST_CASE("wrong environment type names variable", "[config]") {
    const loaded_settings loaded =
        load({{}, {{"TGSEARCH_WORKERS", "four"}, {"TGSEARCH_CONSOLE", "maybe"}}});
    REQUIRE(loaded.errors.size() == 2);
    CHECK(any_line_has(loaded.errors, {"invalid TGSEARCH_WORKERS=four", "whole number"}));
    CHECK(any_line_has(loaded.errors, {"invalid TGSEARCH_CONSOLE=maybe", "true or false"}));
}

TEST_CASE("unknown TGSEARCH variable draws a warning", "[config]") {
    const loaded_settings loaded = load({{},
                                         {{"TGSEARCH_POLL_TIMEOT", "5"},
                                          {"TGSEARCH_SOMETHING_ELSE", "1"},
                                          {"TGSEARCH_CONFIG", ""},
                                          {"TGSEARCH_REDIS_URL", "redis://h"},
                                          {"OTHER_TOOL_VARIABLE", "1"}}});
    CHECK(loaded.errors.empty());
    REQUIRE(loaded.warnings.size() == 2);
    CHECK(any_line_has(loaded.warnings, {"unknown environment variable TGSEARCH_POLL_TIMEOT",
                                         "did you mean TGSEARCH_POLL_TIMEOUT?"}));
    CHECK(any_line_has(loaded.warnings, {"TGSEARCH_SOMETHING_ELSE"}));
    CHECK(loaded.values.poll_timeout_seconds == 50);
}

TEST_CASE("relative config path draws warning", "[config]") {
    const loaded_settings loaded = load_file("corpus = [\"data/a.jsonl\", \"/srv/b.jsonl\"]\n");
    CHECK(loaded.errors.empty());
    REQUIRE(loaded.warnings.size() == 1);
    CHECK(contains(loaded.warnings[0], "test.toml:1: corpus \"data/a.jsonl\" is a relative path"));
}

TEST_CASE("help and command-line errors end the run", "[config]") {
    auto help = load_any({{"--help"}});
    REQUIRE(std::holds_alternative<command_line_exit>(help));
    CHECK(std::get<command_line_exit>(help).exit_code == 0);
    CHECK(contains(std::get<command_line_exit>(help).output, "--config"));
    CHECK(contains(std::get<command_line_exit>(help).output, "check-config"));

    auto bad_number = load_any({{"--workers", "abc"}});
    REQUIRE(std::holds_alternative<command_line_exit>(bad_number));
    CHECK(std::get<command_line_exit>(bad_number).exit_code != 0);

    auto check_typo = load_any({{"check-config", "--no-such-flag"}});
    REQUIRE(std::holds_alternative<command_line_exit>(check_typo));
    CHECK(std::get<command_line_exit>(check_typo).exit_code == 2);
}

TEST_CASE("check-config takes the server flags", "[config]") {
    const loaded_settings after =
        load({{"check-config", "--config", config_path, "--page-size", "4"}, {}, "workers = 3\n"});
    CHECK(after.command == command::check_config);
    CHECK(after.errors.empty());
    CHECK(after.values.page_size == 4);
    CHECK(after.values.workers == 3);

    const loaded_settings before = load({{"--page-size", "6", "check-config"}});
    CHECK(before.command == command::check_config);
    CHECK(before.values.page_size == 6);
}

// ------------------------------------------------------------------------------------------
// Checks of values

TEST_CASE("out-of-range value is worded for its source", "[config]") {
    const std::vector<std::string> from_file =
        all_errors({{"--config", config_path}, {}, "workers = 1\npage-size = 50\n"});
    REQUIRE(from_file.size() == 1);
    CHECK(from_file[0] == "test.toml:2: invalid page-size = 50: expected 1 to 20");

    const std::vector<std::string> from_flag = all_errors({{"--page-size", "50"}});
    REQUIRE(from_flag.size() == 1);
    CHECK(from_flag[0] == "invalid --page-size 50: expected 1 to 20");

    const std::vector<std::string> from_environment =
        all_errors({{}, {{"TGSEARCH_PAGE_SIZE", "50"}}});
    REQUIRE(from_environment.size() == 1);
    CHECK(from_environment[0] == "invalid TGSEARCH_PAGE_SIZE=50: expected 1 to 20");
}

TEST_CASE("every range check reports its value", "[config]") {
    const std::vector<std::string> errors = all_errors({{"--config", config_path},
                                                        {},
                                                        "poll-timeout = 51\n"
                                                        "shutdown-timeout = -1\n"
                                                        "workers = 5000\n"
                                                        "ring-capacity = 1000\n"
                                                        "page-expiry = 0\n"
                                                        "log-level = \"loud\"\n"
                                                        "log-format = \"xml\"\n"
                                                        "flood-limits = \"none\"\n"
                                                        "format = \"docx\"\n"});
    CHECK(errors.size() == 9);
    CHECK(any_line_has(errors, {"test.toml:1:", "poll-timeout = 51", "0 to 50 seconds"}));
    CHECK(any_line_has(errors, {"test.toml:2:", "shutdown-timeout = -1", "0 to 3600 seconds"}));
    CHECK(any_line_has(errors, {"test.toml:3:", "workers = 5000", "1 to 1024"}));
    CHECK(any_line_has(errors, {"test.toml:4:", "ring-capacity = 1000", "power of two"}));
    CHECK(any_line_has(errors, {"test.toml:5:", "page-expiry = 0 s", "1 s to 365d"}));
    CHECK(any_line_has(errors, {"test.toml:6:", "log-level", "loud"}));
    CHECK(any_line_has(errors, {"test.toml:7:", "log-format = \"xml\"", "text or json"}));
    CHECK(any_line_has(errors, {"test.toml:8:", "flood-limits = \"none\"", "telegram or off"}));
    CHECK(any_line_has(errors, {"test.toml:9:", "format", "docx"}));
}

TEST_CASE("URLs and addresses checked per source", "[config]") {
    const std::vector<std::string> errors =
        all_errors({{"--config", config_path},
                    {},
                    "api-url = \"ftp://api.example\"\n"
                    "proxy = \"mtproto://u:hunter2@127.0.0.1:443\"\n"
                    "webhook-url = \"http://example.org/hook\"\n"
                    "listen = \"127.0.0.1:99999\"\n"
                    "metrics = \"localhost\"\n"
                    "redis = \"rediss://:hunter2@127.0.0.1\"\n"
                    "channel-username = \"1abc\"\n"});
    CHECK(errors.size() == 7);
    CHECK(any_line_has(errors, {"test.toml:1:", "ftp://api.example"}));
    CHECK(any_line_has(errors, {"test.toml:2:", "unsupported proxy scheme"}));
    CHECK(any_line_has(errors, {"test.toml:3:", "http://example.org/hook"}));
    CHECK(any_line_has(errors, {"test.toml:4:", "listen", "127.0.0.1:99999"}));
    CHECK(any_line_has(errors, {"test.toml:5:", "metrics", "localhost"}));
    CHECK(any_line_has(errors, {"test.toml:6:", "TLS to Redis is not supported"}));
    CHECK(any_line_has(errors, {"test.toml:7:", "1abc"}));
    CHECK_FALSE(contains(joined(errors), "hunter2"));
}

TEST_CASE("webhook URL and listen address need each other", "[config]") {
    const std::vector<std::string> listen_alone = all_errors({{"--listen", "127.0.0.1:8443"}});
    REQUIRE(listen_alone.size() == 1);
    CHECK(listen_alone[0] ==
          "--listen 127.0.0.1:8443 needs --webhook-url, the public HTTPS URL "
          "that the reverse proxy forwards to this address");

    const std::vector<std::string> url_alone =
        all_errors({{}, {{"TGSEARCH_WEBHOOK_URL", "https://bot.example.org/hook"}}});
    REQUIRE(url_alone.size() == 1);
    CHECK(contains(url_alone[0],
                   "TGSEARCH_WEBHOOK_URL https://bot.example.org/hook needs "
                   "TGSEARCH_LISTEN ADDR:PORT"));

    const std::vector<std::string> in_file =
        all_errors({{"--config", config_path}, {}, "listen = \"127.0.0.1:8443\"\n"});
    REQUIRE(in_file.size() == 1);
    CHECK(contains(in_file[0], "test.toml:1: listen 127.0.0.1:8443 needs webhook-url,"));

    const loaded_settings both =
        load({{"--webhook-url", "https://bot.example.org/hook", "--listen", "127.0.0.1:8443"}});
    const settings_check check = check_settings(both.values, {}, command::serve);
    CHECK(check.errors.empty());
    REQUIRE(check.plan.webhook.has_value());
    CHECK(check.plan.webhook->path == "/hook");
    CHECK(check.plan.webhook->listen.port == 8443);
}

TEST_CASE("invalid TELEGRAM_BOT_TOKEN is not printed", "[config]") {
    const environment_map environment{{"TELEGRAM_BOT_TOKEN", "not a token: AAH-secret_part"}};
    const loaded_settings loaded = load({{}, environment});
    const settings_check check = check_settings(loaded.values, environment, command::serve);
    REQUIRE(check.errors.size() == 1);
    CHECK(contains(check.errors[0], "invalid bot token in TELEGRAM_BOT_TOKEN"));
    CHECK_FALSE(contains(check.errors[0], token_secret));
    CHECK(check.plan.token.value.empty());
}

TEST_CASE("token-file holding a token is rejected", "[config]") {
    const loaded_settings loaded =
        load({{"--config", config_path}, {}, std::string("token-file = \"") + token + "\"\n"});
    const settings_check check = check_settings(loaded.values, {}, command::serve);
    REQUIRE(check.errors.size() == 1);
    CHECK(contains(check.errors[0], "test.toml:1: token-file contains a bot token"));
    CHECK_FALSE(contains(check.errors[0], token_secret));
}

TEST_CASE("token file must exist and hold a token", "[config]") {
    const std::vector<std::string> missing =
        all_errors({{"--token-file", "/nonexistent/tgsearch-token"}});
    REQUIRE(missing.size() == 1);
    CHECK(contains(missing[0], "cannot read token file /nonexistent/tgsearch-token"));

    const temporary_file garbage("token", "hello\n", 0600);
    const std::vector<std::string> wrong = all_errors({{"--token-file", garbage.path()}});
    REQUIRE(wrong.size() == 1);
    CHECK(contains(wrong[0], "invalid bot token in token file " + garbage.path()));
}

TEST_CASE("shared token file draws chmod warning", "[config]") {
    const temporary_file shared("token", std::string(token) + "\n", 0644);
    const loaded_settings loaded = load({{"--token-file", shared.path()}});
    const settings_check check = check_settings(loaded.values, {}, command::serve);
    CHECK(check.errors.empty());
    REQUIRE(check.warnings.size() == 1);
    CHECK(contains(check.warnings[0], "mode 0644"));
    CHECK(contains(check.warnings[0], "chmod 600 " + shared.path()));

    const temporary_file group_writable("token", std::string(token) + "\n", 0620);
    const loaded_settings group = load({{"--token-file", group_writable.path()}});
    CHECK(check_settings(group.values, {}, command::serve).warnings.size() == 1);

    const temporary_file private_file("token", std::string(token) + "\n", 0600);
    const loaded_settings quiet = load({{"--token-file", private_file.path()}});
    CHECK(check_settings(quiet.values, {}, command::serve).warnings.empty());
}

TEST_CASE("shared config file with password warns", "[config]") {
    const std::string with_password = "redis = \"redis://:hunter2@127.0.0.1:6379\"\n";
    const std::vector<std::string> arguments{"--config", config_path};

    const loaded_settings shared = load({arguments, {}, with_password, 0644});
    REQUIRE(shared.warnings.size() == 1);
    CHECK(contains(shared.warnings[0], "config file test.toml contains a password (redis)"));
    CHECK(contains(shared.warnings[0], "chmod 600 test.toml"));
    CHECK_FALSE(contains(shared.warnings[0], "hunter2"));

    CHECK(load({arguments, {}, with_password, 0600}).warnings.empty());
    // root:tgsearch 0640 is how the Debian package lets the service user read the file.
    CHECK(load({arguments, {}, with_password, 0640, true}).warnings.empty());
    CHECK(load({arguments, {}, with_password, 0640, false}).warnings.size() == 1);
    CHECK(load({arguments, {}, with_password, 0660, true}).warnings.size() == 1);
    CHECK(
        load({arguments, {}, "proxy = \"socks5://u:pw@127.0.0.1:1080\"\n", 0604}).warnings.size() ==
        1);
    CHECK(load({arguments, {}, "redis = \"redis://127.0.0.1:6379\"\n", 0644}).warnings.empty());
}

TEST_CASE("check-config requires existing corpus files", "[config]") {
    const temporary_file corpus("corpus.jsonl", "{\"id\":\"1\",\"text\":\"a\"}\n", 0600);
    const config_run run{{"--corpus", corpus.path(), "--corpus", "/nonexistent/b.jsonl#text=q"}};
    const std::vector<std::string> checked = all_errors(run, command::check_config);
    REQUIRE(checked.size() == 1);
    CHECK(contains(checked[0], "--corpus /nonexistent/b.jsonl not found"));
    // The server leaves missing files to the corpus loader, which names them too.
    CHECK(all_errors(run, command::serve).empty());

    const std::vector<std::string> index =
        all_errors({{"--index", "/nonexistent/a.tgs"}}, command::check_config);
    REQUIRE(index.size() == 1);
    CHECK(contains(index[0], "--index /nonexistent/a.tgs not found"));
}

TEST_CASE("index command needs corpus and output", "[config]") {
    const std::vector<std::string> errors = all_errors({{"index"}}, command::index);
    CHECK(errors.size() == 2);
    CHECK(any_line_has(errors, {"tgsearch index needs a corpus"}));
    CHECK(any_line_has(errors, {"tgsearch index needs the file to write"}));
}

// ------------------------------------------------------------------------------------------
// Masking and describing

TEST_CASE("bot token is masked to its bot id", "[config]") {
    CHECK(tgsearch::mask_bot_token(token) == "123456789:****");
    CHECK(tgsearch::mask_bot_token("no-colon-here") == "****");
    CHECK(tgsearch::mask_bot_token("") == "****");
}

TEST_CASE("environment variable names follow the key", "[config]") {
    CHECK(tgsearch::environment_variable_for("poll-timeout") == "TGSEARCH_POLL_TIMEOUT");
    CHECK(tgsearch::environment_variable_for("log-format") == "TGSEARCH_LOG_FORMAT");
    CHECK(tgsearch::environment_variable_for("redis") == "TGSEARCH_REDIS_URL");
}

TEST_CASE("described settings name sources and hide secrets", "[config]") {
    const environment_map environment{{"TELEGRAM_BOT_TOKEN", token},
                                      {"TGSEARCH_PAGE_SIZE", "8"},
                                      {"https_proxy", "http://alice:proxy-pw@127.0.0.1:3128"}};
    const loaded_settings loaded =
        load({{"--config", config_path, "--workers", "3"},
              environment,
              "poll-timeout = 20\nredis = \"redis://bob:redis-pw@127.0.0.1:6379/1\"\n"});
    REQUIRE(loaded.errors.empty());
    const settings_check check = check_settings(loaded.values, environment, command::serve);
    REQUIRE(check.errors.empty());
    const std::vector<std::string> lines = tgsearch::describe_settings(loaded.values, check.plan);
    const std::string text = joined(lines);
    CHECK_FALSE(contains(text, token_secret));
    CHECK_FALSE(contains(text, "redis-pw"));
    CHECK_FALSE(contains(text, "proxy-pw"));
    CHECK(any_line_has(lines, {"poll-timeout = 20", "# config file line 1"}));
    CHECK(any_line_has(lines,
                       {"redis = \"redis://bob:****@127.0.0.1:6379/1\"", "# config file line 2"}));
    CHECK(any_line_has(lines, {"page-size = 8", "# environment TGSEARCH_PAGE_SIZE"}));
    CHECK(any_line_has(lines, {"workers = 3", "# flag --workers"}));
    CHECK(any_line_has(lines, {"shutdown-timeout = 10", "# default"}));
    CHECK(any_line_has(lines, {"page-expiry = \"48h\"", "# default"}));
    CHECK(any_line_has(lines, {"token = \"123456789:****\"", "TELEGRAM_BOT_TOKEN"}));
    CHECK(any_line_has(lines, {"http://alice:****@127.0.0.1:3128", "https_proxy"}));
    CHECK(any_line_has(lines, {"test.toml"}));
}

TEST_CASE("described proxy flag is masked", "[config]") {
    const loaded_settings loaded = load({{"--proxy", "socks5://carol:sock-pw@127.0.0.1:1080"}});
    const settings_check check = check_settings(loaded.values, {}, command::serve);
    REQUIRE(check.errors.empty());
    const std::vector<std::string> lines = tgsearch::describe_settings(loaded.values, check.plan);
    CHECK_FALSE(contains(joined(lines), "sock-pw"));
    CHECK(any_line_has(lines, {"proxy = \"socks5://carol:****@127.0.0.1:1080\"", "flag --proxy"}));
    CHECK(any_line_has(lines, {"no bot token"}));
}

namespace {

/// Returns the masked errors and warnings of loading and checking, as check-config prints them.
std::vector<std::string> masked_messages(const config_run& run) {
    const loaded_settings loaded = load(run);
    const settings_check check =
        check_settings(loaded.values, run.environment, command::check_config);
    std::vector<std::string> lines = loaded.errors;
    lines.insert(lines.end(), loaded.warnings.begin(), loaded.warnings.end());
    tgsearch::mask_secrets_in(lines, check.plan.token.value);
    lines.insert(lines.end(), check.errors.begin(), check.errors.end());
    lines.insert(lines.end(), check.warnings.begin(), check.warnings.end());
    return lines;
}

}  // namespace

TEST_CASE("token in any setting is masked", "[config]") {
    const temporary_file token_file("token", std::string(token) + "\n", 0600);
    const std::string token_line = "token-file = \"" + token_file.path() + "\"\n";
    const std::string quoted = std::string("\"") + token + "\"";
    const std::vector<std::string> files{
        "tokn = " + quoted + "\n",
        "api-url = \"https://api.telegram.org/bot" + std::string(token) + "\"\n",
        "corpus = [\"/data/" + std::string(token) + ".jsonl\"]\n",
        "channel-username = " + quoted + "\n",
        "page-size = " + quoted + "\n",
        "webhook-url = \"https://x.example/h/" + std::string(token) + "\"\nlisten = \"x\"\n",
        // The secret alone carries no bot id, so only the known token can mask it.
        "id-column = \"" + std::string(token_secret) + "\"\nformat = \"x\"\n",
    };
    for (const std::string& file : files) {
        INFO(file);
        const std::vector<std::string> lines =
            masked_messages({{"--config", config_path}, {}, token_line + file});
        CHECK_FALSE(lines.empty());
        CHECK_FALSE(contains(joined(lines), token_secret));
    }
}

TEST_CASE("token as token-file path is masked", "[config]") {
    const loaded_settings loaded = load_file(std::string("token-file = \"") + token + "\"\n");
    REQUIRE(loaded.warnings.size() == 1);
    CHECK(contains(loaded.warnings[0], "relative path"));
    CHECK_FALSE(contains(loaded.warnings[0], token_secret));
    const settings_check check = check_settings(loaded.values, {}, command::serve);
    REQUIRE(check.errors.size() == 1);
    CHECK_FALSE(contains(check.errors[0], token_secret));
}

TEST_CASE("token in rejected flag is masked", "[config]") {
    const auto result = load_any({{"--page-size", token}});
    const auto* exit = std::get_if<command_line_exit>(&result);
    REQUIRE(exit != nullptr);
    CHECK(exit->exit_code != 0);
    CHECK(contains(exit->error_output, "--page-size"));
    CHECK_FALSE(contains(exit->error_output, token_secret));
}

TEST_CASE("api-url with token path is rejected", "[config]") {
    const std::vector<std::string> errors =
        all_errors({{"--api-url", "https://api.telegram.org/bot123:AAH-other"}});
    REQUIRE(errors.size() == 1);
    CHECK(contains(errors[0], "--api-url contains a bot token"));
    CHECK_FALSE(contains(errors[0], "AAH-other"));
    // A path segment that only starts like one is not a token.
    CHECK(all_errors({{"--api-url", "http://127.0.0.1:8081/botapi"}}).empty());
}

TEST_CASE("mask_secrets_in masks URL passwords", "[config]") {
    using tgsearch::mask_secrets_in;
    CHECK(mask_secrets_in("url https://u:S3CRETPW@x.example/h failed", "") ==
          "url https://u:****@x.example/h failed");
    CHECK(mask_secrets_in("\"redis://:p/w@127.0.0.1:6379/2\"", "") ==
          "\"redis://:****@127.0.0.1:6379/2\"");
    CHECK(mask_secrets_in("redis://hunter2@127.0.0.1", "") == "redis://****@127.0.0.1");
    CHECK(mask_secrets_in("unix:///r.sock?db=1&password=hunter2&x=1", "") ==
          "unix:///r.sock?db=1&password=****&x=1");
    CHECK(mask_secrets_in("\"PASS=hunter2\" is unknown", "") == "\"PASS=****\" is unknown");
    // Addresses, ports and IPv6 groups do not have the form of a token.
    const std::string plain =
        "listen 127.0.0.1:8080, [2001:db8::1]:443, redis://127.0.0.1:6379, test.toml:12: x";
    CHECK(mask_secrets_in(plain, "") == plain);
    CHECK(mask_secrets_in(std::string("t ") + token + " " + token_secret, token) ==
          "t 123456789:**** ****");
}

TEST_CASE("webhook and redis passwords are masked", "[config]") {
    const std::vector<std::string> webhook = all_errors(
        {{"--webhook-url", "https://u:S3CRETPW@x.example/h", "--listen", "127.0.0.1:8080"}});
    REQUIRE(webhook.size() == 1);
    CHECK(contains(webhook[0], "u:****@x.example"));
    CHECK_FALSE(contains(webhook[0], "S3CRETPW"));

    const std::vector<std::string> redis =
        all_errors({{}, {{"TGSEARCH_REDIS_URL", "unix:///run/r.sock?password=hunter2"}}});
    REQUIRE(redis.size() == 1);
    CHECK(contains(redis[0], "password=****"));
    CHECK_FALSE(contains(redis[0], "hunter2"));
}

TEST_CASE("durations above their maximum are rejected", "[config]") {
    const std::vector<std::string> expiry = all_errors({{}, {{"TGSEARCH_PAGE_EXPIRY", "106752d"}}});
    REQUIRE(expiry.size() == 1);
    CHECK(contains(expiry[0], "TGSEARCH_PAGE_EXPIRY"));
    CHECK(contains(expiry[0], "expected 1 s to 365d"));
    CHECK(all_errors({{}, {{"TGSEARCH_PAGE_EXPIRY", "365d"}}}).empty());
    CHECK(all_errors({{}, {{"TGSEARCH_PAGE_EXPIRY", "366d"}}}).size() == 1);

    const std::vector<std::string> shutdown =
        all_errors({{"--shutdown-timeout", "9223372036854775807"}});
    REQUIRE(shutdown.size() == 1);
    CHECK(contains(shutdown[0], "expected 0 to 3600 seconds"));
    CHECK(all_errors({{"--shutdown-timeout", "3600"}}).empty());
    CHECK(all_errors({{"--shutdown-timeout", "3601"}}).size() == 1);
}

TEST_CASE("listen and metrics on one port are rejected", "[config]") {
    const auto errors_for = [](const std::string& listen, const std::string& metrics) {
        return all_errors(
            {{"--webhook-url", "https://x.example/h", "--listen", listen, "--metrics", metrics}});
    };
    const std::vector<std::string> same = errors_for("127.0.0.1:8080", "127.0.0.1:8080");
    REQUIRE(same.size() == 1);
    CHECK(contains(same[0], "--metrics 127.0.0.1:8080 and --listen 127.0.0.1:8080"));
    CHECK(errors_for("0.0.0.0:8080", "127.0.0.1:8080").size() == 1);
    CHECK(errors_for("[::1]:8080", "[::]:8080").size() == 1);
    CHECK(errors_for("127.0.0.1:8080", "127.0.0.1:9464").empty());
    CHECK(errors_for("127.0.0.1:8080", "127.0.0.2:8080").empty());
    CHECK(errors_for("127.0.0.1:8080", "127.0.0.1:0").empty());
}
