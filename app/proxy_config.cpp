#include "app/proxy_config.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <stdexcept>
#include <vector>

namespace tgsearch {
namespace {

/// RFC 1929 sends each of the user name and the password with a one-byte length.
constexpr std::size_t max_socks5_credential_bytes = 255;

/// Replaces the password in the user info of `text` with "****", working on the raw text so
/// that it also masks a URL that does not parse.
std::string mask_password(std::string_view text) {
    const std::size_t scheme_end = text.find("://");
    const std::size_t authority_begin = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
    const std::size_t authority_end =
        std::min(text.find_first_of("/?#", authority_begin), text.size());
    const std::string_view authority =
        text.substr(authority_begin, authority_end - authority_begin);
    const std::size_t at = authority.rfind('@');
    if (at == std::string_view::npos) {
        return std::string(text);
    }
    const std::size_t colon = authority.substr(0, at).find(':');
    if (colon == std::string_view::npos) {
        return std::string(text);
    }
    std::string masked(text.substr(0, authority_begin + colon + 1));
    masked += "****";
    masked += text.substr(authority_begin + at);
    return masked;
}

std::invalid_argument invalid_proxy(std::string_view origin, std::string_view text,
                                    std::string_view reason) {
    return std::invalid_argument("invalid " + std::string(origin) + " \"" + mask_password(text) +
                                 "\": " + std::string(reason));
}

proxy_config parse_proxy(std::string_view text, std::string_view origin) {
    constexpr std::string_view expected =
        "expected socks5://[user:password@]host:port or http://[user:password@]host[:port]";
    const auto parsed = boost::urls::parse_uri(text);
    if (!parsed) {
        throw invalid_proxy(origin, text, expected);
    }
    const boost::urls::url_view url = *parsed;
    const std::string scheme = [&] {
        std::string lower(url.scheme());
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        return lower;
    }();

    proxy_config proxy;
    if (scheme == "socks5" || scheme == "socks5h") {
        proxy.type = proxy_config::protocol::socks5;
    } else if (scheme == "http") {
        proxy.type = proxy_config::protocol::http_connect;
    } else if (scheme == "https") {
        throw invalid_proxy(origin, text,
                            "TLS to the proxy itself is not supported; use http:// for an HTTP "
                            "proxy, which still tunnels TLS to the Bot API");
    } else {
        throw invalid_proxy(
            origin, text, "unsupported proxy scheme \"" + scheme + "\"; " + std::string(expected));
    }
    if (!url.has_authority() || url.encoded_host().empty()) {
        throw invalid_proxy(origin, text, "missing proxy host");
    }
    const std::string_view path = url.encoded_path();
    if ((!path.empty() && path != "/") || url.has_query() || url.has_fragment()) {
        throw invalid_proxy(origin, text, "a proxy URL has no path, query or fragment");
    }
    switch (url.host_type()) {
        case boost::urls::host_type::name:
        case boost::urls::host_type::ipv4:
        case boost::urls::host_type::ipv6:
            break;
        default:
            throw invalid_proxy(origin, text, "expected a host name, an IPv4 or an IPv6 address");
    }
    proxy.host = url.host_address();

    std::string_view port = url.port();
    if (port.empty()) {
        if (proxy.type == proxy_config::protocol::socks5) {
            throw invalid_proxy(origin, text, "missing proxy port, e.g. socks5://host:1080");
        }
        port = "80";
    }
    unsigned number = 0;
    const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (error != std::errc() || end != port.data() + port.size() || number == 0 || number > 65535) {
        throw invalid_proxy(origin, text, "the proxy port must be a number from 1 to 65535");
    }
    proxy.port = std::to_string(number);

    if (url.has_userinfo()) {
        proxy.username = url.user();
        proxy.password = url.password();
        if (proxy.username.empty()) {
            throw invalid_proxy(origin, text, "empty proxy user name before \"@\"");
        }
        if (proxy.username.size() > max_socks5_credential_bytes ||
            proxy.password.size() > max_socks5_credential_bytes) {
            throw invalid_proxy(origin, text,
                                "the proxy user name and password may have at most 255 bytes "
                                "each");
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

std::string lower_case(std::string_view text) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return lower;
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

proxy_choice choose_proxy(std::string_view flag, bool api_tls, std::string_view api_host,
                          const std::function<const char*(const char*)>& get_env) {
    const auto read_env = [&get_env](const char* name) -> const char* {
        return get_env ? get_env(name) : std::getenv(name);
    };
    proxy_choice choice;
    if (!flag.empty()) {
        choice.proxy = parse_proxy(flag, "--proxy");
        choice.source = "--proxy";
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
                return choice;
            }
            break;  // the lower-case variable wins when both are set, as in curl
        }
        choice.proxy = std::move(proxy);
        choice.source = name;
        return choice;
    }
    return choice;
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
