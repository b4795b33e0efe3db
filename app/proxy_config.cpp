#include "app/proxy_config.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <stdexcept>
#include <vector>

namespace tgsearch {
namespace {

/// RFC 1929 sends each of the user name and the password with a one-byte length.
constexpr std::size_t max_socks5_credential_bytes = 255;

}  // namespace

namespace detail {

std::string mask_url_password(std::string_view text) {
    const std::size_t scheme_end = text.find("://");
    const std::size_t authority_begin = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
    const std::size_t at = text.rfind('@');
    if (at == std::string_view::npos || at < authority_begin) {
        return std::string(text);
    }
    const std::size_t colon = text.substr(authority_begin, at - authority_begin).find(':');
    if (colon == std::string_view::npos) {
        return std::string(text);
    }
    std::string masked(text.substr(0, authority_begin + colon + 1));
    masked += "****";
    masked += text.substr(at);
    return masked;
}

}  // namespace detail

namespace {

std::invalid_argument invalid_proxy(std::string_view origin, std::string_view text,
                                    std::string_view reason) {
    return std::invalid_argument("invalid " + std::string(origin) + " \"" +
                                 detail::mask_url_password(text) + "\": " + std::string(reason));
}

std::string lower_case(std::string_view text) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return lower;
}

/// Formats `byte` as two upper-case hex digits, as percent-encoding writes it.
std::string hex_byte(unsigned char byte) {
    constexpr std::string_view digits = "0123456789ABCDEF";
    return {digits[byte >> 4], digits[byte & 15]};
}

bool is_hex_digit(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

/// Tells whether `c` may appear unencoded in the user info or host name of a URL: an
/// unreserved character or a sub-delimiter (RFC 3986, sections 2.2 and 2.3).
bool is_plain_url_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           std::string_view("-._~!$&'()*+,;=").find(c) != std::string_view::npos;
}

/// Names `c` for an error message: the character itself when it is printable ASCII.
std::string character_name(char c) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte == ' ') {
        return "the space";
    }
    if (byte > ' ' && byte < 0x7f) {
        return std::string(1, c);
    }
    return "byte 0x" + hex_byte(byte);
}

/// Returns why `part` (the user name or password, named by `what`) is not valid in a URL, or
/// an empty string. Only the offending character is named, never the text around it.
std::string userinfo_problem(std::string_view part, std::string_view what, bool colon_allowed) {
    for (std::size_t i = 0; i < part.size(); ++i) {
        const char c = part[i];
        if (c == '%') {
            if (i + 2 >= part.size() || !is_hex_digit(part[i + 1]) || !is_hex_digit(part[i + 2])) {
                return "invalid percent-encoding in the " + std::string(what) +
                       ": \"%\" must be followed by two hex digits, so write a literal % as %25";
            }
            i += 2;
            continue;
        }
        if (is_plain_url_char(c) || (colon_allowed && c == ':')) {
            continue;
        }
        return "percent-encode " + character_name(c) + " in the " + std::string(what) + " as %" +
               hex_byte(static_cast<unsigned char>(c));
    }
    return {};
}

/// Checks the part of a proxy URL after "scheme://" and throws an error that names the actual
/// problem: a character to percent-encode in the user info, a bad port, an IPv6 address
/// without brackets, or a path, query or fragment. Boost.URL reports only that the URL does
/// not parse.
void check_authority(std::string_view rest, proxy_config::protocol type,
                     const std::function<std::invalid_argument(std::string_view)>& invalid) {
    // The user info ends at the last "@", so that an unencoded "@", "/", "?" or "#" in a
    // password is reported as such instead of as a host or path.
    const std::size_t at = rest.rfind('@');
    if (at != std::string_view::npos) {
        const std::string_view userinfo = rest.substr(0, at);
        const std::size_t colon = userinfo.find(':');
        const std::string_view user = userinfo.substr(0, colon);
        if (std::string problem = userinfo_problem(user, "user name", false); !problem.empty()) {
            throw invalid(problem);
        }
        if (colon != std::string_view::npos) {
            if (std::string problem =
                    userinfo_problem(userinfo.substr(colon + 1), "password", true);
                !problem.empty()) {
                throw invalid(problem);
            }
        }
        rest.remove_prefix(at + 1);
    }

    const std::size_t authority_end = std::min(rest.find_first_of("/?#"), rest.size());
    const std::string_view after = rest.substr(authority_end);
    if (!after.empty() && after != "/") {
        const char* part = after.front() == '/'   ? "path"
                           : after.front() == '?' ? "query"
                                                  : "fragment";
        throw invalid("unexpected " + std::string(part) + " \"" + std::string(after) +
                      "\": a proxy URL ends after the port");
    }
    const std::string_view authority = rest.substr(0, authority_end);

    std::string_view host = authority;
    std::string_view port;
    bool has_port = false;
    if (authority.starts_with('[')) {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos) {
            throw invalid("missing \"]\" after the IPv6 address");
        }
        host = authority.substr(1, close - 1);
        const std::string_view tail = authority.substr(close + 1);
        if (!tail.empty() && !tail.starts_with(':')) {
            throw invalid("expected \":port\" after the IPv6 address in brackets");
        }
        has_port = !tail.empty();
        port = has_port ? tail.substr(1) : tail;
    } else {
        const std::size_t colon = authority.find(':');
        if (colon != std::string_view::npos) {
            if (authority.find(':', colon + 1) != std::string_view::npos) {
                throw invalid("an IPv6 address must be in brackets, e.g. socks5://[::1]:1080");
            }
            host = authority.substr(0, colon);
            port = authority.substr(colon + 1);
            has_port = true;
        }
        for (const char c : host) {
            if (!is_plain_url_char(c) && c != '%') {
                throw invalid("invalid proxy host \"" + std::string(host) +
                              "\": a host name cannot contain " + character_name(c));
            }
        }
    }
    if (host.empty()) {
        throw invalid("missing proxy host");
    }
    if (has_port || type == proxy_config::protocol::socks5) {
        if (port.empty()) {
            throw invalid("missing proxy port, e.g. socks5://host:1080");
        }
        unsigned number = 0;
        const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), number);
        if (error != std::errc() || end != port.data() + port.size() || number == 0 ||
            number > 65535) {
            throw invalid("invalid port '" + std::string(port) +
                          "': expected a number from 1 to 65535");
        }
    }
}

proxy_config parse_proxy(std::string_view text, std::string_view origin) {
    constexpr std::string_view expected =
        "expected socks5://[user:password@]host:port or http://[user:password@]host[:port]";
    const auto invalid = [&](std::string_view reason) {
        return invalid_proxy(origin, text, reason);
    };

    // The scheme is read from the raw text, so that a URL that Boost.URL cannot parse still
    // gets an error about its actual problem.
    const std::size_t scheme_end = text.find("://");
    std::string scheme;
    if (scheme_end != std::string_view::npos) {
        scheme = lower_case(text.substr(0, scheme_end));
    } else if (const auto parsed = boost::urls::parse_uri(text)) {
        scheme = lower_case(parsed->scheme());
    } else {
        throw invalid(expected);
    }

    proxy_config proxy;
    if (scheme == "socks5" || scheme == "socks5h") {
        proxy.type = proxy_config::protocol::socks5;
    } else if (scheme == "http") {
        proxy.type = proxy_config::protocol::http_connect;
    } else if (scheme == "https") {
        throw invalid(
            "TLS to the proxy itself is not supported; use http:// for an HTTP proxy, "
            "which still tunnels TLS to the Bot API");
    } else {
        throw invalid("unsupported proxy scheme \"" + scheme + "\"; " + std::string(expected));
    }
    if (scheme_end == std::string_view::npos) {
        throw invalid(expected);
    }
    check_authority(text.substr(scheme_end + 3), proxy.type, invalid);

    // check_authority has caught what users get wrong; Boost.URL checks the rest.
    const auto parsed = boost::urls::parse_uri(text);
    if (!parsed) {
        throw invalid(expected);
    }
    const boost::urls::url_view url = *parsed;
    if (!url.has_authority() || url.encoded_host().empty()) {
        throw invalid("missing proxy host");
    }
    switch (url.host_type()) {
        case boost::urls::host_type::name:
        case boost::urls::host_type::ipv4:
        case boost::urls::host_type::ipv6:
            break;
        default:
            throw invalid("expected a host name, an IPv4 or an IPv6 address");
    }
    proxy.host = url.host_address();
    // check_authority has checked the port, and only an http:// proxy may leave it out.
    proxy.port = url.port().empty() ? std::string("80") : std::to_string(url.port_number());

    if (url.has_userinfo()) {
        proxy.username = url.user();
        proxy.password = url.password();
        if (proxy.username.empty()) {
            throw invalid("empty proxy user name before \"@\"");
        }
        if (proxy.username.size() > max_socks5_credential_bytes ||
            proxy.password.size() > max_socks5_credential_bytes) {
            throw invalid("the proxy user name and password may have at most 255 bytes each");
        }
    }

    proxy.display = scheme + "://";
    if (!proxy.username.empty()) {
        proxy.display += std::string(url.encoded_user()) + ":****@";
    }
    proxy.display += std::string(url.encoded_host_and_port());
    if (url.port().empty()) {
        proxy.display += ":" + proxy.port;
    }
    return proxy;
}

/// Returns the NO_PROXY entry that matches `host`, or an empty string.
std::string no_proxy_match(std::string_view list, std::string_view host) {
    const std::string lower_host = lower_case(host);
    std::size_t begin = 0;
    while (begin <= list.size()) {
        std::size_t end = list.find(',', begin);
        if (end == std::string_view::npos) {
            end = list.size();
        }
        std::string_view entry = list.substr(begin, end - begin);
        begin = end + 1;
        while (!entry.empty() && (entry.front() == ' ' || entry.front() == '\t')) {
            entry.remove_prefix(1);
        }
        while (!entry.empty() && (entry.back() == ' ' || entry.back() == '\t')) {
            entry.remove_suffix(1);
        }
        const std::string original(entry);
        if (entry == "*") {
            return original;
        }
        // A port after a host name is allowed by curl; it is ignored here, as one API URL
        // has one port anyway. Bracketed IPv6 entries keep their brackets off.
        if (!entry.empty() && entry.front() == '[') {
            entry = entry.substr(1, entry.find(']') - 1);
        } else if (std::count(entry.begin(), entry.end(), ':') == 1) {
            entry = entry.substr(0, entry.find(':'));
        }
        while (!entry.empty() && entry.front() == '.') {
            entry.remove_prefix(1);
        }
        if (entry.empty()) {
            continue;
        }
        const std::string pattern = lower_case(entry);
        if (lower_host == pattern) {
            return original;
        }
        if (lower_host.size() > pattern.size() && lower_host.ends_with(pattern) &&
            lower_host[lower_host.size() - pattern.size() - 1] == '.') {
            return original;
        }
    }
    return {};
}

}  // namespace

proxy_config parse_proxy_url(std::string_view text) { return parse_proxy(text, "--proxy"); }

proxy_choice choose_proxy(std::optional<std::string_view> flag, bool api_tls,
                          std::string_view api_host,
                          const std::function<const char*(const char*)>& get_env) {
    const auto read_env = [&get_env](const char* name) -> const char* {
        return get_env ? get_env(name) : std::getenv(name);
    };
    proxy_choice choice;
    if (flag && flag->empty()) {
        choice.source = "--proxy";
        choice.summary =
            "connecting to the Bot API directly: --proxy \"\" turns proxies off, "
            "so proxy environment variables are ignored";
        return choice;
    }
    if (flag) {
        choice.proxy = parse_proxy(*flag, "--proxy");
        choice.source = "--proxy";
        choice.summary =
            "connecting to the Bot API through proxy " + choice.proxy->display + " (from --proxy)";
        return choice;
    }

    std::vector<const char*> names;
    if (api_tls) {
        names = {"https_proxy", "HTTPS_PROXY"};
    } else {
        names = {"http_proxy"};
    }
    names.push_back("all_proxy");
    names.push_back("ALL_PROXY");
    for (const char* name : names) {
        const char* value = read_env(name);
        if (value == nullptr || *value == '\0') {
            continue;
        }
        proxy_config proxy = parse_proxy(value, std::string("proxy in ") + name);
        for (const char* no_proxy_name : {"no_proxy", "NO_PROXY"}) {
            const char* list = read_env(no_proxy_name);
            if (list == nullptr || *list == '\0') {
                continue;
            }
            if (const std::string entry = no_proxy_match(list, api_host); !entry.empty()) {
                choice.excluded_by = std::string(no_proxy_name) + " entry \"" + entry + "\"";
                choice.source = name;
                choice.summary = "connecting to the Bot API directly: " + choice.excluded_by +
                                 " excludes " + std::string(api_host) + " from proxy " +
                                 proxy.display + " (from " + name + ")";
                return choice;
            }
            break;  // the lower-case variable wins when both are set, as in curl
        }
        choice.proxy = std::move(proxy);
        choice.source = name;
        choice.summary = "connecting to the Bot API through proxy " + choice.proxy->display +
                         " (from " + name + ")";
        return choice;
    }

    // Variables that are set but do not apply to this API URL get named, because a user who
    // set them expects a proxy.
    std::vector<std::string> unused;
    const auto note_unused = [&](const char* name, const char* why) {
        const char* value = read_env(name);
        if (value != nullptr && *value != '\0') {
            unused.push_back(std::string(name) + " " + why);
        }
    };
    if (api_tls) {
        note_unused("http_proxy", "applies to http:// API URLs only");
        note_unused("HTTP_PROXY", "is never read, because a CGI request can set it");
    } else {
        note_unused("https_proxy", "applies to https:// API URLs only");
        note_unused("HTTPS_PROXY", "applies to https:// API URLs only");
        note_unused("HTTP_PROXY", "is never read, because a CGI request can set it");
    }
    choice.summary = "connecting to the Bot API directly: ";
    if (unused.empty()) {
        choice.summary += "no --proxy and no proxy environment variable";
    } else {
        for (std::size_t i = 0; i < unused.size(); ++i) {
            choice.summary += (i == 0 ? "" : ", and ") + unused[i];
        }
    }
    return choice;
}

proxy_choice choose_proxy(const std::string& flag, bool api_tls, std::string_view api_host,
                          const std::function<const char*(const char*)>& get_env) {
    return choose_proxy(flag.empty() ? std::nullopt : std::optional<std::string_view>(flag),
                        api_tls, api_host, get_env);
}

namespace detail {

std::string socks5_greeting(bool with_password) {
    // VER 5, then the number of methods and the methods: 0 none, 2 username/password.
    if (with_password) {
        return std::string("\x05\x02\x00\x02", 4);
    }
    return std::string("\x05\x01\x00", 3);
}

std::string socks5_password_request(std::string_view username, std::string_view password) {
    std::string request;
    request += '\x01';  // version of the RFC 1929 subnegotiation
    request += static_cast<char>(username.size());
    request += username;
    request += static_cast<char>(password.size());
    request += password;
    return request;
}

std::string socks5_connect_request(std::string_view host, std::uint16_t port) {
    std::string request("\x05\x01\x00", 3);  // VER, CMD CONNECT, RSV
    const std::string host_text(host);
    std::array<unsigned char, 16> address{};
    if (::inet_pton(AF_INET, host_text.c_str(), address.data()) == 1) {
        request += '\x01';
        request.append(reinterpret_cast<const char*>(address.data()), 4);
    } else if (::inet_pton(AF_INET6, host_text.c_str(), address.data()) == 1) {
        request += '\x04';
        request.append(reinterpret_cast<const char*>(address.data()), 16);
    } else {
        // SOCKS5 sends a name with a one-byte length. A longer name cannot be sent, so it is
        // cut, and the proxy fails to resolve it.
        const std::size_t length = std::min<std::size_t>(host.size(), 255);
        request += '\x03';
        request += static_cast<char>(length);
        request += host.substr(0, length);
    }
    request += static_cast<char>(port >> 8);
    request += static_cast<char>(port & 0xff);
    return request;
}

std::size_t socks5_reply_address_size(std::uint8_t atyp, std::uint8_t domain_length) {
    switch (atyp) {
        case 1:
            return 4 + 2;
        case 3:
            return 1 + domain_length + 2;
        case 4:
            return 16 + 2;
        default:
            return 0;
    }
}

std::string_view socks5_reply_text(std::uint8_t code) {
    switch (code) {
        case 0:
            return "succeeded";
        case 1:
            return "general SOCKS server failure";
        case 2:
            return "connection not allowed by ruleset";
        case 3:
            return "network unreachable";
        case 4:
            return "host unreachable";
        case 5:
            return "connection refused";
        case 6:
            return "TTL expired";
        case 7:
            return "command not supported";
        case 8:
            return "address type not supported";
        default:
            return "unknown reply code";
    }
}

std::string http_connect_request(std::string_view authority, std::string_view username,
                                 std::string_view password) {
    std::string request = "CONNECT " + std::string(authority) +
                          " HTTP/1.1\r\nHost: " + std::string(authority) + "\r\n";
    if (!username.empty()) {
        request += "Proxy-Authorization: Basic " +
                   base64_encode(std::string(username) + ":" + std::string(password)) + "\r\n";
    }
    request += "\r\n";
    return request;
}

int http_connect_status(std::string_view head) {
    // "HTTP/1.x NNN": the version, one space, then three digits.
    if (head.size() < 12 || !head.starts_with("HTTP/1.") || head[8] != ' ') {
        return 0;
    }
    int status = 0;
    const auto [end, error] = std::from_chars(head.data() + 9, head.data() + 12, status);
    if (error != std::errc() || end != head.data() + 12) {
        return 0;
    }
    return status;
}

std::string http_status_line(std::string_view head) {
    constexpr std::size_t max_line = 200;
    std::string line(head.substr(0, std::min(head.find("\r\n"), max_line)));
    for (char& c : line) {
        if (static_cast<unsigned char>(c) < 0x20 || c == '\x7f') {
            c = '?';
        }
    }
    return line;
}

std::string base64_encode(std::string_view data) {
    constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((data.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= data.size(); i += 3) {
        const std::uint32_t triple = (std::uint32_t(std::uint8_t(data[i])) << 16) |
                                     (std::uint32_t(std::uint8_t(data[i + 1])) << 8) |
                                     std::uint8_t(data[i + 2]);
        out += alphabet[(triple >> 18) & 63];
        out += alphabet[(triple >> 12) & 63];
        out += alphabet[(triple >> 6) & 63];
        out += alphabet[triple & 63];
    }
    const std::size_t rest = data.size() - i;
    if (rest > 0) {
        std::uint32_t triple = std::uint32_t(std::uint8_t(data[i])) << 16;
        if (rest == 2) {
            triple |= std::uint32_t(std::uint8_t(data[i + 1])) << 8;
        }
        out += alphabet[(triple >> 18) & 63];
        out += alphabet[(triple >> 12) & 63];
        out += rest == 2 ? alphabet[(triple >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

}  // namespace detail
}  // namespace tgsearch
