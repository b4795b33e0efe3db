#include "bench/load_trivial_bot.hpp"

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>

#include <cstdio>
#include <deque>
#include <stdexcept>

namespace tgsearch::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

/// One keep-alive connection that performs calls one at a time and reconnects after errors.
class api_connection {
public:
    api_connection(asio::io_context& io, const tcp::endpoint& server, std::string path_prefix)
        : io_(io), server_(server), prefix_(std::move(path_prefix)), stream_(io) {}

    /// Returns the response body, or nothing after a network error.
    asio::awaitable<std::optional<std::string>> call(std::string_view method, std::string body) {
        if (!connected_) {
            auto [error] = co_await stream_.socket().async_connect(server_, use_tuple);
            if (error) {
                co_return std::nullopt;
            }
            stream_.socket().set_option(tcp::no_delay(true));
            connected_ = true;
        }
        http::request<http::string_body> request{http::verb::post, prefix_ + std::string(method),
                                                 11};
        request.set(http::field::host, "127.0.0.1");
        request.set(http::field::content_type, "application/json");
        request.body() = std::move(body);
        request.prepare_payload();
        auto [write_error, written] = co_await http::async_write(stream_, request, use_tuple);
        http::response<http::string_body> response;
        if (!write_error) {
            auto [read_error, read] =
                co_await http::async_read(stream_, buffer_, response, use_tuple);
            if (!read_error) {
                co_return std::move(response.body());
            }
        }
        beast::error_code ignored;
        // async_connect opens the closed socket again for the next call.
        stream_.socket().close(ignored);
        buffer_.clear();
        connected_ = false;
        co_return std::nullopt;
    }

private:
    asio::io_context& io_;
    tcp::endpoint server_;
    std::string prefix_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    bool connected_ = false;
};

struct reply_job {
    std::string method;
    std::string body;
};

class trivial_bot {
public:
    trivial_bot(asio::io_context& io, tcp::endpoint server, std::string prefix)
        : io_(io),
          server_(server),
          prefix_(std::move(prefix)),
          work_(io, std::chrono::steady_clock::time_point::max()) {}

    asio::awaitable<void> poll_loop() {
        api_connection connection(io_, server_, prefix_);
        std::int64_t offset = 0;
        while (!stopping_) {
            const std::string request =
                fmt::format(R"({{"offset":{},"timeout":30,"limit":100,)"
                            R"("allowed_updates":["message","inline_query"]}})",
                            offset);
            const std::optional<std::string> body = co_await connection.call("getUpdates", request);
            if (!body) {
                asio::steady_timer pause(io_, 100ms);
                co_await pause.async_wait(use_tuple);
                continue;
            }
            boost::system::error_code error;
            const json::value response = json::parse(*body, error);
            const json::value* updates = error || !response.is_object()
                                             ? nullptr
                                             : response.as_object().if_contains("result");
            if (updates == nullptr || !updates->is_array()) {
                continue;
            }
            for (const json::value& update : updates->as_array()) {
                queue_reply(update.as_object(), offset);
            }
            work_.cancel();
        }
    }

    asio::awaitable<void> send_loop() {
        api_connection connection(io_, server_, prefix_);
        while (!stopping_) {
            if (jobs_.empty()) {
                co_await work_.async_wait(use_tuple);
                continue;
            }
            reply_job job = std::move(jobs_.front());
            jobs_.pop_front();
            co_await connection.call(job.method, std::move(job.body));
        }
    }

    void stop() {
        stopping_ = true;
        io_.stop();
    }

private:
    void queue_reply(const json::object& update, std::int64_t& offset) {
        const std::int64_t update_id = update.at("update_id").to_number<std::int64_t>();
        offset = std::max(offset, update_id + 1);
        if (const json::value* message = update.if_contains("message")) {
            const json::object& fields = message->as_object();
            const auto chat_id = fields.at("chat").at("id").to_number<std::int64_t>();
            const auto message_id = fields.at("message_id").to_number<std::int64_t>();
            jobs_.push_back(
                {"sendMessage", fmt::format(R"({{"chat_id":{},"text":"ok",)"
                                            R"("reply_parameters":{{"message_id":{}}}}})",
                                            chat_id, message_id)});
        } else if (const json::value* query = update.if_contains("inline_query")) {
            jobs_.push_back(
                {"answerInlineQuery", fmt::format(R"({{"inline_query_id":{},"results":[]}})",
                                                  json::serialize(query->at("id")))});
        }
    }

    asio::io_context& io_;
    tcp::endpoint server_;
    std::string prefix_;
    /// Never expires; cancel() wakes every idle sender when jobs arrive. Setting its expiry
    /// would cancel the other senders' waits, so nothing does after construction.
    asio::steady_timer work_;
    std::deque<reply_job> jobs_;
    bool stopping_ = false;
};

}  // namespace

int run_trivial_bot(const std::string& api_url, const std::string& token, int senders) {
    constexpr std::string_view scheme = "http://";
    const std::size_t colon = api_url.rfind(':');
    if (!api_url.starts_with(scheme) || colon < scheme.size()) {
        throw std::runtime_error("invalid --api-url " + api_url + ": expected http://host:port");
    }
    const std::string host = api_url.substr(scheme.size(), colon - scheme.size());
    const auto port = static_cast<unsigned short>(std::stoi(api_url.substr(colon + 1)));

    asio::io_context io(1);
    const tcp::endpoint server(asio::ip::make_address(host), port);
    trivial_bot bot(io, server, "/bot" + token + "/");
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&bot](const boost::system::error_code&, int) { bot.stop(); });
    asio::co_spawn(io, bot.poll_loop(), asio::detached);
    for (int i = 0; i < senders; ++i) {
        asio::co_spawn(io, bot.send_loop(), asio::detached);
    }
    io.run();
    return 0;
}

}  // namespace tgsearch::bench
