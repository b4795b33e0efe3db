#include "app/bot_api_protocol.hpp"

#include "app/bot_api_client.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <limits>
#include <optional>
#include <stdexcept>
#include <utility>

namespace tgsearch {
namespace detail {
namespace {

using boost::system::error_code;

/// Maximum JSON nesting accepted when scanning a response, raised from Boost.JSON's default of
/// 32 so that no deeply nested update is rejected here. It only bounds the scanner's stack.
constexpr std::size_t max_json_depth = 256;

// Keys of a Bot API response longer than this are not among the ones the scanner looks for.
constexpr std::size_t max_tracked_key_size = 32;

/// Boost.JSON SAX handler that keeps the envelope fields and skips every other value, so a
/// large "result" is scanned but not stored. It stops at `"ok": true`, because a successful
/// response needs nothing more and its "result" is parsed by the caller.
class envelope_scanner {
public:
    static constexpr std::size_t max_object_size = std::size_t(-1);
    static constexpr std::size_t max_array_size = std::size_t(-1);
    static constexpr std::size_t max_key_size = std::size_t(-1);
    static constexpr std::size_t max_string_size = std::size_t(-1);

    bot_api_envelope envelope;
    bool stopped_at_ok = false;

    bool on_document_begin(error_code&) { return true; }
    bool on_document_end(error_code&) { return true; }

    bool on_object_begin(error_code&) {
        if (depth_ == 0) {
            top_level_is_object_ = true;
        } else if (depth_ == 1 && top_field_ == top_field::parameters) {
            in_parameters_ = true;
        }
        ++depth_;
        return true;
    }
    bool on_object_end(std::size_t, error_code&) {
        leave_container();
        return true;
    }
    bool on_array_begin(error_code&) {
        ++depth_;
        return true;
    }
    bool on_array_end(std::size_t, error_code&) {
        leave_container();
        return true;
    }

    bool on_key_part(boost::json::string_view part, std::size_t, error_code&) {
        append_key(part);
        return true;
    }
    bool on_key(boost::json::string_view part, std::size_t, error_code&) {
        append_key(part);
        if (depth_ == 1) {
            top_field_ = classify_top_key();
        } else if (depth_ == 2 && in_parameters_) {
            parameter_field_ = classify_parameter_key();
        }
        key_.clear();
        key_too_long_ = false;
        return true;
    }

    bool on_string_part(boost::json::string_view part, std::size_t, error_code&) {
        if (at_top_field(top_field::description)) {
            description_.append(part.data(), part.size());
        }
        return true;
    }
    bool on_string(boost::json::string_view part, std::size_t, error_code&) {
        if (at_top_field(top_field::description)) {
            description_.append(part.data(), part.size());
            envelope.description = std::move(description_);
            description_.clear();
        }
        return true;
    }

    bool on_number_part(boost::json::string_view, error_code&) { return true; }
    bool on_int64(std::int64_t value, boost::json::string_view, error_code&) {
        store_integer(value);
        return true;
    }
    bool on_uint64(std::uint64_t value, boost::json::string_view, error_code&) {
        if (value <= std::uint64_t(std::numeric_limits<std::int64_t>::max())) {
            store_integer(static_cast<std::int64_t>(value));
        }
        return true;
    }
    bool on_double(double, boost::json::string_view, error_code&) { return true; }

    bool on_bool(bool value, error_code& ec) {
        if (at_top_field(top_field::ok)) {
            envelope.is_response = top_level_is_object_;
            envelope.ok = value;
            if (value) {
                stopped_at_ok = true;
                ec = make_error_code(boost::system::errc::operation_canceled);
                return false;
            }
        }
        return true;
    }
    bool on_null(error_code&) { return true; }
    bool on_comment_part(boost::json::string_view, error_code&) { return true; }
    bool on_comment(boost::json::string_view, error_code&) { return true; }

private:
    enum class top_field { other, ok, error_code, description, parameters };
    enum class parameter_field { other, retry_after, migrate_to_chat_id };

    bool at_top_field(top_field field) const { return depth_ == 1 && top_field_ == field; }

    void leave_container() {
        --depth_;
        if (depth_ <= 1) {
            in_parameters_ = false;
        }
    }

    void append_key(boost::json::string_view part) {
        const bool tracked = depth_ == 1 || (depth_ == 2 && in_parameters_);
        if (!tracked || key_too_long_) {
            return;
        }
        if (key_.size() + part.size() > max_tracked_key_size) {
            key_too_long_ = true;
            return;
        }
        key_.append(part.data(), part.size());
    }

    top_field classify_top_key() const {
        if (key_too_long_) {
            return top_field::other;
        }
        if (key_ == "ok") {
            return top_field::ok;
        }
        if (key_ == "error_code") {
            return top_field::error_code;
        }
        if (key_ == "description") {
            return top_field::description;
        }
        if (key_ == "parameters") {
            return top_field::parameters;
        }
        return top_field::other;
    }

    parameter_field classify_parameter_key() const {
        if (key_too_long_) {
            return parameter_field::other;
        }
        if (key_ == "retry_after") {
            return parameter_field::retry_after;
        }
        if (key_ == "migrate_to_chat_id") {
            return parameter_field::migrate_to_chat_id;
        }
        return parameter_field::other;
    }

    void store_integer(std::int64_t value) {
        if (at_top_field(top_field::error_code)) {
            envelope.error_code = value;
        } else if (depth_ == 2 && in_parameters_) {
            if (parameter_field_ == parameter_field::retry_after) {
                envelope.retry_after = value;
            } else if (parameter_field_ == parameter_field::migrate_to_chat_id) {
                envelope.migrate_to_chat_id = value;
            }
        }
    }

    std::size_t depth_ = 0;  // containers open at the current position
    bool top_level_is_object_ = false;
    bool in_parameters_ = false;
    top_field top_field_ = top_field::other;
    parameter_field parameter_field_ = parameter_field::other;
    std::string key_;
    bool key_too_long_ = false;
    std::string description_;
};

/// Boost.JSON SAX handler that stores nothing and records whether the top-level value is an
/// object.
class object_checker {
public:
    static constexpr std::size_t max_object_size = std::size_t(-1);
    static constexpr std::size_t max_array_size = std::size_t(-1);
    static constexpr std::size_t max_key_size = std::size_t(-1);
    static constexpr std::size_t max_string_size = std::size_t(-1);

    bool top_level_is_object = false;

    bool on_document_begin(error_code&) { return true; }
    bool on_document_end(error_code&) { return true; }
    bool on_object_begin(error_code&) {
        if (depth_ == 0) {
            top_level_is_object = true;
        }
        ++depth_;
        return true;
    }
    bool on_object_end(std::size_t, error_code&) {
        --depth_;
        return true;
    }
    bool on_array_begin(error_code&) {
        ++depth_;
        return true;
    }
    bool on_array_end(std::size_t, error_code&) {
        --depth_;
        return true;
    }
    bool on_key_part(boost::json::string_view, std::size_t, error_code&) { return true; }
    bool on_key(boost::json::string_view, std::size_t, error_code&) { return true; }
    bool on_string_part(boost::json::string_view, std::size_t, error_code&) { return true; }
    bool on_string(boost::json::string_view, std::size_t, error_code&) { return true; }
    bool on_number_part(boost::json::string_view, error_code&) { return true; }
    bool on_int64(std::int64_t, boost::json::string_view, error_code&) { return true; }
    bool on_uint64(std::uint64_t, boost::json::string_view, error_code&) { return true; }
    bool on_double(double, boost::json::string_view, error_code&) { return true; }
    bool on_bool(bool, error_code&) { return true; }
    bool on_null(error_code&) { return true; }
    bool on_comment_part(boost::json::string_view, error_code&) { return true; }
    bool on_comment(boost::json::string_view, error_code&) { return true; }

private:
    std::size_t depth_ = 0;
};

/// Characters Telegram allows in a webhook secret token.
bool is_secret_token_character(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           c == '-';
}

/// Telegram's bounds on setWebhook's secret_token length and max_connections.
constexpr std::size_t max_secret_token_size = 256;
constexpr int max_webhook_connections = 100;

/// Ports Telegram sends webhook requests to, from the setWebhook documentation.
constexpr std::array<std::string_view, 4> webhook_ports = {"443", "80", "88", "8443"};

}  // namespace

base_url parse_base_url(const std::string& text, std::string_view token) {
    const auto invalid = [&](std::string_view reason) {
        return std::invalid_argument(redact_token(
            "invalid --api-url \"" + mask_url_password(text) + "\": " + std::string(reason),
            token));
    };
    constexpr std::string_view expected_scheme = "expected an http:// or https:// URL";

    const auto parsed = boost::urls::parse_uri(text);
    if (!parsed) {
        throw invalid(expected_scheme);
    }
    const boost::urls::url_view url = *parsed;

    base_url out;
    if (url.scheme_id() == boost::urls::scheme::https) {
        out.tls = true;
    } else if (url.scheme_id() != boost::urls::scheme::http) {
        throw invalid(expected_scheme);
    }
    if (!url.has_authority() || url.encoded_host().empty()) {
        throw invalid("missing host name");
    }
    if (url.has_userinfo()) {
        throw invalid("user info before the host is not supported: remove \"user:password@\"");
    }
    if (url.has_query() || url.has_fragment()) {
        throw invalid("a query or fragment is not allowed, so remove the part from \"?\" or \"#\"");
    }
    switch (url.host_type()) {
        case boost::urls::host_type::name:
            out.host_is_name = true;
            break;
        case boost::urls::host_type::ipv4:
        case boost::urls::host_type::ipv6:
            break;
        default:
            throw invalid("unsupported host, expected a host name, an IPv4 or an IPv6 address");
    }
    out.host = url.host_address();

    const std::string_view default_port = out.tls ? "443" : "80";
    const std::string_view port = url.port();
    if (port.empty()) {
        out.port = default_port;
    } else {
        unsigned number = 0;
        const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), number);
        if (error != std::errc() || end != port.data() + port.size() || number == 0 ||
            number > 65535) {
            throw invalid("the port must be a number from 1 to 65535");
        }
        out.port = std::to_string(number);
    }

    out.host_header = std::string_view(url.encoded_host());
    if (out.port != default_port) {
        out.host_header += ':';
        out.host_header += out.port;
    }

    std::string_view path = url.encoded_path();
    // Boost.URL 1.81 accepts "http://host:80a" as port 80 and path "a", although a path after
    // the host must be empty or start with "/".
    if (!path.empty() && path.front() != '/') {
        throw invalid("expected \"/\" or the end after the host and port");
    }
    while (!path.empty() && path.back() == '/') {
        path.remove_suffix(1);
    }
    out.path_prefix = path;
    return out;
}

// The token goes into the request target unescaped, so anything that could end the path
// segment or the request line is rejected. Issued tokens are "<bot id>:<base64url secret>".
void check_token(std::string_view token) {
    if (token.empty()) {
        throw std::invalid_argument("missing bot token");
    }
    const bool valid = std::all_of(token.begin(), token.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               c == ':' || c == '-' || c == '_';
    });
    if (!valid) {
        throw std::invalid_argument(
            "invalid bot token: it may contain only letters, digits, ':', '-' and '_'");
    }
}

void check_method(std::string_view method) {
    const bool valid = !method.empty() && std::all_of(method.begin(), method.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    });
    if (!valid) {
        throw std::invalid_argument("invalid Bot API method name \"" + std::string(method) +
                                    "\": expected letters and digits only");
    }
}

bot_api_envelope scan_envelope(std::string_view body) {
    boost::json::parse_options options;
    options.max_depth = max_json_depth;
    boost::json::basic_parser<envelope_scanner> parser(options);
    error_code error;
    parser.write_some(false, body.data(), body.size(), error);
    if (error && !parser.handler().stopped_at_ok) {
        return {};
    }
    return std::move(parser.handler().envelope);
}

std::string check_webhook_url(const std::string& text) {
    const auto invalid = [&text](std::string_view reason) {
        return std::invalid_argument("invalid --webhook-url \"" + text +
                                     "\": " + std::string(reason));
    };
    const auto parsed = boost::urls::parse_uri(text);
    if (!parsed) {
        throw invalid("expected an https:// URL, such as https://bot.example.com/telegram");
    }
    const boost::urls::url_view url = *parsed;
    if (!url.has_authority() || url.encoded_host().empty()) {
        throw invalid("missing host name");
    }
    if (url.has_userinfo()) {
        throw invalid("user info before the host is not supported: remove \"user:password@\"");
    }
    if (url.has_query() || url.has_fragment()) {
        throw invalid(
            "a query or fragment is not allowed: remove the part from \"?\" or \"#\"; the "
            "bot checks a secret token header instead");
    }
    std::string_view path = url.encoded_path();
    if (!path.empty() && path.front() != '/') {
        throw invalid("expected \"/\" or the end after the host and port");
    }

    if (url.scheme_id() == boost::urls::scheme::https) {
        const std::string_view port = url.port();
        if (url.has_port() &&
            std::find(webhook_ports.begin(), webhook_ports.end(), port) == webhook_ports.end()) {
            throw invalid("Telegram sends webhook requests only to ports 443, 80, 88 and 8443");
        }
    } else if (url.scheme_id() == boost::urls::scheme::http) {
        // Telegram requires HTTPS; plain HTTP is for a Bot API stand-in on this machine.
        const std::string host = url.host_address();
        if (host != "127.0.0.1" && host != "::1" && host != "localhost") {
            throw invalid(
                "Telegram requires an https:// URL; http:// is accepted only for 127.0.0.1, "
                "[::1] or localhost, for tests");
        }
    } else {
        throw invalid("expected an https:// URL, such as https://bot.example.com/telegram");
    }
    return path.empty() ? std::string("/") : std::string(path);
}

bool is_json_object(std::string_view text) {
    boost::json::parse_options options;
    options.max_depth = max_json_depth;
    options.allow_invalid_utf8 = true;
    boost::json::basic_parser<object_checker> parser(options);
    error_code error;
    const std::size_t consumed = parser.write_some(false, text.data(), text.size(), error);
    return !error && parser.done() && consumed == text.size() &&
           parser.handler().top_level_is_object;
}

}  // namespace detail

std::string redact_token(std::string text, std::string_view token) {
    constexpr std::string_view replacement = "<redacted>";
    // Secrets in tokens issued by Telegram are 35 characters long. A shorter secret is not
    // looked for on its own, so a test token such as "1:a" does not blank out unrelated text.
    constexpr std::size_t min_secret_size = 8;

    const auto replace_all = [&text, replacement](std::string_view needle) {
        for (std::size_t at = text.find(needle); at != std::string::npos;
             at = text.find(needle, at + replacement.size())) {
            text.replace(at, needle.size(), replacement);
        }
    };
    if (token.empty()) {
        return text;
    }
    replace_all(token);
    // The secret after the colon is replaced on its own too, which covers a token whose colon
    // was percent-encoded when a server echoed the request target.
    const std::size_t colon = token.find(':');
    if (colon != std::string_view::npos && token.size() - colon - 1 >= min_secret_size) {
        replace_all(token.substr(colon + 1));
    }
    return text;
}

std::string make_set_webhook_body(const webhook_registration& registration) {
    if (registration.url.empty()) {
        throw std::invalid_argument("setWebhook needs a URL");
    }
    const std::string& secret = registration.secret_token;
    if (secret.empty() || secret.size() > detail::max_secret_token_size ||
        !std::all_of(secret.begin(), secret.end(), detail::is_secret_token_character)) {
        throw std::invalid_argument(
            "invalid webhook secret token: expected 1 to 256 characters of A-Z, a-z, 0-9, '_' "
            "and '-'");
    }
    if (registration.max_connections < 1 ||
        registration.max_connections > detail::max_webhook_connections) {
        throw std::invalid_argument("invalid webhook max_connections " +
                                    std::to_string(registration.max_connections) +
                                    ": expected 1 to 100");
    }
    boost::json::object request;
    request["url"] = registration.url;
    request["secret_token"] = secret;
    if (!registration.allowed_updates.empty()) {
        boost::json::array types;
        for (const std::string& type : registration.allowed_updates) {
            types.emplace_back(type);
        }
        request["allowed_updates"] = std::move(types);
    }
    request["max_connections"] = registration.max_connections;
    request["drop_pending_updates"] = false;
    return boost::json::serialize(request);
}

std::string make_delete_webhook_body() { return R"({"drop_pending_updates":false})"; }

namespace {

/// Parses a Bot API response body and returns its "result" when "ok" is true.
std::optional<boost::json::value> successful_result(std::string_view body) {
    boost::system::error_code error;
    boost::json::value root = boost::json::parse(body, error);
    const boost::json::object* object = root.if_object();
    if (error || object == nullptr) {
        return std::nullopt;
    }
    const boost::json::value* ok = object->if_contains("ok");
    const boost::json::value* result = object->if_contains("result");
    if (ok == nullptr || !ok->is_bool() || !ok->get_bool() || result == nullptr) {
        return std::nullopt;
    }
    return *result;
}

std::int64_t integer_field(const boost::json::object& object, std::string_view key) {
    const boost::json::value* value = object.if_contains(key);
    return value != nullptr && value->is_int64() ? value->get_int64() : 0;
}

}  // namespace

std::optional<webhook_info> parse_webhook_info(std::string_view body) {
    const std::optional<boost::json::value> result = successful_result(body);
    const boost::json::object* object = result ? result->if_object() : nullptr;
    if (object == nullptr) {
        return std::nullopt;
    }
    const boost::json::value* url = object->if_contains("url");
    if (url == nullptr || !url->is_string()) {
        return std::nullopt;
    }
    webhook_info info;
    info.url = std::string(url->get_string());
    info.pending_update_count = integer_field(*object, "pending_update_count");
    info.last_error_date = integer_field(*object, "last_error_date");
    if (const boost::json::value* message = object->if_contains("last_error_message");
        message != nullptr && message->is_string()) {
        info.last_error_message = std::string(message->get_string());
    }
    return info;
}

bool is_true_result(std::string_view body) {
    const std::optional<boost::json::value> result = successful_result(body);
    return result && result->is_bool() && result->get_bool();
}

}  // namespace tgsearch
