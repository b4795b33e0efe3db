#pragma once

// Proxy settings for the Bot API connection (--proxy and the usual environment variables) and
// the bytes of the SOCKS5 and HTTP CONNECT handshakes. Neither Asio nor Beast is needed here;
// bot_api_client.cpp does the I/O.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace tgsearch {

/// A proxy that every Bot API connection goes through.
struct proxy_config {
    enum class protocol {
        socks5,  ///< RFC 1928, with RFC 1929 user/password authentication when given
        /// An HTTP proxy that opens a tunnel with CONNECT, for http:// API URLs too.
        /// NOTE: proxies that allow CONNECT only to port 443 (Squid's default) reject a local
        /// Bot API server on another port.
        http_connect,
    };

    protocol type = protocol::socks5;
    std::string host;  ///< name or address of the proxy, IPv6 without brackets
    std::string port;
    std::string username;  ///< empty when the proxy needs no authentication
    std::string password;
    /// The URL as given with the password replaced by "****", for logs and errors.
    std::string display;
};

/// Parses a proxy URL: `socks5://[user:pass@]host:port`, `socks5h://...` (the same: host names
/// are always resolved by the proxy) or `http://[user:pass@]host[:port]` (port 80 by default).
/// User and password may be percent-encoded. Throws std::invalid_argument that names the value,
/// with the password masked, and the problem. Problems are another scheme (mtproto://
/// included), a character to percent-encode in the user name or password (such as "@" as
/// %40), a missing host, a missing or invalid port, an IPv6 address without brackets, a path,
/// query or fragment, and a user or password longer than SOCKS5 allows.
proxy_config parse_proxy_url(std::string_view text);

/// The proxy chosen for the Bot API and its source, for the start-up log.
struct proxy_choice {
    std::optional<proxy_config> proxy;
    /// "--proxy", or the name of the environment variable the proxy comes from. Empty when
    /// neither gives a proxy.
    std::string source;
    /// Set when NO_PROXY/no_proxy excluded the API host from a proxy given by the environment.
    std::string excluded_by;
    /// One sentence for the start-up log: the proxy (password masked) or "directly", and why.
    std::string summary;
};

/// Chooses the proxy for `api_url` (an http or https URL whose host is `api_host`).
/// `flag` is the value of --proxy, or std::nullopt when the option is absent. A proxy URL in
/// `flag` wins, and NO_PROXY never applies to it. An empty `flag` means no proxy at all, with
/// the environment ignored, as in curl. Otherwise the environment is read as curl does:
/// https_proxy, HTTPS_PROXY for an https URL and http_proxy for an http one (not HTTP_PROXY,
/// which a CGI request can set), then all_proxy and ALL_PROXY. A proxy from the environment is
/// skipped when no_proxy or NO_PROXY lists the API host. There "*" matches every host, and an
/// entry matches the host itself and its subdomains, with or without a leading dot. IP
/// addresses match exactly (no CIDR ranges). `get_env` returns a variable's value or nullptr;
/// it defaults to std::getenv. Throws std::invalid_argument as parse_proxy_url does, naming
/// the variable.
proxy_choice choose_proxy(std::optional<std::string_view> flag, bool api_tls,
                          std::string_view api_host,
                          const std::function<const char*(const char*)>& get_env = {});

/// Same as above for a caller that cannot tell an absent --proxy from an empty one: an empty
/// `flag` counts as absent, so `--proxy ""` does not turn the environment's proxy off.
proxy_choice choose_proxy(const std::string& flag, bool api_tls, std::string_view api_host,
                          const std::function<const char*(const char*)>& get_env = {});

namespace detail {

/// Replaces the password in the user info of the URL `text` with "****". Works on the raw
/// text, so it also masks a URL that does not parse. The user info is taken to end at the
/// last "@", so a password with an unencoded "@", "/", "?" or "#" is masked whole (and a
/// later "@" in a path masks more than the password).
std::string mask_url_password(std::string_view text);

/// SOCKS5 method-selection message: "no authentication", plus "username/password" when
/// `with_password`.
std::string socks5_greeting(bool with_password);

/// RFC 1929 username/password request. Both fit in 255 bytes (parse_proxy_url checks).
std::string socks5_password_request(std::string_view username, std::string_view password);

/// CONNECT request for `host`:`port`. A host name is sent as ATYP 3 (domain name), so that
/// the proxy resolves it; IPv4 and IPv6 literals as ATYP 1 and 4.
std::string socks5_connect_request(std::string_view host, std::uint16_t port);

/// Returns the length of the bound address and port that follow a 4-byte CONNECT reply
/// header with address type `atyp`, where `domain_length` is the byte after the header
/// (used for ATYP 3 only); 0 for an unknown address type.
std::size_t socks5_reply_address_size(std::uint8_t atyp, std::uint8_t domain_length);

/// Describes a SOCKS5 reply code (RFC 1928, section 6), e.g. "host unreachable".
std::string_view socks5_reply_text(std::uint8_t code);

/// HTTP CONNECT request for `authority` (host:port, IPv6 in brackets), with a
/// Proxy-Authorization Basic header when `username` is not empty.
std::string http_connect_request(std::string_view authority, std::string_view username,
                                 std::string_view password);

/// Status code of an HTTP response head such as "HTTP/1.1 200 Connection established\r\n...",
/// or 0 when the head is not an HTTP/1.x status line.
int http_connect_status(std::string_view head);

/// Returns the first line of an HTTP response head, cut at 200 bytes, with control
/// characters replaced, for error messages.
std::string http_status_line(std::string_view head);

/// Standard base64 (RFC 4648, with padding).
std::string base64_encode(std::string_view data);

}  // namespace detail
}  // namespace tgsearch
