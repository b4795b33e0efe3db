#include "app/proxy_config.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <optional>
#include <stdexcept>
#include <string>

namespace {

using tgsearch::choose_proxy;
using tgsearch::parse_proxy_url;
using tgsearch::proxy_config;
namespace detail = tgsearch::detail;

/// An environment for choose_proxy made of the given variables only.
struct fake_environment {
    std::map<std::string, std::string> variables;

    const char* operator()(const char* name) const {
        const auto found = variables.find(name);
        return found == variables.end() ? nullptr : found->second.c_str();
    }
};

std::string error_of(const std::string& url) {
    try {
        parse_proxy_url(url);
    } catch (const std::invalid_argument& error) {
        return error.what();
    }
    return "no error";
}

}  // namespace

TEST_CASE("socks5 proxy URL with credentials is parsed", "[proxy]") {
    const proxy_config proxy = parse_proxy_url("socks5://alice:s%40cret@proxy.example:1080");
    CHECK(proxy.type == proxy_config::protocol::socks5);
    CHECK(proxy.host == "proxy.example");
    CHECK(proxy.port == "1080");
    CHECK(proxy.username == "alice");
    CHECK(proxy.password == "s@cret");
    CHECK(proxy.display == "socks5://alice:****@proxy.example:1080");
}

TEST_CASE("http proxy URL defaults to port 80", "[proxy]") {
    const proxy_config proxy = parse_proxy_url("http://[::1]");
    CHECK(proxy.type == proxy_config::protocol::http_connect);
    CHECK(proxy.host == "::1");
    CHECK(proxy.port == "80");
    CHECK(proxy.username.empty());
    CHECK(proxy.display == "http://[::1]:80");
}

TEST_CASE("socks5h is accepted as socks5", "[proxy]") {
    CHECK(parse_proxy_url("SOCKS5H://127.0.0.1:9050/").type == proxy_config::protocol::socks5);
}

TEST_CASE("unsupported proxy schemes are rejected by name", "[proxy]") {
    const std::string mtproto = error_of("mtproto://proxy.example:443?secret=abc");
    CHECK(mtproto.find("mtproto://proxy.example:443?secret=abc") != std::string::npos);
    CHECK(mtproto.find("unsupported proxy scheme \"mtproto\"") != std::string::npos);
    CHECK(error_of("socks4://host:1080").find("\"socks4\"") != std::string::npos);
    CHECK(error_of("https://host:3128").find("TLS to the proxy") != std::string::npos);
    CHECK(error_of("host:1080").find("unsupported proxy scheme") != std::string::npos);
    CHECK(error_of("127.0.0.1:1080").find("expected socks5://") != std::string::npos);
}

TEST_CASE("invalid proxy URLs are rejected", "[proxy]") {
    CHECK(error_of("socks5://host").find("missing proxy port") != std::string::npos);
    CHECK(error_of("socks5://host:0").find("from 1 to 65535") != std::string::npos);
    CHECK(error_of("socks5://host:70000").find("from 1 to 65535") != std::string::npos);
    CHECK(error_of("socks5://:1080").find("missing proxy host") != std::string::npos);
    CHECK(error_of("http://host:3128/path").find("unexpected path \"/path\"") != std::string::npos);
    CHECK(error_of("http://host:3128?a=1").find("unexpected query \"?a=1\"") != std::string::npos);
    CHECK(error_of("http://host:3128#top").find("unexpected fragment \"#top\"") !=
          std::string::npos);
    CHECK(error_of("socks5://:pw@host:1080").find("empty proxy user") != std::string::npos);
    const std::string long_user(256, 'u');
    CHECK(error_of("socks5://" + long_user + ":pw@host:1080").find("255 bytes") !=
          std::string::npos);
}

TEST_CASE("proxy errors name the actual problem", "[proxy]") {
    const std::map<std::string, std::string> cases = {
        {"socks5://user:p@ss:w0rd@127.0.0.1:1", "percent-encode @ in the password as %40"},
        {"socks5://us@er:pw@127.0.0.1:1", "percent-encode @ in the user name as %40"},
        {"socks5://user:p/ss@127.0.0.1:1", "percent-encode / in the password as %2F"},
        {"socks5://user:p#ss@127.0.0.1:1", "percent-encode # in the password as %23"},
        {"socks5://user:p ss@127.0.0.1:1", "percent-encode the space in the password as %20"},
        {"socks5://user:100%@127.0.0.1:1", "invalid percent-encoding in the password"},
        {"http://user:pw@127.0.0.1:abc", "invalid port 'abc': expected a number from 1 to 65535"},
        {"socks5://127.0.0.1:", "missing proxy port"},
        {"socks5://host:99999", "invalid port '99999'"},
        {"socks5://::1:1080", "an IPv6 address must be in brackets"},
        {"socks5://[::1:1080", "missing \"]\" after the IPv6 address"},
        {"socks5://[::1]x", "expected \":port\" after the IPv6 address"},
        {"socks5://ho st:1080",
         "invalid proxy host \"ho st\": a host name cannot contain the space"},
    };
    for (const auto& [url, expected] : cases) {
        const std::string message = error_of(url);
        INFO(url << " -> " << message);
        CHECK(message.find(expected) != std::string::npos);
        CHECK(message.find("no path, query or fragment") == std::string::npos);
    }
}

TEST_CASE("proxy URL with an encoded @ in the password is parsed", "[proxy]") {
    const proxy_config proxy = parse_proxy_url("socks5://user:p%40ss%3Aw0rd@127.0.0.1:1");
    CHECK(proxy.password == "p@ss:w0rd");
    CHECK(proxy.display == "socks5://user:****@127.0.0.1:1");
    CHECK(parse_proxy_url("socks5://user:a:b@127.0.0.1:1").password == "a:b");
}

TEST_CASE("proxy errors never show the password", "[proxy]") {
    for (const std::string url :
         {"socks5://user:hunter2@host", "ftp://user:hunter2@host:21", "socks5://user:hunter2@:1",
          "http://user:hunter2@host:1/x", "mtproto://user:hunter2@host:1",
          "socks5://user:hun@ter2@host:1", "socks5://user:hun/ter2@host:1",
          "socks5://user:hun?ter2@host:1", "http://user:hunter2@host:abc",
          "socks5://user:hun ter2@host:1", "socks5://user:hunter2%@host:1"}) {
        const std::string message = error_of(url);
        INFO(message);
        CHECK(message != "no error");
        CHECK(message.find("hunter2") == std::string::npos);
        CHECK(message.find("user:****@") != std::string::npos);
    }
}

TEST_CASE("proxy flag wins over the environment", "[proxy]") {
    const fake_environment env{{{"https_proxy", "http://env-proxy:3128"}, {"NO_PROXY", "*"}}};
    const auto choice =
        choose_proxy(std::string_view("socks5://flag-proxy:1080"), true, "api.telegram.org", env);
    REQUIRE(choice.proxy);
    CHECK(choice.proxy->host == "flag-proxy");
    CHECK(choice.source == "--proxy");
}

TEST_CASE("environment proxy follows curl's precedence", "[proxy]") {
    const fake_environment env{{{"https_proxy", "http://lower:1"},
                                {"HTTPS_PROXY", "http://upper:2"},
                                {"http_proxy", "http://plain:3"},
                                {"HTTP_PROXY", "http://cgi:4"},
                                {"ALL_PROXY", "socks5://all:5"}}};
    CHECK(choose_proxy(std::nullopt, true, "api.telegram.org", env).proxy->host == "lower");
    CHECK(choose_proxy(std::nullopt, false, "localhost", env).proxy->host == "plain");

    const fake_environment upper_only{{{"HTTPS_PROXY", "http://upper:2"}}};
    CHECK(choose_proxy(std::nullopt, true, "api.telegram.org", upper_only).source == "HTTPS_PROXY");

    // HTTP_PROXY can come from a CGI request's Proxy header, so it is never read.
    const fake_environment cgi{{{"HTTP_PROXY", "http://cgi:4"}, {"ALL_PROXY", "socks5://all:5"}}};
    const auto plain = choose_proxy(std::nullopt, false, "localhost", cgi);
    REQUIRE(plain.proxy);
    CHECK(plain.proxy->host == "all");
    CHECK(plain.source == "ALL_PROXY");

    CHECK_FALSE(choose_proxy(std::nullopt, true, "api.telegram.org", fake_environment{}).proxy);
}

TEST_CASE("NO_PROXY excludes matching hosts", "[proxy]") {
    const auto choose = [](const std::string& no_proxy, const std::string& host) {
        const fake_environment env{
            {{"https_proxy", "socks5://proxy:1080"}, {"NO_PROXY", no_proxy}}};
        return choose_proxy(std::nullopt, true, host, env);
    };
    CHECK_FALSE(choose("*", "api.telegram.org").proxy);
    CHECK_FALSE(choose("localhost, .telegram.org", "api.telegram.org").proxy);
    CHECK_FALSE(choose("telegram.org", "API.Telegram.org").proxy);
    CHECK_FALSE(choose("example.com,api.telegram.org:443", "api.telegram.org").proxy);
    CHECK_FALSE(choose("127.0.0.1", "127.0.0.1").proxy);
    CHECK_FALSE(choose("[::1]", "::1").proxy);
    CHECK(choose("legram.org", "api.telegram.org").proxy);
    CHECK(choose("127.0.0", "127.0.0.1").proxy);
    CHECK(choose("", "api.telegram.org").proxy);

    const auto excluded = choose("localhost,.telegram.org", "api.telegram.org");
    CHECK(excluded.excluded_by == "NO_PROXY entry \".telegram.org\"");
    CHECK(excluded.source == "https_proxy");
}

TEST_CASE("empty proxy flag turns the environment off", "[proxy]") {
    const fake_environment env{
        {{"https_proxy", "http://env-proxy:3128"}, {"ALL_PROXY", "socks5://all:5"}}};
    const auto choice = choose_proxy(std::string_view(), true, "api.telegram.org", env);
    CHECK_FALSE(choice.proxy);
    CHECK(choice.source == "--proxy");
    CHECK(choice.summary.find("directly: --proxy \"\" turns proxies off") != std::string::npos);

    // A caller that cannot tell an empty --proxy from an absent one keeps the environment.
    const auto legacy = choose_proxy(std::string(), true, "api.telegram.org", env);
    REQUIRE(legacy.proxy);
    CHECK(legacy.proxy->host == "env-proxy");
}

TEST_CASE("proxy choice summary says which proxy and why", "[proxy]") {
    const fake_environment env{
        {{"ALL_PROXY", "socks5://user:hunter2@all:1080"}, {"NO_PROXY", "localhost"}}};
    const auto from_env = choose_proxy(std::nullopt, true, "api.telegram.org", env);
    CHECK(from_env.summary ==
          "connecting to the Bot API through proxy socks5://user:****@all:1080 (from ALL_PROXY)");

    const auto excluded = choose_proxy(std::nullopt, true, "localhost", env);
    CHECK(excluded.summary ==
          "connecting to the Bot API directly: NO_PROXY entry \"localhost\" excludes localhost "
          "from proxy socks5://user:****@all:1080 (from ALL_PROXY)");

    const auto flag = choose_proxy(std::string_view("http://user:hunter2@proxy:3128"), true,
                                   "api.telegram.org", env);
    CHECK(flag.summary ==
          "connecting to the Bot API through proxy http://user:****@proxy:3128 (from --proxy)");

    const fake_environment https_only{{{"HTTPS_PROXY", "http://p:3128"}}};
    const auto plain_api = choose_proxy(std::nullopt, false, "localhost", https_only);
    CHECK_FALSE(plain_api.proxy);
    CHECK(plain_api.summary ==
          "connecting to the Bot API directly: HTTPS_PROXY applies to https:// API URLs only");

    const auto nothing = choose_proxy(std::nullopt, true, "api.telegram.org", fake_environment{});
    CHECK(nothing.summary ==
          "connecting to the Bot API directly: no --proxy and no proxy environment variable");
    for (const auto& choice : {from_env, excluded, flag}) {
        CHECK(choice.summary.find("hunter2") == std::string::npos);
    }
}

TEST_CASE("invalid environment proxy names its variable", "[proxy]") {
    const fake_environment env{{{"ALL_PROXY", "mtproto://user:pw@host:443"}}};
    try {
        choose_proxy(std::nullopt, true, "api.telegram.org", env);
        FAIL("no exception");
    } catch (const std::invalid_argument& error) {
        const std::string message = error.what();
        CHECK(message.find("ALL_PROXY") != std::string::npos);
        CHECK(message.find("mtproto://user:****@host:443") != std::string::npos);
    }
}

TEST_CASE("socks5 messages follow RFC 1928 and 1929", "[proxy]") {
    CHECK(detail::socks5_greeting(false) == std::string("\x05\x01\x00", 3));
    CHECK(detail::socks5_greeting(true) == std::string("\x05\x02\x00\x02", 4));
    CHECK(detail::socks5_password_request("al", "pw") == std::string("\x01\x02"
                                                                     "al"
                                                                     "\x02"
                                                                     "pw"));
    CHECK(detail::socks5_connect_request("api.telegram.org", 443) ==
          std::string("\x05\x01\x00\x03\x10"
                      "api.telegram.org"
                      "\x01\xbb",
                      23));
    CHECK(detail::socks5_connect_request("127.0.0.1", 8080) ==
          std::string("\x05\x01\x00\x01\x7f\x00\x00\x01\x1f\x90", 10));
    const std::string ipv6 = detail::socks5_connect_request("::1", 80);
    REQUIRE(ipv6.size() == 4 + 16 + 2);
    CHECK(ipv6[3] == '\x04');
    CHECK(ipv6[19] == '\x01');
    CHECK(detail::socks5_reply_address_size(1, 0) == 6);
    CHECK(detail::socks5_reply_address_size(3, 10) == 13);
    CHECK(detail::socks5_reply_address_size(4, 0) == 18);
    CHECK(detail::socks5_reply_address_size(9, 0) == 0);
    CHECK(detail::socks5_reply_text(4) == "host unreachable");
    CHECK(detail::socks5_reply_text(200) == "unknown reply code");
}

TEST_CASE("HTTP CONNECT request carries Basic credentials", "[proxy]") {
    CHECK(detail::http_connect_request("api.telegram.org:443", "", "") ==
          "CONNECT api.telegram.org:443 HTTP/1.1\r\nHost: api.telegram.org:443\r\n\r\n");
    CHECK(detail::http_connect_request("[::1]:80", "Aladdin", "open sesame") ==
          "CONNECT [::1]:80 HTTP/1.1\r\nHost: [::1]:80\r\n"
          "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n");
    CHECK(detail::http_connect_status("HTTP/1.1 200 Connection established\r\n\r\n") == 200);
    CHECK(detail::http_connect_status("HTTP/1.0 407 Proxy Authentication Required\r\n") == 407);
    CHECK(detail::http_connect_status("SSH-2.0-OpenSSH\r\n") == 0);
    CHECK(detail::http_connect_status("HTTP/1.1 2x0 OK\r\n") == 0);
    CHECK(detail::http_status_line("HTTP/1.1 403 Forbidden\r\nX: y\r\n\r\n") ==
          "HTTP/1.1 403 Forbidden");
}

TEST_CASE("base64 pads to whole quads", "[proxy]") {
    CHECK(detail::base64_encode("") == "");
    CHECK(detail::base64_encode("f") == "Zg==");
    CHECK(detail::base64_encode("fo") == "Zm8=");
    CHECK(detail::base64_encode("foo") == "Zm9v");
    CHECK(detail::base64_encode("foob") == "Zm9vYg==");
    CHECK(detail::base64_encode(std::string("\xff\xfe", 2)) == "//4=");
}
