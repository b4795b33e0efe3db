#include "bench/load_api.hpp"

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <deque>
#include <unordered_map>

namespace tgsearch::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

/// Request bodies above this are rejected; a reply of 4096 characters with HTML is far less.
constexpr std::uint64_t max_request_body_bytes = 1 << 20;

/// Telegram's bounds on getUpdates: at most 100 updates and a 50 s long poll.
constexpr std::int64_t max_updates_per_call = 100;
constexpr std::int64_t max_poll_timeout_seconds = 50;

/// Telegram's limit on raw message text, before entity parsing.
constexpr std::size_t max_text_bytes = 32768;

/// Update ids of session n start at first_update_id + n * ids_per_session, so a late reply
/// from the previous bot process matches nothing in the next session. Chat and user ids of
/// messages follow the same rule from chat_id_base; inline queries come from typist users.
constexpr std::int64_t first_update_id = 1000;
constexpr std::int64_t ids_per_session = 100'000'000;
constexpr std::int64_t chat_id_base = 5'000'000'000;
constexpr std::int64_t typist_user_base = 9'000'000'000;

/// Reasons of bad replies kept for the report; later ones are only counted.
constexpr std::size_t max_bad_examples = 5;

/// Waits for a notification or a deadline; several coroutines may wait at once.
class async_event {
public:
    explicit async_event(asio::io_context& io) : io_(io) {}

    asio::awaitable<void> wait_until(clock_type::time_point deadline) {
        asio::steady_timer timer(io_, deadline);
        waiters_.push_back(&timer);
        co_await timer.async_wait(use_tuple);
        std::erase(waiters_, &timer);
    }

    void notify_all() {
        for (asio::steady_timer* timer : waiters_) {
            timer->cancel();
        }
    }

private:
    asio::io_context& io_;
    std::vector<asio::steady_timer*> waiters_;
};

/// A token bucket that starts full; take() returns 0 or the seconds until a token is there.
class token_bucket {
public:
    token_bucket(double rate, double burst, clock_type::time_point now)
        : rate_(rate), burst_(burst), tokens_(burst), last_(now) {}

    double take(clock_type::time_point now) {
        const double elapsed = std::chrono::duration<double>(now - last_).count();
        tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
        last_ = now;
        if (tokens_ >= 1.0) {
            tokens_ -= 1.0;
            return 0.0;
        }
        return (1.0 - tokens_) / rate_;
    }

private:
    double rate_;
    double burst_;
    double tokens_;
    clock_type::time_point last_;
};

std::string escape_json(std::string_view text) { return json::serialize(json::string(text)); }

std::string lower_case(std::string_view text) {
    std::string lowered(text);
    std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return lowered;
}

std::string percent_decode(std::string_view text) {
    std::string decoded;
    decoded.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '+') {
            decoded += ' ';
        } else if (text[i] == '%' && i + 2 < text.size()) {
            unsigned value = 0;
            const auto [end, error] =
                std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
            if (error == std::errc() && end == text.data() + i + 3) {
                decoded += static_cast<char>(value);
                i += 2;
            } else {
                decoded += '%';
            }
        } else {
            decoded += text[i];
        }
    }
    return decoded;
}

/// Adds the pairs of an application/x-www-form-urlencoded text (a body or a query string) to
/// `params`. A value that parses as JSON (a number, an array, an object) is stored as such,
/// because Telegram accepts objects like reply_parameters as JSON-encoded strings.
void add_form_fields(std::string_view form, json::object& params) {
    while (!form.empty()) {
        const std::size_t amp = form.find('&');
        const std::string_view pair = form.substr(0, amp);
        form = amp == std::string_view::npos ? std::string_view() : form.substr(amp + 1);
        const std::size_t equals = pair.find('=');
        const std::string key = percent_decode(pair.substr(0, equals));
        const std::string value = equals == std::string_view::npos
                                      ? std::string()
                                      : percent_decode(pair.substr(equals + 1));
        boost::system::error_code error;
        json::value parsed = json::parse(value, error);
        if (!error && !parsed.is_string()) {
            params[key] = std::move(parsed);
        } else {
            params[key] = value;
        }
    }
}

std::optional<std::int64_t> get_integer(const json::object& params, std::string_view key) {
    const json::value* value = params.if_contains(key);
    if (value == nullptr) {
        return std::nullopt;
    }
    if (value->is_int64()) {
        return value->as_int64();
    }
    if (value->is_uint64()) {
        return static_cast<std::int64_t>(value->as_uint64());
    }
    if (value->is_double()) {
        return static_cast<std::int64_t>(value->as_double());
    }
    if (value->is_string()) {
        std::int64_t number = 0;
        const json::string& text = value->as_string();
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
        if (error == std::errc() && end == text.data() + text.size()) {
            return number;
        }
    }
    return std::nullopt;
}

using http_request = http::request<http::string_body>;
using http_response = http::response<http::string_body>;

}  // namespace

struct load_api::impl {
    /// A planned update and what became of it.
    struct update_state {
        planned_update plan;
        bool answered = false;
    };

    impl(asio::io_context& io_context, std::string bot_token, std::vector<std::string> texts)
        : io(io_context),
          token(std::move(bot_token)),
          queries(std::move(texts)),
          release_timer(io_context),
          poll_event(io_context),
          ready_event(io_context),
          answer_event(io_context) {
        for (const std::string& query : queries) {
            escaped_queries.push_back(escape_json(query));
        }
    }

    asio::io_context& io;
    std::string token;
    std::vector<std::string> queries;
    std::vector<std::string> escaped_queries;

    // Session state, cleared by reset().
    std::int64_t session = 0;
    std::vector<update_state> updates;
    std::size_t released = 0;   ///< updates [0, released) are visible to getUpdates
    std::size_t confirmed = 0;  ///< updates [0, confirmed) were confirmed by an offset
    std::uint64_t measured = 0;
    std::uint64_t poll_generation = 0;
    bool ready = false;
    std::optional<std::vector<std::string>> allowed;
    reply_counters counters;
    latency_histogram histogram;
    std::unordered_map<std::string, std::size_t> inline_ids;  ///< inline_query id -> index
    flood_limits_config flood;
    std::optional<token_bucket> flood_overall;
    std::unordered_map<std::int64_t, token_bucket> flood_chats;
    std::unordered_map<std::int64_t, std::deque<clock_type::time_point>> flood_groups;

    asio::steady_timer release_timer;
    async_event poll_event;
    async_event ready_event;
    async_event answer_event;

    std::int64_t update_id_of(std::size_t index) const {
        return first_update_id + session * ids_per_session + static_cast<std::int64_t>(index);
    }

    std::int64_t chat_id_of(std::size_t index) const {
        return chat_id_base + session * ids_per_session + static_cast<std::int64_t>(index);
    }

    /// Index of the update with `chat_id`, if a message update of this session has it.
    std::optional<std::size_t> index_of_chat(std::int64_t chat_id) const {
        const std::int64_t index = chat_id - chat_id_base - session * ids_per_session;
        if (index < 0 || static_cast<std::size_t>(index) >= released ||
            updates[static_cast<std::size_t>(index)].plan.inline_query) {
            return std::nullopt;
        }
        return static_cast<std::size_t>(index);
    }

    void note_bad(std::string reason) {
        ++counters.bad;
        if (counters.bad_examples.size() < max_bad_examples) {
            counters.bad_examples.push_back(std::move(reason));
        }
    }

    // --- release of planned updates ------------------------------------------------------

    asio::awaitable<void> release_loop() {
        for (;;) {
            if (released == updates.size()) {
                release_timer.expires_at(clock_type::time_point::max());
                co_await release_timer.async_wait(use_tuple);
                continue;
            }
            const clock_type::time_point due = updates[released].plan.scheduled;
            if (clock_type::now() < due) {
                release_timer.expires_at(due);
                co_await release_timer.async_wait(use_tuple);
                continue;  // reset() or plan() may have changed the schedule meanwhile
            }
            const auto now = clock_type::now();
            while (released < updates.size() && updates[released].plan.scheduled <= now) {
                ++released;
            }
            poll_event.notify_all();
        }
    }

    // --- HTTP ----------------------------------------------------------------------------

    asio::awaitable<void> serve_connection(tcp::socket socket) {
        socket.set_option(tcp::no_delay(true));
        beast::tcp_stream stream(std::move(socket));
        beast::flat_buffer buffer;
        for (;;) {
            http::request_parser<http::string_body> parser;
            parser.body_limit(max_request_body_bytes);
            auto [read_error, read_bytes] =
                co_await http::async_read(stream, buffer, parser, use_tuple);
            if (read_error) {
                break;  // the bot closed the connection, or sent a request we cannot parse
            }
            http_request request = parser.release();
            http_response response = co_await handle(request);
            response.version(request.version());
            response.keep_alive(request.keep_alive());
            response.set(http::field::content_type, "application/json");
            response.set(http::field::server, "tgsearch-load-server");
            response.prepare_payload();
            auto [write_error, written] = co_await http::async_write(stream, response, use_tuple);
            if (write_error || !response.keep_alive()) {
                break;
            }
        }
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    }

    static http_response make_response(http::status status, std::string body) {
        http_response response;
        response.result(status);
        response.body() = std::move(body);
        return response;
    }

    static http_response ok(std::string_view result_json) {
        return make_response(http::status::ok,
                             fmt::format(R"({{"ok":true,"result":{}}})", result_json));
    }

    static http_response api_error(int code, std::string_view description,
                                   std::string_view parameters_json = {}) {
        std::string body = fmt::format(R"({{"ok":false,"error_code":{},"description":{})", code,
                                       escape_json(description));
        if (!parameters_json.empty()) {
            body += fmt::format(R"(,"parameters":{})", parameters_json);
        }
        body += '}';
        return make_response(static_cast<http::status>(code), std::move(body));
    }

    asio::awaitable<http_response> handle(const http_request& request) {
        const std::string_view target = request.target();
        const std::size_t query_start = target.find('?');
        const std::string_view path = target.substr(0, query_start);
        const std::string prefix = "/bot" + token + "/";
        if (!path.starts_with("/bot")) {
            co_return api_error(404, "Not Found");
        }
        if (!path.starts_with(prefix)) {
            co_return api_error(401, "Unauthorized");
        }
        const std::string method = lower_case(path.substr(prefix.size()));

        json::object params;
        if (query_start != std::string_view::npos) {
            add_form_fields(target.substr(query_start + 1), params);
        }
        const std::string_view content_type = request[http::field::content_type];
        const std::string& body = request.body();
        if (!body.empty()) {
            if (content_type.starts_with("application/json")) {
                boost::system::error_code error;
                json::value parsed = json::parse(body, error);
                if (error || !parsed.is_object()) {
                    note_bad(method + " with a body that is not a JSON object");
                    co_return api_error(400, "Bad Request: invalid JSON in the request body");
                }
                for (auto& [key, value] : parsed.as_object()) {
                    params[key] = std::move(value);
                }
            } else if (content_type.starts_with("application/x-www-form-urlencoded")) {
                add_form_fields(body, params);
            } else {
                note_bad(method + " with an unsupported content type");
                co_return api_error(400, "Bad Request: unsupported content type");
            }
        }

        if (method == "getupdates") {
            co_return co_await get_updates(params);
        }
        if (method == "sendmessage") {
            co_return send_message(params);
        }
        if (method == "answerinlinequery") {
            co_return answer_inline_query(params);
        }
        if (method == "getme") {
            co_return ok(R"({"id":424242,"is_bot":true,"first_name":"Load test bot",)"
                         R"("username":"tgsearch_load_bot","can_join_groups":true,)"
                         R"("can_read_all_group_messages":false,"supports_inline_queries":true})");
        }
        if (method == "setmycommands" || method == "deletewebhook" ||
            method == "answercallbackquery" || method == "editmessagetext" ||
            method == "deletemycommands" || method == "setmydescription") {
            co_return ok("true");
        }
        co_return api_error(404, "Not Found: method not found");
    }

    // --- getUpdates ----------------------------------------------------------------------

    bool delivers(const planned_update& plan) const {
        if (!allowed || allowed->empty()) {
            return true;
        }
        const std::string_view type = plan.inline_query ? "inline_query" : "message";
        return std::find(allowed->begin(), allowed->end(), type) != allowed->end();
    }

    std::string render_update(std::size_t index) const {
        const planned_update& plan = updates[index].plan;
        const std::int64_t update_id = update_id_of(index);
        if (plan.inline_query) {
            const std::string_view query = queries[plan.query];
            const std::string_view prefix = query.substr(0, plan.prefix_bytes);
            return fmt::format(
                R"({{"update_id":{},"inline_query":{{"id":"{}","from":{{"id":{},"is_bot":false,)"
                R"("first_name":"Typist","language_code":"en"}},"query":{},"offset":"",)"
                R"("chat_type":"private"}}}})",
                update_id, update_id, typist_user_base + plan.typist, escape_json(prefix));
        }
        const std::int64_t chat_id = chat_id_of(index);
        return fmt::format(
            R"({{"update_id":{},"message":{{"message_id":{},"from":{{"id":{},"is_bot":false,)"
            R"("first_name":"User","language_code":"en"}},"chat":{{"id":{},"first_name":"User",)"
            R"("type":"private"}},"date":{},"text":{}}}}})",
            update_id, index + 1, chat_id, chat_id, std::time(nullptr),
            escaped_queries[plan.query]);
    }

    void read_allowed_updates(const json::object& params) {
        const json::value* value = params.if_contains("allowed_updates");
        if (value == nullptr) {
            return;  // Telegram keeps the setting of an earlier call
        }
        std::vector<std::string> types;
        if (value->is_array()) {
            for (const json::value& type : value->as_array()) {
                if (type.is_string()) {
                    types.emplace_back(type.as_string());
                }
            }
        }
        allowed = std::move(types);
    }

    void confirm(std::int64_t offset) {
        if (offset > 0) {
            const std::int64_t index = offset - update_id_of(0);
            if (index > 0) {
                confirmed =
                    std::max(confirmed, std::min(static_cast<std::size_t>(index), released));
            }
        } else if (offset < 0) {
            // A negative offset keeps only the last -offset updates.
            const auto keep = static_cast<std::size_t>(-offset);
            if (released > keep) {
                confirmed = std::max(confirmed, released - keep);
            }
        }
    }

    asio::awaitable<http_response> get_updates(const json::object& params) {
        ++counters.get_updates_calls;
        read_allowed_updates(params);
        if (!ready) {
            ready = true;
            ready_event.notify_all();
        }
        const std::int64_t limit = std::clamp<std::int64_t>(
            get_integer(params, "limit").value_or(100), 1, max_updates_per_call);
        const std::int64_t timeout = std::clamp<std::int64_t>(
            get_integer(params, "timeout").value_or(0), 0, max_poll_timeout_seconds);
        confirm(get_integer(params, "offset").value_or(0));

        // Telegram lets one getUpdates call wait at a time and ends the older one with 409.
        const std::uint64_t generation = ++poll_generation;
        poll_event.notify_all();
        const std::int64_t my_session = session;
        const auto deadline = clock_type::now() + std::chrono::seconds(timeout);
        for (;;) {
            std::string result = "[";
            std::int64_t count = 0;
            for (std::size_t index = confirmed; index < released && count < limit; ++index) {
                if (!delivers(updates[index].plan)) {
                    continue;
                }
                if (count > 0) {
                    result += ',';
                }
                result += render_update(index);
                ++count;
            }
            result += ']';
            if (count > 0 || clock_type::now() >= deadline) {
                co_return ok(result);
            }
            co_await poll_event.wait_until(deadline);
            if (session != my_session) {
                co_return ok("[]");
            }
            if (poll_generation != generation) {
                ++counters.conflicts;
                co_return api_error(409,
                                    "Conflict: terminated by other getUpdates request; make sure "
                                    "that only one bot instance is running");
            }
        }
    }

    // --- replies -------------------------------------------------------------------------

    /// Returns the seconds to wait when the flood limits reject a message to `chat_id` now.
    double flood_wait(std::int64_t chat_id) {
        const auto now = clock_type::now();
        if (!flood_overall) {
            flood_overall.emplace(flood.messages_per_second, flood.burst, now);
        }
        // A rejected message still counts against the budgets, as one Telegram turned down
        // does.
        double wait = flood_overall->take(now);
        auto chat =
            flood_chats.try_emplace(chat_id, flood.chat_messages_per_second, flood.chat_burst, now);
        wait = std::max(wait, chat.first->second.take(now));
        if (chat_id < 0) {
            std::deque<clock_type::time_point>& sends = flood_groups[chat_id];
            while (!sends.empty() && sends.front() <= now - flood.group_window) {
                sends.pop_front();
            }
            if (sends.size() >= flood.group_messages) {
                wait = std::max(
                    wait, std::chrono::duration<double>(sends.front() + flood.group_window - now)
                              .count());
            } else {
                sends.push_back(now);
            }
        }
        return wait;
    }

    void record_answer(std::size_t index) {
        update_state& update = updates[index];
        if (update.answered) {
            ++counters.duplicate;
            return;
        }
        update.answered = true;
        if (!update.plan.measured) {
            return;
        }
        const auto now = clock_type::now();
        const auto latency = now - update.plan.scheduled;
        histogram.record(static_cast<std::uint64_t>(
            std::max<std::int64_t>(0, std::chrono::nanoseconds(latency).count())));
        ++counters.answered;
        counters.last_answer = now;
        if (counters.answered == measured) {
            answer_event.notify_all();
        }
    }

    http_response send_message(const json::object& params) {
        const std::optional<std::int64_t> chat_id = get_integer(params, "chat_id");
        if (!chat_id) {
            note_bad("sendMessage without a numeric chat_id");
            return api_error(400, "Bad Request: chat_id is empty");
        }
        if (flood.enabled) {
            const double wait = flood_wait(*chat_id);
            if (wait > 0.0) {
                ++counters.http_429;
                const auto retry_after =
                    std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(wait)));
                return api_error(429, fmt::format("Too Many Requests: retry after {}", retry_after),
                                 fmt::format(R"({{"retry_after":{}}})", retry_after));
            }
        }

        // The reply names its message in reply_parameters (Bot API 7.0) or in the older
        // reply_to_message_id. The chat id alone also identifies the update, because every
        // update comes from a chat of its own.
        std::optional<std::int64_t> message_id;
        if (const json::value* reply = params.if_contains("reply_parameters");
            reply != nullptr && reply->is_object()) {
            message_id = get_integer(reply->as_object(), "message_id");
        }
        if (!message_id) {
            message_id = get_integer(params, "reply_to_message_id");
        }
        const std::optional<std::size_t> index = index_of_chat(*chat_id);
        if (!index) {
            ++counters.unknown;
            return api_error(400, "Bad Request: chat not found");
        }
        if (message_id && *message_id != static_cast<std::int64_t>(*index) + 1) {
            note_bad(fmt::format("reply to message {} sent to the chat of message {}", *message_id,
                                 *index + 1));
            return api_error(400, "Bad Request: message to be replied not found");
        }
        const json::value* text = params.if_contains("text");
        if (text == nullptr || !text->is_string() || text->as_string().empty()) {
            note_bad("sendMessage without text");
            return api_error(400, "Bad Request: message text is empty");
        }
        if (text->as_string().size() > max_text_bytes) {
            note_bad("sendMessage text over 32768 bytes");
            return api_error(400, "Bad Request: message is too long");
        }
        record_answer(*index);
        return ok(fmt::format(
            R"({{"message_id":{},"from":{{"id":424242,"is_bot":true,"first_name":"Load test bot",)"
            R"("username":"tgsearch_load_bot"}},"chat":{{"id":{},"first_name":"User",)"
            R"("type":"private"}},"date":{},"text":{}}})",
            1'000'000'000 + *index, *chat_id, std::time(nullptr), escape_json(text->as_string())));
    }

    http_response answer_inline_query(const json::object& params) {
        const json::value* id = params.if_contains("inline_query_id");
        if (id == nullptr || !id->is_string()) {
            note_bad("answerInlineQuery without a string inline_query_id");
            return api_error(400,
                             "Bad Request: query is too old and response timeout expired "
                             "or query ID is invalid");
        }
        const auto found = inline_ids.find(std::string(id->as_string()));
        if (found == inline_ids.end()) {
            ++counters.unknown;
            return api_error(400,
                             "Bad Request: query is too old and response timeout expired "
                             "or query ID is invalid");
        }
        const json::value* results = params.if_contains("results");
        if (results == nullptr || !results->is_array()) {
            note_bad("answerInlineQuery without a results array");
            return api_error(400, "Bad Request: RESULTS_INVALID");
        }
        if (results->as_array().size() > 50) {
            note_bad("answerInlineQuery with more than 50 results");
            return api_error(400, "Bad Request: RESULTS_TOO_MUCH");
        }
        for (const json::value& result : results->as_array()) {
            const json::object* object = result.if_object();
            if (object == nullptr || !object->contains("type") || !object->contains("id")) {
                note_bad("answerInlineQuery with a result that lacks type or id");
                return api_error(400, "Bad Request: RESULT_ID_INVALID");
            }
        }
        record_answer(found->second);
        return ok("true");
    }
};

load_api::load_api(asio::io_context& io, std::string token, std::vector<std::string> queries)
    : impl_(std::make_unique<impl>(io, std::move(token), std::move(queries))) {
    asio::co_spawn(io, impl_->release_loop(), asio::detached);
}

load_api::~load_api() = default;

asio::awaitable<void> load_api::serve(tcp::acceptor acceptor) {
    for (;;) {
        auto [error, socket] = co_await acceptor.async_accept(use_tuple);
        if (error) {
            if (error == asio::error::operation_aborted) {
                co_return;
            }
            continue;  // such as too many open files; keep serving the open connections
        }
        asio::co_spawn(acceptor.get_executor(), impl_->serve_connection(std::move(socket)),
                       asio::detached);
    }
}

void load_api::reset(flood_limits_config flood) {
    impl& state = *impl_;
    ++state.session;
    state.updates.clear();
    state.released = 0;
    state.confirmed = 0;
    state.measured = 0;
    state.ready = false;
    state.allowed.reset();
    state.counters = reply_counters{};
    state.histogram.reset();
    state.inline_ids.clear();
    state.flood = flood;
    state.flood_overall.reset();
    state.flood_chats.clear();
    state.flood_groups.clear();
    state.release_timer.cancel();
    state.poll_event.notify_all();
}

void load_api::plan(const std::vector<planned_update>& updates) {
    impl& state = *impl_;
    for (const planned_update& update : updates) {
        const std::size_t index = state.updates.size();
        state.updates.push_back({update, false});
        if (update.measured) {
            ++state.measured;
        }
        if (update.inline_query) {
            state.inline_ids.emplace(std::to_string(state.update_id_of(index)), index);
        }
    }
    state.release_timer.cancel();
}

asio::awaitable<bool> load_api::wait_ready(clock_type::duration timeout) {
    const auto deadline = clock_type::now() + timeout;
    while (!impl_->ready && clock_type::now() < deadline) {
        co_await impl_->ready_event.wait_until(
            std::min(deadline, clock_type::now() + std::chrono::milliseconds(100)));
    }
    co_return impl_->ready;
}

asio::awaitable<bool> load_api::wait_answered(clock_type::time_point deadline) {
    while (impl_->counters.answered < impl_->measured && clock_type::now() < deadline) {
        co_await impl_->answer_event.wait_until(deadline);
    }
    co_return impl_->counters.answered == impl_->measured;
}

const std::optional<std::vector<std::string>>& load_api::allowed_updates() const {
    return impl_->allowed;
}

std::uint64_t load_api::measured_count() const { return impl_->measured; }

const reply_counters& load_api::counters() const { return impl_->counters; }

const latency_histogram& load_api::latencies() const { return impl_->histogram; }

}  // namespace tgsearch::bench
