#include "app/telegram_bot.hpp"

#include "app/logging.hpp"
#include "app/metrics.hpp"
#include "app/search_service.hpp"
#include "app/update_parser.hpp"
#include "app/update_store.hpp"
#include "app/webhook_server.hpp"
#include "core/bot_messages.hpp"
#include "core/html.hpp"
#include "core/offset_tracker.hpp"
#include "core/reply_split.hpp"

#include <fmt/format.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <deque>
#include <exception>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace tgsearch {
namespace {

namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

/// Telegram returns at most this many updates per getUpdates call.
constexpr int max_updates_per_poll = 100;

/// The client gives a long poll this much longer than the server-side timeout before it counts
/// the connection as dead.
constexpr auto poll_read_margin = 10s;

/// When a poll brings no new update (only ones still in flight, which Telegram sends again
/// until they are confirmed), the next poll waits for the offset to move or for a pause. The
/// pause starts at first_repoll_pause, doubles after each such poll up to max_repoll_pause,
/// and starts over when a poll brings a new update. While replies wait for flood pacing, a
/// message sent meanwhile is therefore fetched at most max_repoll_pause plus one getUpdates
/// round trip after it reaches Telegram. When nothing is in flight, getUpdates long-polls and
/// returns a new message at once, so the pause adds no latency there.
constexpr auto first_repoll_pause = 100ms;
constexpr auto max_repoll_pause = 1s;

/// ... and, when the offset has moved but updates are still in flight, at least this long per
/// update in flight after the previous poll started (at most max_refetch_spacing), because
/// each poll fetches those updates again. A fast-moving offset under flood pacing then
/// re-fetches no more than about 2,000 updates a second, while a bot whose replies leave at
/// once polls again as soon as its last reply is confirmed.
constexpr auto refetch_spacing_per_update = 500us;
constexpr auto max_refetch_spacing = 50ms;

/// Retry delays after network errors and 5xx responses: doubling from the first to the cap, each
/// scaled by a random factor in [0.5, 1] so that restarts do not synchronize.
constexpr auto first_retry_delay = 500ms;
constexpr auto max_retry_delay = 30s;

/// A 409 Conflict means another poller or a webhook uses the token; waiting less than this
/// would only fight it.
constexpr auto conflict_delay = 3s;

/// Upper bound on a 429 retry_after that is honoured as given. A longer one is cut to this,
/// and the chat gets a 429 again if Telegram still limits it.
constexpr auto max_retry_after = 300s;

/// A reply that fails this many times with a network error or a 5xx is dropped, so that one
/// undeliverable reply cannot hold back its chat and the offset forever. With the retry delays
/// above that is about a minute and a half of trying.
constexpr int max_send_attempts = 8;

/// This many malformed and unexpected updates are logged one by one; after that they are
/// only counted, and the counts are logged at shutdown.
constexpr std::size_t max_logged_skipped_updates = 20;

/// getUpdates answered 401 Unauthorized this many times in a row means the token was revoked
/// or replaced. One or two 401s are retried, because a misbehaving proxy can return them too.
constexpr int max_unauthorized_polls = 3;

/// The same warning about the updates of a getUpdates response (such as invalid UTF-8 in one
/// of them) is logged at most once per this interval, because Telegram sends an unconfirmed
/// update again with every poll.
constexpr auto repeated_warning_interval = 10s;

/// Bound on the getUpdates call that confirms the offset at shutdown. Telegram responds at
/// once, so a longer wait only delays the exit when the server is unreachable.
constexpr auto confirm_timeout = 5s;

/// At the shutdown deadline, sends already under way get this long to finish before they are
/// cancelled.
constexpr auto send_grace = 2s;

/// Bound on one sendMessage call, connect included.
constexpr auto send_timeout = 30s;

/// With Redis, the answered ids and offsets that could not be written wait in memory, and
/// are written again this often until Redis takes them.
constexpr auto store_flush_interval = 1s;

/// Spilled tasks are taken back from Redis when at least this share of the ring is free, so
/// that each LRANGE brings a useful batch.
constexpr std::size_t unspill_ring_fraction = 4;

/// Pause of the spill drain and of polling while spilling to Redis fails.
constexpr auto spill_retry_pause = 200ms;

/// The update types the bot asks getUpdates and the webhook for.
constexpr std::string_view allowed_updates_json = R"(["message","callback_query","inline_query"])";
const std::vector<std::string> allowed_updates = {"message", "callback_query", "inline_query"};

/// Concurrent HTTPS connections Telegram may open to the webhook (setWebhook's
/// max_connections, 1 to 100). Each request only queues an update, so 40 is plenty.
constexpr int webhook_max_connections = 40;

/// Bound on one setWebhook, deleteWebhook or getWebhookInfo call.
constexpr auto webhook_call_timeout = 30s;

/// Telegram rejects a late answer to an inline query with 400 "query is too old". The bot stops
/// trying this long after the answer is ready, which leaves room for the search and one round
/// trip.
/// NOTE: the Bot API documentation states no window; 10 s is the value bot authors report.
constexpr auto inline_answer_window = 8s;

/// Bound on one answerInlineQuery or answerCallbackQuery call.
constexpr auto answer_timeout = 10s;

/// Pause before an answer is sent again after a network error or a 5xx.
constexpr auto answer_retry_delay = 250ms;

/// Connections that send inline answers, beside the ones that send chat messages, so that a
/// slow answer holds up neither chat replies nor the other answers.
constexpr std::size_t answer_connections = 2;

/// Attempts of setMyCommands at start-up; the bot runs without its command menu when all fail.
constexpr int max_command_attempts = 3;

/// Inline answers may be cached by Telegram for this long, for every user, because results do
/// not depend on who asks (is_personal false).
constexpr int inline_cache_seconds = 300;

/// /healthz reports the bot unhealthy when the last successful getUpdates is older than the
/// poll timeout plus this margin: the client's read margin, and time for a retry.
constexpr auto health_margin = poll_read_margin + 5s;

/// /healthz reports the bot unhealthy after this many failed getUpdates calls in a row. One
/// failure (a reset connection, a 502 from a proxy) is retried within a second and is no reason
/// for a monitor to raise an alarm.
constexpr int unhealthy_failed_polls = 3;

/// Shown to the user who pressed a button when the message could not be edited.
constexpr std::string_view edit_failed_text =
    "This message can no longer be changed; please send the search again.";

/// Waits for a notification or a timeout. Several coroutines may wait at once; notify_all
/// wakes them all. Used only on the I/O thread, so no locking is needed.
class async_event {
public:
    explicit async_event(asio::any_io_executor executor) : executor_(std::move(executor)) {}

    asio::awaitable<void> wait_for(clock_type::duration timeout) {
        asio::steady_timer timer(executor_, timeout);
        waiters_.push_back(&timer);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        std::erase(waiters_, &timer);
    }

    void notify_all() {
        for (asio::steady_timer* timer : waiters_) {
            timer->cancel();
        }
    }

private:
    asio::any_io_executor executor_;
    std::vector<asio::steady_timer*> waiters_;
};

/// Formats `count` with the singular or plural form of a noun: "1 update", "2 updates".
std::string count_of(std::size_t count, std::string_view singular, std::string_view plural) {
    return fmt::format("{} {}", count, count == 1 ? singular : plural);
}

/// Lets a warning with a given key through at most once per interval, and counts the repeats
/// it holds back so that the next warning let through can report them.
class repeat_limiter {
public:
    explicit repeat_limiter(clock_type::duration interval) : interval_(interval) {}

    /// Returns the number of repeats held back since the key was last let through, or
    /// nothing when this one is to be held back too.
    std::optional<std::size_t> admit(const std::string& key, clock_type::time_point now) {
        auto [entry, added] = entries_.try_emplace(key);
        if (!added && now - entry->second.last_logged < interval_) {
            ++entry->second.held_back;
            return std::nullopt;
        }
        const std::size_t held_back = entry->second.held_back;
        entry->second = {now, 0};
        return held_back;
    }

private:
    struct entry {
        clock_type::time_point last_logged{};
        std::size_t held_back = 0;
    };
    clock_type::duration interval_;
    std::map<std::string, entry> entries_;
};

/// A reply and the state of its delivery attempts.
struct pending_reply {
    outgoing_reply reply;
    bool as_plain_text = false;  ///< Telegram could not parse its HTML
    bool migrated = false;       ///< already moved once to a supergroup
    int failed_attempts = 0;     ///< network errors and 5xx so far
    clock_type::duration retry_delay{};
    std::size_t next_part = 0;  ///< index in reply.parts of the next message to send
};

/// An answer to an inline query or a button press that does not wait for a chat's turn.
struct pending_answer {
    outgoing_reply reply;
    clock_type::time_point deadline;  ///< give up after this
};

/// Replies of one chat, kept in the order its messages arrived so that they are sent in
/// that order, one at a time.
struct chat_queue {
    std::deque<std::int64_t> update_ids;          ///< in arrival order
    std::map<std::int64_t, pending_reply> ready;  ///< finished by a worker, not yet sent
    bool sending = false;
    bool scheduled = false;  ///< queued in the send scheduler
};

/// Result of one turn of sending a chat's next reply.
struct send_outcome {
    enum class kind {
        done,       ///< sent, or dropped on purpose: the update is finished
        retry,      ///< to be sent again, not before `not_before`
        next_part,  ///< a part is sent and more follow, each paced as a message of its own
        abandoned,  ///< left unsent because the bot is shutting down
    };
    kind result = kind::done;
    clock_type::time_point not_before{};
};

/// Formats the notice a user gets when user_flood_guard drops their queries.
std::string flood_notice_html(clock_type::duration wait) {
    const auto seconds =
        std::max<std::int64_t>(1, std::chrono::ceil<std::chrono::seconds>(wait).count());
    return fmt::format(
        "You are sending queries faster than I can answer, so I skipped some of them. "
        "Please wait about {} s before sending the next one.",
        seconds);
}

class telegram_bot {
public:
    telegram_bot(asio::io_context& io, std::shared_ptr<const search_index> index,
                 const telegram_options& options)
        : io_(io),
          index_(std::move(index)),
          options_(options),
          metrics_(options.redis.has_value(), std::chrono::system_clock::now(), clock_type::now()),
          housekeeping_wake_(io.get_executor()),
          poll_client_(io.get_executor(), options.endpoint),
          signals_(io, SIGINT, SIGTERM),
          stop_requested_(io.get_executor()),
          offset_moved_(io.get_executor()),
          send_work_(io.get_executor()),
          send_abort_(io.get_executor()),
          answer_work_(io.get_executor()),
          scheduler_(options.flood),
          flood_guard_(options.user_queries),
          random_(std::random_device{}()),
          pages_(options.pages),
          store_wake_(io.get_executor()) {}

    /// Starts the metrics server when --metrics is set, then serves. Returns the exit code.
    asio::awaitable<int> run();

private:
    asio::awaitable<int> serve();
    /// Starts the metrics server. Returns false when it cannot listen.
    bool start_metrics_server();
    /// Calls `method` on `client` and counts the call and its outcome in the metrics.
    asio::awaitable<api_result> call_api(bot_api_client& client, api_method method,
                                         std::string body, std::chrono::milliseconds timeout);
    /// Samples the metrics for /stats and writes the summaries of repeated log lines, every
    /// stats_sample_interval until serve() returns.
    asio::awaitable<void> housekeeping_loop();
    /// Returns whether the bot is healthy for /healthz, and the reason when it is not.
    std::pair<bool, std::string> health() const;
    bot_state read_state() const;
    /// Tells whether `message` is /stats from an admin: "/stats" in a private chat, or
    /// "/stats@ThisBot" in any chat.
    bool is_admin_stats_request(const incoming_message& message) const;
    /// Queues the /stats reply to `message` in its chat.
    void answer_stats(const incoming_message& message);
    /// Records that Telegram accepted `reply`, with its latency when its arrival is known,
    /// unless it is a flood notice.
    void reply_sent(api_method method, const outgoing_reply& reply);
    /// Counts `reply` as given up in the metrics, unless it is a flood notice.
    void reply_dropped(api_method method, const outgoing_reply& reply);
    /// Returns the metrics type of a parsed update.
    update_type type_of(const parsed_update& update);
    asio::awaitable<bool> fetch_identity();
    /// Publishes the bot's commands with setMyCommands, retrying a few times on errors.
    asio::awaitable<void> publish_commands();
    asio::awaitable<void> poll_loop();
    asio::awaitable<void> send_loop();
    /// Sends inline answers and chatless button answers as they come, outside flood pacing.
    asio::awaitable<void> answer_loop();
    /// Sends one answerInlineQuery or answerCallbackQuery, retrying until its deadline.
    asio::awaitable<void> send_answer(bot_api_client& client, const pending_answer& answer);
    /// Sends answerCallbackQuery once (twice after a network error) and logs what failed.
    /// Returns true when Telegram accepted it.
    asio::awaitable<bool> answer_callback(bot_api_client& client, const outgoing_reply& reply,
                                          std::string_view text);
    /// Sends the next part of a message reply.
    asio::awaitable<send_outcome> send_message_part(bot_api_client& client, pending_reply& pending);
    /// Edits the message whose button was pressed, then answers the button press.
    asio::awaitable<send_outcome> send_edit(bot_api_client& client, pending_reply& pending);
    /// Makes one attempt to send a chat's next reply, and immediate resends that Telegram's
    /// 400 errors call for. Rate limits and failures come back as a retry time, so that the
    /// sender can serve other chats meanwhile.
    asio::awaitable<send_outcome> send_reply(bot_api_client& client, pending_reply& pending);
    /// Decides when to send a reply again after a network error or a 5xx, or drops it after
    /// max_send_attempts.
    send_outcome retry_later(api_method method, pending_reply& pending, const api_result& result);
    asio::awaitable<void> confirm_offset();
    /// The offset that is safe to confirm: with Redis, past every update stored there;
    /// otherwise the low-water mark of finished updates.
    std::int64_t confirmable_offset() const;
    /// Parses a getUpdates response body and logs its problems. Returns nothing when the body
    /// is not a usable {"ok":true,"result":[...]} object.
    std::optional<parsed_batch> parse_updates(const std::string& body);
    /// Starts work on the updates of one poll with Redis: drops those an earlier run
    /// answered, starts the others and stores them in Redis before their offset can be
    /// confirmed. Returns how many were new.
    asio::awaitable<std::size_t> accept_polled_updates(std::vector<parsed_update>& updates);
    /// Connects to Redis, deletes the spill list of the last run, and resumes its offset and
    /// pending updates. Returns false when Redis was unreachable, so this is tried again.
    asio::awaitable<bool> resume_from_store();
    /// Writes the store's backlog now and then, and resumes from Redis once it is reachable
    /// when it was not at start-up.
    asio::awaitable<void> store_loop();
    /// Queues unqueued_ in the ring, or appends it to the Redis spill list when the ring is
    /// full or the list is not empty, so that the ring never overtakes the list. Tasks that
    /// fail to spill stay in unqueued_.
    asio::awaitable<void> submit_or_spill();
    /// Queues unqueued_ in the ring as far as it fits, and drops the task JSON of the
    /// messages that went in.
    void submit_unqueued();
    /// Takes spilled tasks back from Redis as the ring frees up, oldest first.
    asio::awaitable<void> unspill_loop();
    /// Tasks in the spill list or taken back from it and not yet in the ring.
    std::size_t spill_backlog() const;
    /// Skips the replies of spilled tasks that vanished from Redis, so their chats go on.
    void forget_lost_spills();
    /// Starts work on parsed updates, in order, skipping those already in flight or finished.
    /// Returns how many were new.
    std::size_t accept_parsed_updates(std::vector<parsed_update>& updates);
    /// Starts an update: false when it is already in flight or done, so it is skipped.
    /// Updates restored from Redis are taken whatever the offset.
    bool begin_update(std::int64_t update_id);
    std::size_t in_flight() const;
    /// Deletes a webhook left by an earlier run in webhook mode, so that getUpdates works.
    asio::awaitable<void> remove_webhook();
    asio::awaitable<bool> register_webhook();
    asio::awaitable<bool> start_webhook();
    asio::awaitable<void> webhook_loop();
    asio::awaitable<webhook_verdict> on_webhook_update(std::string update);
    void remember_webhook_finished(std::int64_t update_id);
    /// Queues an answer that needs no search and no chat turn.
    void queue_answer(outgoing_reply reply);
    /// Runs user_flood_guard on a text message addressed to the bot. Returns true when it goes
    /// on to the search.
    bool admit_query(const parsed_update& update);
    /// Tells whether the bot would reply to `message`: any private message, and in groups its
    /// own commands, commands without a bot name and replies to the bot's messages. The
    /// workers decide the same way again when they build the reply, but only messages for
    /// which this returns true reach them.
    bool addressed_to_bot(const incoming_message& message) const;
    void log_skipped_update(const parsed_update& update);
    /// Logs a warning about the updates of a getUpdates response at most once per
    /// repeated_warning_interval for each `key`, with the number of repeats held back.
    void warn_repeated(const std::string& key, const std::string& message);
    /// Handles a 401 from getUpdates. Returns true when the bot must stop.
    bool token_rejected(const api_result& result);
    void on_reply(outgoing_reply reply);
    void pump_chat(std::int64_t chat_id);
    void finish(std::int64_t update_id);
    void request_stop(const char* reason);
    void wait_for_signal();
    clock_type::duration next_retry_delay(clock_type::duration& delay);
    asio::awaitable<void> sleep(clock_type::duration duration);

    asio::io_context& io_;
    std::shared_ptr<const search_index> index_;
    telegram_options options_;
    bot_metrics metrics_;
    std::unique_ptr<metrics_server> metrics_server_;
    async_event housekeeping_wake_;  ///< ends the housekeeping loop's wait
    bool served_ = false;            ///< serve() has returned
    /// When each update in flight arrived, for the reply latency. Erased by finish().
    std::unordered_map<std::int64_t, clock_type::time_point> received_at_;
    /// The last getUpdates that succeeded, or getMe before the first poll, for /healthz.
    std::optional<clock_type::time_point> last_api_success_;
    int failed_polls_ = 0;        ///< failed getUpdates calls in a row
    std::string last_api_error_;  ///< the latest failure of getMe or getUpdates
    bool webhook_registered_ = false;
    bot_api_client poll_client_;
    asio::signal_set signals_;
    async_event stop_requested_;
    async_event offset_moved_;
    async_event send_work_;
    async_event send_abort_;   ///< ends the senders' waits when they must stop
    async_event answer_work_;  ///< an answer was queued
    send_scheduler scheduler_;
    user_flood_guard flood_guard_;
    std::minstd_rand random_;
    repeat_limiter repeated_warnings_{repeated_warning_interval};

    std::string bot_username_;
    std::int64_t bot_id_ = 0;
    page_store pages_;  ///< searches behind pagination buttons; workers use it too
    std::unique_ptr<search_service> service_;
    offset_tracker tracker_;
    /// In webhook mode, the updates in flight. Webhook requests arrive over several
    /// connections in any order, so a low-water mark would skip a lower id that comes late.
    std::set<std::int64_t> webhook_in_flight_;
    /// In webhook mode, the latest finished updates, so that a repeat Telegram sends after
    /// giving up on a slow response is confirmed instead of answered again.
    std::set<std::int64_t> webhook_finished_;
    std::deque<std::int64_t> webhook_finished_order_;
    bool webhook_server_running_ = false;
    std::unique_ptr<webhook_server> webhook_server_;
    simdjson::dom::parser json_parser_;  ///< for getMe
    update_parser update_parser_;

    std::vector<incoming_message> unqueued_;  ///< received, waiting for room in the ring
    /// With --redis: the connection and the durable state on top of it; null without.
    std::unique_ptr<redis_client> redis_;
    std::unique_ptr<update_store> store_;
    /// Updates in flight that could not be stored in Redis, with their JSON. The confirmed
    /// offset stays at the lowest of them, and the next poll tries to store them again.
    std::map<std::int64_t, std::string> unsaved_;
    /// The update JSON of the messages in unqueued_, which is what gets spilled to Redis.
    std::map<std::int64_t, std::string> task_json_;
    /// Tasks taken back from the spill list, waiting for room in the ring.
    std::vector<incoming_message> unspilled_;
    async_event store_wake_;  ///< ends the store loops' waits at shutdown
    bool resumed_ = false;    ///< the offset and pending updates of the last run are loaded
    bool restoring_ = false;  ///< accepting pending updates of the last run
    /// Every update in flight with a lower id is stored in Redis, so confirming an offset up
    /// to here loses nothing in a crash.
    std::int64_t stored_end_ = 0;
    std::int64_t saved_offset_ = -1;  ///< the offset last given to save_offset
    /// Tasks in the Redis spill list: update_id to chat id.
    std::map<std::int64_t, std::int64_t> spilled_ids_;
    std::size_t spilled_tasks_ = 0;       ///< tasks spilled to Redis while running
    std::size_t resent_answered_ = 0;     ///< updates dropped because an earlier run answered them
    std::deque<pending_answer> answers_;  ///< inline and chatless answers to send
    std::map<std::int64_t, chat_queue> chats_;
    /// Groups that became supergroups: old chat id to new chat id.
    std::map<std::int64_t, std::int64_t> migrated_chats_;
    std::vector<bot_api_client*> send_clients_;

    bool stopping_ = false;
    bool forced_ = false;          ///< a second signal or a rejected token: give up on queued work
    bool token_rejected_ = false;  ///< getUpdates answered 401 max_unauthorized_polls times
    int unauthorized_polls_ = 0;   ///< 401 responses to getUpdates in a row
    bool senders_done_ = false;
    std::size_t active_sends_ = 0;  ///< send_reply calls under way
    bool poller_done_ = false;
    bool conflict_logged_ = false;
    std::size_t conflicts_ = 0;
    std::size_t malformed_updates_ = 0;
    std::size_t ignored_updates_ = 0;  ///< valid updates of types the bot does not answer
    /// Group messages not addressed to the bot, and channel posts.
    std::size_t unaddressed_messages_ = 0;
    /// Updates answered by a flood notice, which metrics count as flood_limited and not as
    /// replies. Each is removed when its update finishes.
    std::unordered_set<std::int64_t> flood_notice_updates_;
    std::size_t logged_skipped_updates_ = 0;
    std::size_t flood_dropped_queries_ = 0;
};

void telegram_bot::wait_for_signal() {
    signals_.async_wait([this](const boost::system::error_code& error, int signal_number) {
        if (error) {
            return;
        }
        request_stop(signal_number == SIGINT ? "SIGINT" : "SIGTERM");
        wait_for_signal();
    });
}

void telegram_bot::request_stop(const char* reason) {
    if (stopping_) {
        spdlog::warn("received {} again, exiting without waiting for queued work", reason);
        forced_ = true;
        send_abort_.notify_all();
        for (bot_api_client* client : send_clients_) {
            client->cancel();
        }
    } else {
        spdlog::info("received {}, stopping: finishing queued work for up to {} s", reason,
                     options_.shutdown_timeout.count());
        stopping_ = true;
    }
    poll_client_.cancel();
    stop_requested_.notify_all();
    offset_moved_.notify_all();
    send_work_.notify_all();
    answer_work_.notify_all();
}

clock_type::duration telegram_bot::next_retry_delay(clock_type::duration& delay) {
    delay = delay == clock_type::duration::zero()
                ? clock_type::duration(first_retry_delay)
                : std::min<clock_type::duration>(delay * 2, max_retry_delay);
    std::uniform_real_distribution<double> jitter(0.5, 1.0);
    return std::chrono::duration_cast<clock_type::duration>(delay * jitter(random_));
}

asio::awaitable<void> telegram_bot::sleep(clock_type::duration duration) {
    // A stop request ends the sleep early, so shutdown never waits out a long backoff.
    co_await stop_requested_.wait_for(duration);
}

asio::awaitable<int> telegram_bot::run() {
    if (options_.metrics && !start_metrics_server()) {
        co_return 1;
    }
    const int exit_code = co_await serve();
    served_ = true;
    housekeeping_wake_.notify_all();
    if (metrics_server_) {
        metrics_server_->stop();
    }
    flush_all_repeated_log_lines();
    co_return exit_code;
}

bool telegram_bot::start_metrics_server() {
    metrics_.set_state_reader([this] { return read_state(); });
    std::map<std::string, http_get_handler, std::less<>> routes;
    routes["/metrics"] = [this] {
        return http_text_response{200, std::string(prometheus_content_type), metrics_.render()};
    };
    routes["/healthz"] = [this] {
        auto [healthy, reason] = health();
        if (healthy) {
            return http_text_response{200, "text/plain; charset=utf-8", "ok\n"};
        }
        // The reason may quote an error text from the Bot API or a proxy, and a monitor reads
        // the body as one line.
        std::replace_if(
            reason.begin(), reason.end(),
            [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }, ' ');
        return http_text_response{503, "text/plain; charset=utf-8", reason + "\n"};
    };
    metrics_server_options server_options;
    server_options.listen_address = options_.metrics->address;
    server_options.port = options_.metrics->port;
    metrics_server_ =
        std::make_unique<metrics_server>(io_.get_executor(), server_options, std::move(routes));
    try {
        metrics_server_->start();
    } catch (const std::exception& error) {
        spdlog::error("failed to start the metrics server: {}; check --metrics", error.what());
        metrics_server_.reset();
        return false;
    }
    return true;
}

std::pair<bool, std::string> telegram_bot::health() const {
    if (token_rejected_) {
        return {false, "the Bot API rejected the token (401 Unauthorized)"};
    }
    if (stopping_) {
        return {false, "stopping"};
    }
    if (options_.webhook) {
        if (!webhook_server_running_) {
            return {false, "the webhook server is not running"};
        }
        if (!webhook_registered_) {
            return {false, "setWebhook has not succeeded yet" +
                               (last_api_error_.empty() ? "" : ": " + last_api_error_)};
        }
        return {true, {}};
    }
    if (!last_api_success_) {
        return {false, "no Bot API call has succeeded yet" +
                           (last_api_error_.empty() ? "" : "; the last error: " + last_api_error_)};
    }
    if (failed_polls_ >= unhealthy_failed_polls) {
        return {false, fmt::format("the last {} getUpdates calls failed; the last error: {}",
                                   failed_polls_, last_api_error_)};
    }
    const auto age = clock_type::now() - *last_api_success_;
    if (age > options_.poll_timeout + health_margin) {
        return {false,
                fmt::format("no getUpdates call has succeeded for {} s{}",
                            std::chrono::duration_cast<std::chrono::seconds>(age).count(),
                            unqueued_.empty() ? "" : " (the ring is full, so polling waits)")};
    }
    return {true, {}};
}

bot_state telegram_bot::read_state() const {
    bot_state state;
    if (service_) {
        state.queued_messages = service_->queued_messages();
        state.message_capacity = service_->message_capacity();
        state.queued_inline_queries = service_->queued_inline_queries();
        state.inline_query_capacity = service_->inline_query_capacity();
    }
    state.in_flight = in_flight();
    state.spill_backlog = spill_backlog();
    const std::shared_ptr<const search_index> index = index_->snapshot();
    state.index_documents = index->document_count();
    state.index_terms = index->term_count();
    state.index_bytes = index->memory_bytes() + index->mapped_bytes();
    state.healthy = health().first;
    return state;
}

asio::awaitable<void> telegram_bot::housekeeping_loop() {
    while (!served_) {
        metrics_.sample(clock_type::now());
        flush_repeated_log_lines();
        co_await housekeeping_wake_.wait_for(stats_sample_interval);
    }
}

asio::awaitable<api_result> telegram_bot::call_api(bot_api_client& client, api_method method,
                                                   std::string body,
                                                   std::chrono::milliseconds timeout) {
    api_result result = co_await client.call(api_method_name(method), std::move(body), timeout);
    switch (result.kind) {
        case api_result::status::ok:
            metrics_.call_succeeded(method);
            break;
        case api_result::status::api_error:
            metrics_.call_failed(method, result.error_code);
            break;
        case api_result::status::transport_error:
            metrics_.call_failed(method, 0);
            break;
        case api_result::status::cancelled:
            break;
    }
    co_return result;
}

void telegram_bot::reply_sent(api_method method, const outgoing_reply& reply) {
    if (flood_notice_updates_.contains(reply.update_id)) {
        return;  // already counted as flood_limited
    }
    std::optional<std::chrono::nanoseconds> latency;
    if (const auto received = received_at_.find(reply.update_id); received != received_at_.end()) {
        latency = clock_type::now() - received->second;
    }
    metrics_.reply_sent(method, latency);
}

void telegram_bot::reply_dropped(api_method method, const outgoing_reply& reply) {
    if (!flood_notice_updates_.contains(reply.update_id)) {
        metrics_.reply_dropped(method);
    }
}

update_type telegram_bot::type_of(const parsed_update& update) {
    if (update.type == parsed_update::kind::message) {
        switch (update.message.type) {
            case incoming_message::kind::message:
                return update_type::message;
            case incoming_message::kind::callback_query:
                return update_type::callback_query;
            case incoming_message::kind::inline_query:
                return update_type::inline_query;
        }
    }
    // Updates that get no reply are rare, so parsing their JSON again costs little.
    simdjson::dom::object object;
    if (json_parser_.parse(update.json).get(object) != simdjson::SUCCESS) {
        return update_type::other;
    }
    for (const auto field : object) {
        if (field.key != "update_id") {
            return update_type_of_field(field.key);
        }
    }
    return update_type::other;
}

bool telegram_bot::is_admin_stats_request(const incoming_message& message) const {
    if (message.type != incoming_message::kind::message || options_.admin_ids.empty() ||
        std::find(options_.admin_ids.begin(), options_.admin_ids.end(), message.user_id) ==
            options_.admin_ids.end()) {
        return false;
    }
    std::string_view text = message.text;
    text.remove_prefix(std::min(text.size(), text.find_first_not_of(" \t\r\n")));
    const std::string_view command = text.substr(0, text.find_first_of(" \t\r\n"));
    const std::size_t at = command.find('@');
    const std::string_view name = command.substr(0, at);
    const auto equal_ignoring_case = [](std::string_view a, std::string_view b) {
        return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
            return std::tolower(static_cast<unsigned char>(x)) ==
                   std::tolower(static_cast<unsigned char>(y));
        });
    };
    if (!equal_ignoring_case(name, "/stats")) {
        return false;
    }
    if (at == std::string_view::npos) {
        // In a group a bare command may be meant for another bot, as the workers decide too.
        return message.chat_type == "private";
    }
    return equal_ignoring_case(command.substr(at + 1), bot_username_);
}

void telegram_bot::answer_stats(const incoming_message& message) {
    log_event(spdlog::level::info, {.update_id = message.update_id, .chat_id = message.chat_id},
              "answering /stats from admin {} in chat {} (update {})", message.user_id,
              message.chat_id, message.update_id);
    chats_[message.chat_id].update_ids.push_back(message.update_id);
    outgoing_reply reply;
    reply.update_id = message.update_id;
    reply.chat_id = message.chat_id;
    if (message.chat_type != "private") {
        reply.reply_to_message_id = message.message_id;
    }
    // Built here rather than by a worker, but timed as a worker times a reply, so that every
    // command is in search_duration_seconds.
    const auto started = clock_type::now();
    reply.html = metrics_.stats_html(started, read_state());
    if (histogram* const seconds = metrics_.search_seconds(update_type::message)) {
        seconds->observe(clock_type::now() - started);
    }
    on_reply(std::move(reply));
}

asio::awaitable<int> telegram_bot::serve() {
    wait_for_signal();
    if (!co_await fetch_identity()) {
        signals_.cancel();
        co_return stopping_ ? 0 : 1;
    }

    reply_settings settings;
    settings.bot_username = bot_username_;
    settings.bot_id = bot_id_;
    settings.page_size = options_.page_size;
    settings.pages = &pages_;
    search_service_metrics search_metrics;
    search_metrics.message_seconds = metrics_.search_seconds(update_type::message);
    search_metrics.callback_query_seconds = metrics_.search_seconds(update_type::callback_query);
    search_metrics.inline_query_seconds = metrics_.search_seconds(update_type::inline_query);
    service_ = std::make_unique<search_service>(
        index_, std::move(settings), options_.workers, options_.ring_capacity,
        [this](outgoing_reply reply) {
            asio::post(io_,
                       [this, reply = std::move(reply)]() mutable { on_reply(std::move(reply)); });
        },
        search_metrics);
    spdlog::info(
        "started {} search workers and 1 inline query worker; {}; {} results per page, result "
        "pages expire {} s after their last use (at most {} kept)",
        service_->worker_count(),
        options_.webhook
            ? fmt::format("receiving updates by webhook on {} port {}",
                          options_.webhook->listen_address, options_.webhook->port)
            : fmt::format("polling getUpdates with a {} s timeout", options_.poll_timeout.count()),
        options_.page_size, options_.pages.expiry.count(), options_.pages.capacity);

    const auto executor = io_.get_executor();
    if (options_.redis) {
        redis_ = std::make_unique<redis_client>(executor, *options_.redis);
        update_store_options store_options;
        store_options.bot_id = bot_id_;
        store_ = std::make_unique<update_store>(*redis_, std::move(store_options));
        spdlog::info("keeping delivery state in Redis at {} under the keys {}*",
                     options_.redis->display, store_->key(""));
        if (!co_await resume_from_store()) {
            spdlog::warn(
                "Redis at {} is unreachable; serving from memory, and resuming the pending "
                "updates of the last run once Redis is back",
                options_.redis->display);
        }
    }
    if (options_.webhook) {
        if (!co_await start_webhook()) {
            webhook_server_->stop();
            service_->shutdown();
            signals_.cancel();
            co_return stopping_ ? 0 : 1;
        }
        asio::co_spawn(executor, webhook_loop(), asio::detached);
    } else {
        co_await remove_webhook();
        asio::co_spawn(executor, poll_loop(), asio::detached);
    }
    asio::co_spawn(executor, publish_commands(), asio::detached);
    asio::co_spawn(executor, housekeeping_loop(), asio::detached);
    for (std::size_t i = 0; i < std::max<std::size_t>(1, options_.send_connections); ++i) {
        asio::co_spawn(executor, send_loop(), asio::detached);
    }
    for (std::size_t i = 0; i < answer_connections; ++i) {
        asio::co_spawn(executor, answer_loop(), asio::detached);
    }
    if (store_) {
        asio::co_spawn(executor, store_loop(), asio::detached);
        asio::co_spawn(executor, unspill_loop(), asio::detached);
    }

    while (!stopping_) {
        co_await stop_requested_.wait_for(24h);
    }
    while (!poller_done_) {
        co_await offset_moved_.wait_for(10ms);
    }

    const auto deadline = clock_type::now() + options_.shutdown_timeout;
    while (in_flight() > 0 && !forced_ && clock_type::now() < deadline) {
        co_await offset_moved_.wait_for(
            std::min<clock_type::duration>(deadline - clock_type::now(), 100ms));
    }
    if (webhook_server_running_) {
        // Requests still waiting get no answer, so Telegram sends their updates again.
        webhook_server_->stop();
        webhook_server_running_ = false;
        offset_moved_.notify_all();
    }
    if (in_flight() > 0) {
        const std::string unfinished = count_of(in_flight(), "update", "updates");
        if (token_rejected_) {
            spdlog::warn("left {} unanswered: the token was rejected", unfinished);
        } else if (forced_) {
            spdlog::warn("stopped by a second signal with {} unfinished; {}", unfinished,
                         store_ ? "the next start resumes them from Redis"
                                : "Telegram will deliver them again at the next start");
        } else {
            spdlog::warn("{} not finished before the shutdown deadline; {}", unfinished,
                         store_ ? "the next start resumes them from Redis"
                                : "Telegram will deliver them again at the next start");
        }
    }

    senders_done_ = true;
    send_work_.notify_all();
    answer_work_.notify_all();
    send_abort_.notify_all();
    store_wake_.notify_all();
    // A send cut off after Telegram took it would be answered again at the next start, so
    // the sends under way get a moment to finish.
    const auto sends_deadline = clock_type::now() + send_grace;
    while (active_sends_ > 0 && !forced_ && clock_type::now() < sends_deadline) {
        co_await offset_moved_.wait_for(10ms);
    }
    for (bot_api_client* client : send_clients_) {
        client->cancel();
    }
    if (!token_rejected_ && !options_.webhook) {
        // With a rejected token it could only fail, and with a webhook set getUpdates fails
        // with 409.
        co_await confirm_offset();
    }
    if (store_) {
        // Answered ids go first, so that the next start does not answer them again.
        const bool flushed = co_await store_->flush();
        const bool offset_saved = co_await store_->save_offset(confirmable_offset());
        if (flushed && offset_saved) {
            spdlog::info("saved the offset {} and the answered updates in Redis",
                         confirmable_offset());
        } else {
            spdlog::warn(
                "could not write {} to Redis before exiting; the next start may answer those "
                "updates again",
                count_of(store_->backlog_size(), "answered id or offset",
                         "answered ids and offsets"));
        }
        if (spilled_tasks_ > 0 || resent_answered_ > 0) {
            spdlog::info(
                "while running: spilled {} to Redis, skipped {} that an earlier run had "
                "answered",
                count_of(spilled_tasks_, "task", "tasks"),
                count_of(resent_answered_, "update", "updates"));
        }
    }

    service_->shutdown();
    signals_.cancel();
    if (malformed_updates_ > 0 || ignored_updates_ > 0 || unaddressed_messages_ > 0 ||
        flood_dropped_queries_ > 0) {
        spdlog::info(
            "while running: skipped {}, ignored {} without a text message and {} not addressed "
            "to the bot, dropped {} from users over the flood limit",
            count_of(malformed_updates_, "malformed update", "malformed updates"),
            count_of(ignored_updates_, "update", "updates"),
            count_of(unaddressed_messages_, "message", "messages"),
            count_of(flood_dropped_queries_, "query", "queries"));
    }
    if (conflicts_ > 1) {
        spdlog::info("getUpdates met {} conflicts (409) while running", conflicts_);
    }
    if (token_rejected_) {
        spdlog::error("stopped: the Bot API rejected the token");
        co_return 1;
    }
    spdlog::info("stopped");
    co_return 0;
}

asio::awaitable<bool> telegram_bot::fetch_identity() {
    clock_type::duration delay{};
    while (!stopping_) {
        const api_result result = co_await call_api(poll_client_, api_method::get_me, "{}", 30s);
        if (result.ok()) {
            simdjson::dom::element root;
            std::string_view username;
            std::int64_t id = 0;
            if (json_parser_.parse(result.body).get(root) == simdjson::SUCCESS &&
                root["result"]["username"].get(username) == simdjson::SUCCESS &&
                root["result"]["id"].get(id) == simdjson::SUCCESS) {
                bot_username_ = std::string(username);
                bot_id_ = id;
                // getMe proves the Bot API reachable and the token good until the first poll
                // ends, which may take the whole poll timeout.
                last_api_success_ = clock_type::now();
                spdlog::info("connected to the Bot API as @{} (bot id {})", bot_username_, id);
                co_return true;
            }
            spdlog::error("getMe returned no bot username and id; is --api-url a Bot API server?");
        } else if (result.kind == api_result::status::api_error &&
                   (result.error_code == 401 || result.error_code == 404)) {
            spdlog::error(
                "the Bot API rejected the bot token (getMe: {} {}); check "
                "TELEGRAM_BOT_TOKEN or --token-file",
                result.error_code, result.description);
            co_return false;
        } else if (result.kind == api_result::status::cancelled) {
            co_return false;
        } else {
            spdlog::warn("getMe failed: {}", result.description);
        }
        last_api_error_ = "getMe: " + result.description;
        metrics_.call_retried(api_method::get_me);
        const auto wait = next_retry_delay(delay);
        spdlog::info("retrying getMe in {} ms",
                     std::chrono::duration_cast<std::chrono::milliseconds>(wait).count());
        co_await sleep(wait);
    }
    co_return false;
}

bool telegram_bot::begin_update(std::int64_t update_id) {
    if (options_.webhook) return webhook_in_flight_.insert(update_id).second;
    return restoring_ ? tracker_.restore(update_id) : tracker_.begin(update_id);
}

std::size_t telegram_bot::in_flight() const {
    return options_.webhook ? webhook_in_flight_.size() : tracker_.in_flight();
}

asio::awaitable<void> telegram_bot::remove_webhook() {
    // Both calls are repeated after a transport error, 429 or 5xx, because getUpdates keeps
    // failing with 409 while a webhook is set and nothing else deletes it. Any other 4xx is
    // final, such as 404 from a Bot API stand-in without webhook methods.
    const auto call_until_final = [this](api_method method,
                                         std::string body) -> asio::awaitable<api_result> {
        clock_type::duration delay{};
        while (true) {
            api_result result = co_await call_api(poll_client_, method, body, webhook_call_timeout);
            const bool final_error = result.kind == api_result::status::api_error &&
                                     result.error_code >= 400 && result.error_code < 500 &&
                                     result.error_code != 429;
            if (result.ok() || final_error || stopping_ ||
                result.kind == api_result::status::cancelled) {
                co_return result;
            }
            const clock_type::duration wait =
                result.retry_after > 0
                    ? std::min<clock_type::duration>(std::chrono::seconds(result.retry_after),
                                                     max_retry_after)
                    : next_retry_delay(delay);
            spdlog::warn("{} failed: {}; retrying in {} ms", api_method_name(method),
                         result.description,
                         std::chrono::duration_cast<std::chrono::milliseconds>(wait).count());
            metrics_.call_retried(method);
            co_await sleep(wait);
        }
    };

    const api_result info_result = co_await call_until_final(api_method::get_webhook_info, "{}");
    if (stopping_) co_return;
    if (!info_result.ok()) {
        spdlog::warn("getWebhookInfo failed: {}; polling anyway", info_result.description);
        co_return;
    }
    const std::optional<webhook_info> info = parse_webhook_info(info_result.body);
    if (!info || info->url.empty()) co_return;
    spdlog::info("deleting the webhook {} set by an earlier run, keeping its {} pending updates",
                 info->url, info->pending_update_count);
    const api_result result =
        co_await call_until_final(api_method::delete_webhook, make_delete_webhook_body());
    if (!result.ok() && !stopping_) {
        spdlog::error(
            "deleteWebhook failed: {}; getUpdates fails with 409 until the webhook is deleted",
            result.description);
    }
}

asio::awaitable<bool> telegram_bot::register_webhook() {
    webhook_registration registration;
    registration.url = options_.webhook->url;
    registration.secret_token = options_.webhook->secret_token;
    registration.allowed_updates = allowed_updates;
    registration.max_connections = webhook_max_connections;
    const std::string body = make_set_webhook_body(registration);

    clock_type::duration delay{};
    while (!stopping_) {
        const api_result result =
            co_await call_api(poll_client_, api_method::set_webhook, body, webhook_call_timeout);
        if (result.ok()) {
            spdlog::info("registered the webhook {}", registration.url);
            webhook_registered_ = true;
            co_return true;
        }
        last_api_error_ = "setWebhook: " + result.description;
        if (result.kind == api_result::status::cancelled) break;
        if (result.kind == api_result::status::api_error && result.error_code >= 400 &&
            result.error_code < 500 && result.error_code != 429) {
            // Such as "bad webhook: Failed to resolve host", which a retry does not fix.
            spdlog::error("setWebhook rejected {}: {} {}; check --webhook-url", registration.url,
                          result.error_code, result.description);
            co_return false;
        }
        const clock_type::duration wait =
            result.retry_after > 0 ? std::min<clock_type::duration>(
                                         std::chrono::seconds(result.retry_after), max_retry_after)
                                   : next_retry_delay(delay);
        spdlog::warn("setWebhook failed: {}; retrying in {} ms", result.description,
                     std::chrono::duration_cast<std::chrono::milliseconds>(wait).count());
        metrics_.call_retried(api_method::set_webhook);
        co_await sleep(wait);
    }
    co_return false;
}

asio::awaitable<bool> telegram_bot::start_webhook() {
    webhook_server_ = std::make_unique<webhook_server>(
        io_.get_executor(), *options_.webhook,
        [this](std::string update) { return on_webhook_update(std::move(update)); });
    try {
        // Listening before setWebhook means that the first request finds the server up.
        webhook_server_->start();
        webhook_server_running_ = true;
    } catch (const std::exception& error) {
        spdlog::error("failed to start the webhook server: {}", error.what());
        co_return false;
    }
    co_return co_await register_webhook();
}

void telegram_bot::remember_webhook_finished(std::int64_t update_id) {
    // Telegram gives up on a response after a while and sends the update again; 10,000
    // finished ids cover far more than the requests it keeps open at once.
    constexpr std::size_t remembered = 10'000;
    if (!webhook_finished_.insert(update_id).second) return;
    webhook_finished_order_.push_back(update_id);
    if (webhook_finished_order_.size() > remembered) {
        webhook_finished_.erase(webhook_finished_order_.front());
        webhook_finished_order_.pop_front();
    }
}

asio::awaitable<void> telegram_bot::webhook_loop() {
    while (!stopping_) {
        if (!unqueued_.empty()) service_->submit(unqueued_);
        // on_webhook_update and the workers notify offset_moved_ when there may be room.
        co_await offset_moved_.wait_for(unqueued_.empty() ? 1s : 5ms);
    }
    // The server stays up while the drain runs, answering 503 to new updates and 200 to
    // those that finish, and run() stops it after the drain. The webhook stays set, so
    // Telegram keeps new updates until the next start.
    while (!unqueued_.empty() && !forced_ && !token_rejected_) {
        service_->submit(unqueued_);
        if (!unqueued_.empty()) co_await offset_moved_.wait_for(5ms);
    }
    poller_done_ = true;
}

asio::awaitable<webhook_verdict> telegram_bot::on_webhook_update(std::string update) {
    if (stopping_) co_return webhook_verdict::unavailable;
    // parse_updates reads getUpdates responses, so the update is wrapped as one.
    std::string body = R"({"ok":true,"result":[)";
    body += update;
    body += "]}";
    std::optional<parsed_batch> batch = parse_updates(body);
    if (!batch || batch->updates.size() != 1) {
        // The server checked that it is a JSON object, and a retry would bring the same bytes.
        spdlog::warn("skipped a webhook update that is not a valid Update object");
        metrics_.update_skipped(skip_reason::malformed);
        co_return webhook_verdict::accepted;
    }
    const std::int64_t update_id = batch->updates.front().update_id;
    if (webhook_finished_.contains(update_id)) co_return webhook_verdict::accepted;
    if (!webhook_in_flight_.contains(update_id)) {
        if (!unqueued_.empty()) {
            service_->submit(unqueued_);
            // Back-pressure: Telegram sends the update again later.
            if (!unqueued_.empty()) co_return webhook_verdict::busy;
        }
        accept_parsed_updates(batch->updates);
        if (!unqueued_.empty()) service_->submit(unqueued_);
    }
    // The response waits until the update is done, so that Telegram keeps an update the bot
    // has not finished and sends it again after a crash or a stop. A repeat of an update in
    // flight (Telegram gave up waiting) waits for the same one.
    while (webhook_in_flight_.contains(update_id)) {
        if (stopping_ && !webhook_server_running_) co_return webhook_verdict::unavailable;
        co_await offset_moved_.wait_for(1s);
    }
    co_return webhook_verdict::accepted;
}

asio::awaitable<void> telegram_bot::poll_loop() {
    clock_type::duration delay{};
    clock_type::duration repoll_pause = first_repoll_pause;
    while (!stopping_) {
        if (!unqueued_.empty()) {
            // Back-pressure: the ring is full (and spilling to Redis fails, if used), so take
            // no new updates until it has room.
            if (store_) {
                co_await submit_or_spill();
            } else {
                service_->submit(unqueued_);
            }
            if (!unqueued_.empty()) {
                co_await offset_moved_.wait_for(store_ ? spill_retry_pause : 5ms);
                continue;
            }
        }

        const std::int64_t polled_offset = confirmable_offset();
        const std::string request = fmt::format(
            R"({{"offset":{},"timeout":{},"limit":{},"allowed_updates":{}}})", polled_offset,
            options_.poll_timeout.count(), max_updates_per_poll, allowed_updates_json);
        const auto started = clock_type::now();
        const api_result result = co_await call_api(poll_client_, api_method::get_updates, request,
                                                    options_.poll_timeout + poll_read_margin);
        if (stopping_ || result.kind == api_result::status::cancelled) {
            break;
        }
        if (result.ok()) {
            metrics_.poll_succeeded(std::chrono::system_clock::now());
        } else {
            ++failed_polls_;
            last_api_error_ = "getUpdates: " + result.description;
        }

        if (result.kind == api_result::status::api_error && result.error_code == 401) {
            if (token_rejected(result)) {
                break;
            }
        } else {
            unauthorized_polls_ = 0;
        }
        if (!result.ok()) {
            clock_type::duration wait = next_retry_delay(delay);
            if (result.kind == api_result::status::api_error && result.error_code == 409) {
                // Logged once per run: two instances that keep taking the token from each
                // other would otherwise fill the log.
                ++conflicts_;
                wait = std::max<clock_type::duration>(wait, conflict_delay);
                if (!conflict_logged_) {
                    spdlog::error(
                        "getUpdates conflict (409): another instance of the bot or a webhook "
                        "uses this bot token; stop the other instance or call deleteWebhook. "
                        "Retrying every {} s or more; further conflicts are only counted. "
                        "Telegram said: {}",
                        std::chrono::duration_cast<std::chrono::seconds>(wait).count(),
                        result.description);
                    conflict_logged_ = true;
                } else {
                    spdlog::debug("getUpdates conflict (409) again, {} so far", conflicts_);
                }
            } else if (result.retry_after > 0) {
                wait = std::min<clock_type::duration>(std::chrono::seconds(result.retry_after),
                                                      max_retry_after);
                spdlog::warn("getUpdates rate limited (429), retrying in {} s",
                             std::chrono::duration_cast<std::chrono::seconds>(wait).count());
            } else {
                spdlog::warn("getUpdates failed: {}; retrying in {} ms", result.description,
                             std::chrono::duration_cast<std::chrono::milliseconds>(wait).count());
            }
            metrics_.call_retried(api_method::get_updates);
            co_await sleep(wait);
            continue;
        }

        std::optional<parsed_batch> batch = parse_updates(result.body);
        if (!batch) {
            ++failed_polls_;
            last_api_error_ = "getUpdates returned a body that is not a list of updates";
            // Asking again at once would only fetch the same body, so back off as after errors.
            const clock_type::duration wait = next_retry_delay(delay);
            spdlog::warn(
                "getUpdates returned a body that is not {{\"ok\":true,\"result\":[...]}} "
                "even after repair; retrying in {} ms",
                std::chrono::duration_cast<std::chrono::milliseconds>(wait).count());
            metrics_.call_retried(api_method::get_updates);
            co_await sleep(wait);
            continue;
        }
        delay = clock_type::duration::zero();
        failed_polls_ = 0;
        last_api_success_ = clock_type::now();
        std::size_t fresh = 0;
        if (store_) {
            fresh = co_await accept_polled_updates(batch->updates);
            co_await submit_or_spill();
        } else {
            fresh = accept_parsed_updates(batch->updates);
            if (!unqueued_.empty()) {
                service_->submit(unqueued_);
            }
        }
        if (fresh > 0) {
            repoll_pause = first_repoll_pause;
        } else {
            // A reply may have been confirmed while the poll was under way; then the next poll
            // has something to skip already.
            const auto elapsed = clock_type::now() - started;
            if (confirmable_offset() == polled_offset && elapsed < repoll_pause) {
                co_await offset_moved_.wait_for(repoll_pause - elapsed);
            }
            repoll_pause = std::min<clock_type::duration>(repoll_pause * 2, max_repoll_pause);
            const auto spacing = std::min<clock_type::duration>(
                refetch_spacing_per_update *
                    static_cast<int>(std::min<std::size_t>(in_flight(), max_updates_per_poll)),
                max_refetch_spacing);
            const auto since_poll = clock_type::now() - started;
            if (since_poll < spacing) {
                co_await sleep(spacing - since_poll);
            }
        }
    }
    // Updates that never reached the ring are queued now, so that shutdown finishes them too.
    // With Redis, those that fail to spill stay unconfirmed or pending there, and the
    // shutdown deadline bounds the wait for them.
    if (store_ && !forced_) {
        co_await submit_or_spill();
    }
    while (!store_ && !unqueued_.empty() && !forced_ && !token_rejected_) {
        service_->submit(unqueued_);
        if (!unqueued_.empty()) {
            co_await offset_moved_.wait_for(5ms);
        }
    }
    poller_done_ = true;
}

std::int64_t telegram_bot::confirmable_offset() const {
    if (!store_) {
        return tracker_.offset();
    }
    return std::max(tracker_.offset(), stored_end_);
}

asio::awaitable<std::size_t> telegram_bot::accept_polled_updates(
    std::vector<parsed_update>& updates) {
    // Telegram sends an update again until an offset past it is confirmed, and an earlier run
    // may have answered it and crashed before that.
    std::vector<std::int64_t> candidates;
    for (const parsed_update& update : updates) {
        if (update.update_id >= tracker_.offset() && !tracker_.is_in_flight(update.update_id)) {
            candidates.push_back(update.update_id);
        }
    }
    std::set<std::int64_t> answered;
    if (!candidates.empty()) {
        std::optional<std::set<std::int64_t>> found = co_await store_->answered_among(candidates);
        if (found) {
            answered = std::move(*found);
        }
    }

    std::vector<parsed_update> unanswered;
    std::vector<received_update> received;
    for (parsed_update& update : updates) {
        if (answered.contains(update.update_id)) {
            // Started and finished at once, so that the offset passes it, but not marked again.
            if (tracker_.begin(update.update_id)) {
                tracker_.finish(update.update_id);
                ++resent_answered_;
                log_event(spdlog::level::debug, {.update_id = update.update_id},
                          "skipped update {}: answered before the last restart", update.update_id);
            }
            continue;
        }
        if (!tracker_.is_in_flight(update.update_id)) {
            received.push_back({update.update_id, update.json});
        }
        unanswered.push_back(std::move(update));
    }
    const std::size_t fresh = accept_parsed_updates(unanswered);

    // Updates finished at once (skipped or dropped) need no storing.
    std::erase_if(received, [this](const received_update& update) {
        return !tracker_.is_in_flight(update.update_id);
    });
    for (const auto& [update_id, json] : unsaved_) {
        received.push_back({update_id, json});
    }
    // Captured before the write: updates begun while it runs are not covered by it.
    const std::int64_t received_end = tracker_.received_end();
    if (received.empty() || co_await store_->save_received(received)) {
        for (const received_update& update : received) {
            unsaved_.erase(update.update_id);
        }
        if (unsaved_.empty()) {
            stored_end_ = std::max(stored_end_, received_end);
        }
        const std::int64_t offset = confirmable_offset();
        if (offset != saved_offset_) {
            saved_offset_ = offset;
            co_await store_->save_offset(offset);
        }
    } else {
        for (received_update& update : received) {
            if (tracker_.is_in_flight(update.update_id)) {
                unsaved_.try_emplace(update.update_id, std::move(update.json));
            }
        }
    }
    co_return fresh;
}

asio::awaitable<bool> telegram_bot::resume_from_store() {
    // The pending hash contains every update that a spilled task came from, so the old list
    // would only bring them twice.
    if (!co_await store_->discard_spill()) {
        co_return false;
    }
    const std::optional<std::int64_t> offset = co_await store_->load_offset();
    std::vector<received_update> pending = co_await store_->load_pending();
    if (!store_->available()) {
        co_return false;
    }
    resumed_ = true;

    std::size_t restored = 0;
    if (!pending.empty()) {
        // The stored updates go through the same path as polled ones, as one response body.
        std::string body = R"({"ok":true,"result":[)";
        for (std::size_t i = 0; i < pending.size(); ++i) {
            body += i == 0 ? "" : ",";
            body += pending[i].json;
        }
        body += "]}";
        std::optional<parsed_batch> batch = parse_updates(body);
        if (batch) {
            restoring_ = true;
            restored = accept_parsed_updates(batch->updates);
            restoring_ = false;
        }
    }
    if (offset) {
        tracker_.skip_to(*offset);
    }
    // Restored updates are in Redis already, so the offset may pass them at once.
    if (unsaved_.empty()) {
        stored_end_ = std::max(stored_end_, tracker_.received_end());
    }
    spdlog::info("resumed from Redis: {} of the last run, polling from offset {}",
                 count_of(restored, "pending update", "pending updates"), confirmable_offset());
    co_return true;
}

asio::awaitable<void> telegram_bot::store_loop() {
    while (!senders_done_) {
        co_await store_wake_.wait_for(store_flush_interval);
        if (senders_done_) {
            break;
        }
        if (!resumed_) {
            co_await resume_from_store();
            continue;
        }
        if (store_->backlog_size() > 0) {
            co_await store_->flush();
        }
        const std::int64_t offset = confirmable_offset();
        if (offset != saved_offset_ && store_->available()) {
            saved_offset_ = offset;
            co_await store_->save_offset(offset);
        }
    }
}

std::size_t telegram_bot::spill_backlog() const { return spilled_ids_.size() + unspilled_.size(); }

void telegram_bot::submit_unqueued() {
    service_->submit(unqueued_);
    if (unqueued_.empty()) {
        task_json_.clear();
        return;
    }
    std::set<std::int64_t> waiting;
    for (const incoming_message& message : unqueued_) {
        waiting.insert(message.update_id);
    }
    std::erase_if(task_json_,
                  [&waiting](const auto& entry) { return !waiting.contains(entry.first); });
}

asio::awaitable<void> telegram_bot::submit_or_spill() {
    if (spill_backlog() == 0) {
        submit_unqueued();
    }
    // Until the list of the last run is deleted, new tasks would land behind its stale ones.
    if (unqueued_.empty() || !resumed_) {
        co_return;
    }
    const bool was_spilling = spill_backlog() > 0;
    std::size_t spilled = 0;
    while (spilled < unqueued_.size()) {
        const incoming_message& message = unqueued_[spilled];
        const auto json = task_json_.find(message.update_id);
        if (json == task_json_.end()) {
            break;
        }
        // Recorded before the write, so that the drain knows the task even when it takes it
        // back before this coroutine resumes.
        const std::int64_t update_id = message.update_id;
        spilled_ids_.emplace(update_id, message.chat_id);
        if (!co_await store_->spill(message.chat_id, json->second)) {
            spilled_ids_.erase(update_id);
            break;
        }
        task_json_.erase(update_id);
        ++spilled;
    }
    if (spilled == 0) {
        co_return;
    }
    unqueued_.erase(unqueued_.begin(), unqueued_.begin() + static_cast<std::ptrdiff_t>(spilled));
    spilled_tasks_ += spilled;
    metrics_.tasks_spilled(spilled);
    if (!was_spilling) {
        spdlog::info("the ring is full: spilling tasks to Redis until it has room");
    }
    store_wake_.notify_all();
}

asio::awaitable<void> telegram_bot::unspill_loop() {
    const std::size_t capacity = options_.ring_capacity;
    const std::size_t min_room = std::max<std::size_t>(1, capacity / unspill_ring_fraction);
    while (!senders_done_ && !forced_) {
        if (!unspilled_.empty()) {
            service_->submit(unspilled_);
            if (!unspilled_.empty()) {
                co_await store_wake_.wait_for(5ms);
                continue;
            }
        }
        if (spilled_ids_.empty()) {
            co_await store_wake_.wait_for(100ms);
            continue;
        }
        const std::size_t queued = service_->queued();
        const std::size_t room = queued < capacity ? capacity - queued : 0;
        if (room < min_room) {
            co_await store_wake_.wait_for(5ms);
            continue;
        }
        std::vector<spilled_task> tasks = co_await store_->unspill(room);
        if (tasks.empty()) {
            if (store_->available() && store_->spilled_count() == 0) {
                forget_lost_spills();
            } else {
                co_await store_wake_.wait_for(spill_retry_pause);
            }
            continue;
        }
        std::string body = R"({"ok":true,"result":[)";
        for (std::size_t i = 0; i < tasks.size(); ++i) {
            body += i == 0 ? "" : ",";
            body += tasks[i].json;
        }
        body += "]}";
        parsed_batch batch = update_parser_.parse(body);
        for (parsed_update& update : batch.updates) {
            if (spilled_ids_.erase(update.update_id) == 0) {
                continue;  // not spilled by this run
            }
            unspilled_.push_back(std::move(update.message));
        }
        if (spilled_ids_.empty()) {
            spdlog::info("took back every spilled task from Redis");
        }
    }
}

void telegram_bot::forget_lost_spills() {
    if (spilled_ids_.empty()) {
        return;
    }
    // NOTE: only a Redis that lost its data, or an entry changed by hand, gets here. The
    // updates stay in flight, and pending in Redis if it still has them.
    spdlog::error(
        "{} missing from the Redis spill list {}; their replies are skipped so that their "
        "chats go on, and the next start answers them if they are still in {}",
        count_of(spilled_ids_.size(), "spilled task is", "spilled tasks are"), store_->key("spill"),
        store_->key("pending"));
    for (const auto& [update_id, chat_id] : spilled_ids_) {
        const auto chat = chats_.find(chat_id);
        if (chat == chats_.end()) {
            continue;
        }
        std::erase(chat->second.update_ids, update_id);
        pump_chat(chat_id);
    }
    spilled_ids_.clear();
}

std::optional<parsed_batch> telegram_bot::parse_updates(const std::string& body) {
    parsed_batch batch = update_parser_.parse(body);
    if (batch.repaired) {
        std::string ids;
        if (!batch.updates.empty()) {
            ids = fmt::format(" in updates {} to {}", batch.updates.front().update_id,
                              batch.updates.back().update_id);
        }
        warn_repeated("invalid UTF-8", "getUpdates returned invalid UTF-8 or string escapes" + ids +
                                           "; replaced them");
    }
    if (!batch.usable) {
        return std::nullopt;
    }
    if (batch.without_id > 0) {
        // Without an id an update cannot be confirmed on its own; a later offset covers it,
        // so until then Telegram sends it with every poll.
        malformed_updates_ += batch.without_id;
        warn_repeated("without update_id",
                      "skipped " + count_of(batch.without_id, "update without a numeric update_id",
                                            "updates without a numeric update_id"));
    }
    return batch;
}

std::size_t telegram_bot::accept_parsed_updates(std::vector<parsed_update>& updates) {
    std::size_t fresh = 0;
    const auto now = clock_type::now();
    for (parsed_update& update : updates) {
        if (!begin_update(update.update_id)) {
            continue;  // still in flight, or finished and not yet confirmed
        }
        ++fresh;
        metrics_.update_received(type_of(update));
        received_at_.insert_or_assign(update.update_id, now);
        if (update.type != parsed_update::kind::message) {
            log_skipped_update(update);
            finish(update.update_id);
            continue;
        }
        incoming_message& incoming = update.message;
        switch (incoming.type) {
            case incoming_message::kind::message:
                if (!addressed_to_bot(incoming)) {
                    // The workers would build no reply, so the message is finished here and
                    // counted as ignored rather than as a search.
                    ++unaddressed_messages_;
                    metrics_.update_skipped(skip_reason::ignored);
                    log_event(spdlog::level::debug,
                              {.update_id = incoming.update_id, .chat_id = incoming.chat_id},
                              "ignored update {} in chat {}: not addressed to the bot",
                              incoming.update_id, incoming.chat_id);
                    finish(incoming.update_id);
                    continue;
                }
                if (!admit_query(update)) {
                    continue;
                }
                log_event(spdlog::level::debug,
                          {.update_id = incoming.update_id, .chat_id = incoming.chat_id},
                          "received update {} in chat {}", incoming.update_id, incoming.chat_id);
                if (is_admin_stats_request(incoming)) {
                    answer_stats(incoming);
                    continue;
                }
                break;
            case incoming_message::kind::callback_query:
                log_event(spdlog::level::debug,
                          {.update_id = incoming.update_id, .chat_id = incoming.chat_id},
                          "received button press {} in chat {}", incoming.update_id,
                          incoming.chat_id);
                if (incoming.chat_id == 0) {
                    // The bot sends buttons only with chat messages, so a button on a message
                    // sent in inline mode is not one of its own. It is answered at once.
                    outgoing_reply answer;
                    answer.type = outgoing_reply::kind::callback_answer;
                    answer.update_id = incoming.update_id;
                    answer.callback_query_id = incoming.query_id;
                    answer.callback_text = "This button does not belong to a search of mine.";
                    queue_answer(std::move(answer));
                    continue;
                }
                break;
            case incoming_message::kind::inline_query:
                log_event(spdlog::level::debug, {.update_id = incoming.update_id},
                          "received inline query {}", incoming.update_id);
                if (incoming.text.find_first_not_of(" \t\r\n") == std::string::npos) {
                    // An empty query is what a user has typed right after "@bot": answer with
                    // no results at once rather than through a worker.
                    outgoing_reply answer;
                    answer.type = outgoing_reply::kind::inline_answer;
                    answer.update_id = incoming.update_id;
                    answer.inline_query_id = incoming.query_id;
                    queue_answer(std::move(answer));
                    continue;
                }
                break;
        }
        if (incoming.type != incoming_message::kind::inline_query) {
            chats_[incoming.chat_id].update_ids.push_back(incoming.update_id);
        }
        if (store_ && !options_.webhook) {
            task_json_.insert_or_assign(update.update_id, std::move(update.json));
        }
        unqueued_.push_back(std::move(incoming));
    }
    return fresh;
}

void telegram_bot::warn_repeated(const std::string& key, const std::string& message) {
    const std::optional<std::size_t> held_back = repeated_warnings_.admit(key, clock_type::now());
    if (!held_back) {
        return;
    }
    if (*held_back == 0) {
        spdlog::warn("{}", message);
    } else {
        spdlog::warn("{} (repeated {} since the last such line)", message,
                     count_of(*held_back, "time", "times"));
    }
}

bool telegram_bot::token_rejected(const api_result& result) {
    if (++unauthorized_polls_ < max_unauthorized_polls) {
        return false;  // retried and logged as any other failed poll
    }
    spdlog::error(
        "the Bot API rejected the token (401 Unauthorized): check the token or create a new "
        "one with @BotFather. getUpdates: {}; stopping without sending the queued replies",
        result.description);
    token_rejected_ = true;
    forced_ = true;
    stopping_ = true;
    send_abort_.notify_all();
    for (bot_api_client* client : send_clients_) {
        client->cancel();
    }
    stop_requested_.notify_all();
    offset_moved_.notify_all();
    send_work_.notify_all();
    return true;
}

void telegram_bot::log_skipped_update(const parsed_update& update) {
    const bool malformed = update.type == parsed_update::kind::malformed;
    if (malformed) {
        ++malformed_updates_;
        metrics_.update_skipped(skip_reason::malformed);
    } else {
        ++ignored_updates_;
        metrics_.update_skipped(skip_reason::ignored);
    }
    const log_ids ids{.update_id = update.update_id};
    if (!malformed && update.reason == "message has no text") {
        // Photos, stickers and the like are ordinary, so they are not worth a log line.
        log_event(spdlog::level::debug, ids, "ignored update {}: {}", update.update_id,
                  update.reason);
        return;
    }
    if (logged_skipped_updates_ >= max_logged_skipped_updates) {
        log_event(spdlog::level::debug, ids, "skipped update {}: {}", update.update_id,
                  update.reason);
        return;
    }
    ++logged_skipped_updates_;
    log_event(malformed ? spdlog::level::warn : spdlog::level::info, ids, "skipped update {}: {}",
              update.update_id, update.reason);
    if (logged_skipped_updates_ == max_logged_skipped_updates) {
        spdlog::warn("logged {} skipped updates; further ones are only counted until shutdown",
                     max_logged_skipped_updates);
    }
}

bool telegram_bot::addressed_to_bot(const incoming_message& message) const {
    if (message.chat_type == "private") {
        return true;
    }
    if (message.chat_type != "group" && message.chat_type != "supergroup") {
        return false;  // a channel post, which the workers never answer either
    }
    // In groups the bot replies only to its commands, "/command" or "/command@ThisBot", and
    // to replies to its own messages.
    const std::string_view text = message.text;
    if (!text.starts_with('/')) {
        return bot_id_ != 0 && message.reply_to_user_id == bot_id_;
    }
    const std::string_view command = text.substr(0, text.find_first_of(" \t\n"));
    const std::size_t at = command.find('@');
    if (at == std::string_view::npos) {
        return true;
    }
    const std::string_view username = command.substr(at + 1);
    return std::equal(username.begin(), username.end(), bot_username_.begin(), bot_username_.end(),
                      [](char a, char b) {
                          return std::tolower(static_cast<unsigned char>(a)) ==
                                 std::tolower(static_cast<unsigned char>(b));
                      });
}

bool telegram_bot::admit_query(const parsed_update& update) {
    const auto now = clock_type::now();
    const user_flood_guard::verdict verdict = flood_guard_.check(update.user_id, now);
    if (verdict == user_flood_guard::verdict::accept) {
        return true;
    }
    ++flood_dropped_queries_;
    metrics_.update_skipped(skip_reason::flood_limited);
    const incoming_message& message = update.message;
    const log_ids ids{.update_id = update.update_id, .chat_id = message.chat_id};

    if (verdict == user_flood_guard::verdict::reject) {
        log_event(spdlog::level::debug, ids, "dropped update {} from user {}: over the flood limit",
                  update.update_id, update.user_id);
        finish(update.update_id);
        return false;
    }
    const auto wait = flood_guard_.wait_time(update.user_id, now);
    log_event(spdlog::level::info, ids,
              "user {} in chat {} sends queries too fast; dropping their queries for about {} s "
              "and sending one notice (update {})",
              update.user_id, message.chat_id,
              std::chrono::ceil<std::chrono::seconds>(wait).count(), update.update_id);

    // The notice takes the dropped query's place in its chat, so it is sent in order and
    // finishes the update once it is out.
    chats_[message.chat_id].update_ids.push_back(update.update_id);
    outgoing_reply notice;
    notice.update_id = update.update_id;
    notice.chat_id = message.chat_id;
    notice.reply_to_message_id = message.message_id;
    notice.html = flood_notice_html(wait);
    flood_notice_updates_.insert(update.update_id);
    on_reply(std::move(notice));
    return false;
}

void telegram_bot::on_reply(outgoing_reply reply) {
    if (reply.type == outgoing_reply::kind::inline_answer ||
        (reply.type == outgoing_reply::kind::callback_answer && reply.chat_id == 0)) {
        queue_answer(std::move(reply));
        return;
    }
    if (reply.type == outgoing_reply::kind::message && reply.parts.empty() && !reply.html.empty()) {
        reply.parts = split_html_message(reply.html);
    }
    const std::int64_t chat_id = reply.chat_id;
    const std::int64_t update_id = reply.update_id;
    pending_reply pending;
    pending.reply = std::move(reply);
    chats_[chat_id].ready.insert_or_assign(update_id, std::move(pending));
    pump_chat(chat_id);
}

void telegram_bot::pump_chat(std::int64_t chat_id) {
    const auto found = chats_.find(chat_id);
    if (found == chats_.end()) {
        return;
    }
    chat_queue& chat = found->second;
    while (!chat.sending && !chat.scheduled && !chat.update_ids.empty()) {
        const auto ready = chat.ready.find(chat.update_ids.front());
        if (ready == chat.ready.end()) {
            break;
        }
        const outgoing_reply& reply = ready->second.reply;
        if (reply.type == outgoing_reply::kind::message && reply.parts.empty()) {
            finish(ready->first);
            chat.ready.erase(ready);
            chat.update_ids.pop_front();
            continue;
        }
        chat.scheduled = true;
        scheduler_.enqueue(chat_id);
        send_work_.notify_all();
    }
    if (chat.update_ids.empty() && !chat.sending) {
        chats_.erase(found);
    }
}

void telegram_bot::finish(std::int64_t update_id) {
    received_at_.erase(update_id);
    flood_notice_updates_.erase(update_id);
    if (store_) {
        // Marked at once, before the caller awaits anything else, so that only a crash in
        // this very moment can make the next start answer the update again.
        unsaved_.erase(update_id);
        asio::co_spawn(io_, store_->mark_answered(update_id), asio::detached);
    }
    if (options_.webhook) {
        if (webhook_in_flight_.erase(update_id) != 0) {
            remember_webhook_finished(update_id);
            offset_moved_.notify_all();
        }
        return;
    }
    const std::int64_t before = tracker_.offset();
    tracker_.finish(update_id);
    if (tracker_.offset() != before) {
        offset_moved_.notify_all();
    }
}

asio::awaitable<void> telegram_bot::send_loop() {
    bot_api_client client(io_.get_executor(), options_.endpoint);
    send_clients_.push_back(&client);
    while (!senders_done_) {
        const auto now = clock_type::now();
        clock_type::time_point wake_at;
        const std::optional<std::int64_t> picked = scheduler_.next(now, wake_at);
        if (!picked) {
            // enqueue() notifies send_work_, so a chat that becomes ready sooner ends the wait.
            co_await send_work_.wait_for(std::min<clock_type::duration>(wake_at - now, 1s));
            continue;
        }
        const std::int64_t chat_id = *picked;
        chat_queue& chat = chats_[chat_id];
        chat.scheduled = false;
        chat.sending = true;
        const std::int64_t update_id = chat.update_ids.front();
        auto node = chat.ready.extract(update_id);
        ++active_sends_;
        const send_outcome outcome = co_await send_reply(client, node.mapped());
        --active_sends_;

        // pump_chat never erases a chat while it is sending, so `chat` is still valid.
        chat.sending = false;
        switch (outcome.result) {
            case send_outcome::kind::done:
                chat.update_ids.pop_front();
                finish(update_id);
                break;
            case send_outcome::kind::retry:
            case send_outcome::kind::next_part:
                // The reply stays at the head of its chat, so later replies keep waiting.
                chat.ready.insert(std::move(node));
                chat.scheduled = true;
                scheduler_.enqueue(chat_id, outcome.not_before);
                send_work_.notify_all();
                break;
            case send_outcome::kind::abandoned:
                chat.update_ids.pop_front();
                break;
        }
        pump_chat(chat_id);
    }
    std::erase(send_clients_, &client);
}

asio::awaitable<send_outcome> telegram_bot::send_reply(bot_api_client& client,
                                                       pending_reply& pending) {
    outgoing_reply& reply = pending.reply;
    if (const auto migrated = migrated_chats_.find(reply.chat_id);
        migrated != migrated_chats_.end()) {
        reply.chat_id = migrated->second;
    }
    switch (reply.type) {
        case outgoing_reply::kind::edit:
            co_return co_await send_edit(client, pending);
        case outgoing_reply::kind::callback_answer:
            if (co_await answer_callback(client, reply, reply.callback_text)) {
                reply_sent(api_method::answer_callback_query, reply);
            } else {
                metrics_.reply_dropped(api_method::answer_callback_query);
            }
            co_return send_outcome{};
        case outgoing_reply::kind::message:
        case outgoing_reply::kind::inline_answer:  // on_reply routes these elsewhere
            break;
    }
    co_return co_await send_message_part(client, pending);
}

/// Returns the reply_markup object of a one-row inline keyboard.
boost::json::object keyboard_markup(const std::vector<inline_button>& buttons) {
    boost::json::array row;
    for (const inline_button& button : buttons) {
        boost::json::object item;
        item["text"] = button.text;
        item["callback_data"] = button.callback_data;
        row.push_back(std::move(item));
    }
    boost::json::array rows;
    rows.push_back(std::move(row));
    boost::json::object markup;
    markup["inline_keyboard"] = std::move(rows);
    return markup;
}

asio::awaitable<send_outcome> telegram_bot::send_message_part(bot_api_client& client,
                                                              pending_reply& pending) {
    outgoing_reply& reply = pending.reply;
    while (!forced_ && !senders_done_) {
        const std::string& part = reply.parts[pending.next_part];
        const bool last_part = pending.next_part + 1 == reply.parts.size();
        boost::json::object request;
        request["chat_id"] = reply.chat_id;
        if (pending.as_plain_text) {
            request["text"] = html_to_plain_text(part);
        } else {
            request["text"] = part;
            request["parse_mode"] = "HTML";
        }
        if (last_part && !reply.buttons.empty()) {
            request["reply_markup"] = keyboard_markup(reply.buttons);
        }
        boost::json::object link_preview;
        link_preview["is_disabled"] = true;
        request["link_preview_options"] = std::move(link_preview);
        if (reply.reply_to_message_id != 0) {
            boost::json::object reply_parameters;
            reply_parameters["message_id"] = reply.reply_to_message_id;
            reply_parameters["allow_sending_without_reply"] = true;
            request["reply_parameters"] = std::move(reply_parameters);
        }
        std::string body = boost::json::serialize(request);

        const log_ids ids{.update_id = reply.update_id, .chat_id = reply.chat_id};
        const api_result result =
            co_await call_api(client, api_method::send_message, std::move(body), send_timeout);
        if (result.ok()) {
            log_event(spdlog::level::debug, ids,
                      "sent part {} of {} of the reply to update {} in chat {}",
                      pending.next_part + 1, reply.parts.size(), reply.update_id, reply.chat_id);
            if (last_part) {
                reply_sent(api_method::send_message, reply);
                co_return send_outcome{};
            }
            ++pending.next_part;
            pending.failed_attempts = 0;
            pending.retry_delay = {};
            co_return send_outcome{send_outcome::kind::next_part, clock_type::now()};
        }
        if (result.kind == api_result::status::cancelled) {
            break;
        }
        if (result.kind == api_result::status::api_error) {
            if (result.error_code == 429) {
                const auto wait = std::min<clock_type::duration>(
                    std::chrono::seconds(std::max(1, result.retry_after)), max_retry_after);
                log_event(spdlog::level::warn, ids,
                          "sendMessage to chat {} rate limited (429, retry_after {} s); resending "
                          "the reply to update {} in {} s while other chats go on",
                          reply.chat_id, result.retry_after, reply.update_id,
                          std::chrono::duration_cast<std::chrono::seconds>(wait).count());
                metrics_.call_retried(api_method::send_message);
                co_return send_outcome{send_outcome::kind::retry, clock_type::now() + wait};
            }
            if (result.error_code == 403) {
                log_event(spdlog::level::info, ids,
                          "dropped the reply to update {}: chat {} blocked the bot or removed "
                          "it (403)",
                          reply.update_id, reply.chat_id);
                reply_dropped(api_method::send_message, reply);
                co_return send_outcome{};
            }
            if (result.error_code == 400 && result.migrate_to_chat_id != 0 && !pending.migrated) {
                log_event(spdlog::level::info, ids,
                          "chat {} became supergroup {}; resending the reply to update {} there",
                          reply.chat_id, result.migrate_to_chat_id, reply.update_id);
                migrated_chats_[reply.chat_id] = result.migrate_to_chat_id;
                reply.chat_id = result.migrate_to_chat_id;
                pending.migrated = true;
                metrics_.call_retried(api_method::send_message);
                continue;
            }
            if (result.error_code == 400 && !pending.as_plain_text &&
                result.description.find("can't parse entities") != std::string::npos) {
                log_event(spdlog::level::warn, ids,
                          "Telegram could not parse the HTML of the reply to update {} in chat {} "
                          "({}); resending as plain text",
                          reply.update_id, reply.chat_id, result.description);
                pending.as_plain_text = true;
                metrics_.call_retried(api_method::send_message);
                continue;
            }
            if (result.error_code >= 400 && result.error_code < 500) {
                log_event(spdlog::level::warn, ids,
                          "dropped the reply to update {} in chat {}: {} {}", reply.update_id,
                          reply.chat_id, result.error_code, result.description);
                reply_dropped(api_method::send_message, reply);
                co_return send_outcome{};
            }
        }
        co_return retry_later(api_method::send_message, pending, result);
    }
    log_event(spdlog::level::warn, {.update_id = reply.update_id, .chat_id = reply.chat_id},
              "left the reply to update {} in chat {} unsent: shutting down", reply.update_id,
              reply.chat_id);
    reply_dropped(api_method::send_message, reply);
    co_return send_outcome{send_outcome::kind::abandoned, {}};
}

asio::awaitable<send_outcome> telegram_bot::send_edit(bot_api_client& client,
                                                      pending_reply& pending) {
    outgoing_reply& reply = pending.reply;
    while (!forced_ && !senders_done_) {
        boost::json::object request;
        request["chat_id"] = reply.chat_id;
        request["message_id"] = reply.message_id;
        if (pending.as_plain_text) {
            request["text"] = html_to_plain_text(reply.html);
        } else {
            request["text"] = reply.html;
            request["parse_mode"] = "HTML";
        }
        boost::json::object link_preview;
        link_preview["is_disabled"] = true;
        request["link_preview_options"] = std::move(link_preview);
        if (!reply.buttons.empty()) {
            request["reply_markup"] = keyboard_markup(reply.buttons);
        }
        const log_ids ids{.update_id = reply.update_id, .chat_id = reply.chat_id};
        const api_result result = co_await call_api(client, api_method::edit_message_text,
                                                    boost::json::serialize(request), send_timeout);
        if (result.kind == api_result::status::cancelled) {
            break;
        }
        // A button pressed twice asks for the page the message already shows.
        const bool not_modified =
            result.kind == api_result::status::api_error && result.error_code == 400 &&
            result.description.find("message is not modified") != std::string::npos;
        if (result.ok() || not_modified) {
            log_event(spdlog::level::debug, ids, "edited message {} in chat {} for update {}{}",
                      reply.message_id, reply.chat_id, reply.update_id,
                      not_modified ? " (not modified)" : "");
            reply_sent(api_method::edit_message_text, reply);
            co_await answer_callback(client, reply, "");
            co_return send_outcome{};
        }
        if (result.kind == api_result::status::api_error) {
            if (result.error_code == 429) {
                const auto wait = std::min<clock_type::duration>(
                    std::chrono::seconds(std::max(1, result.retry_after)), max_retry_after);
                log_event(spdlog::level::warn, ids,
                          "editMessageText in chat {} rate limited (429, retry_after {} s); "
                          "editing for update {} again in {} s while other chats go on",
                          reply.chat_id, result.retry_after, reply.update_id,
                          std::chrono::duration_cast<std::chrono::seconds>(wait).count());
                metrics_.call_retried(api_method::edit_message_text);
                co_return send_outcome{send_outcome::kind::retry, clock_type::now() + wait};
            }
            if (result.error_code == 400 && !pending.as_plain_text &&
                result.description.find("can't parse entities") != std::string::npos) {
                log_event(spdlog::level::warn, ids,
                          "Telegram could not parse the HTML of the edit for update {} in chat {} "
                          "({}); editing as plain text",
                          reply.update_id, reply.chat_id, result.description);
                pending.as_plain_text = true;
                metrics_.call_retried(api_method::edit_message_text);
                continue;
            }
            if (result.error_code >= 400 && result.error_code < 500) {
                // The message was deleted, is too old to edit, or the bot left the chat.
                log_event(spdlog::level::info, ids,
                          "could not edit message {} in chat {} for update {}: {} {}",
                          reply.message_id, reply.chat_id, reply.update_id, result.error_code,
                          result.description);
                metrics_.reply_dropped(api_method::edit_message_text);
                co_await answer_callback(client, reply, edit_failed_text);
                co_return send_outcome{};
            }
        }
        const send_outcome outcome = retry_later(api_method::edit_message_text, pending, result);
        if (outcome.result == send_outcome::kind::done) {
            co_await answer_callback(client, reply, edit_failed_text);
        }
        co_return outcome;
    }
    log_event(spdlog::level::warn, {.update_id = reply.update_id, .chat_id = reply.chat_id},
              "left the edit for update {} in chat {} undone: shutting down", reply.update_id,
              reply.chat_id);
    metrics_.reply_dropped(api_method::edit_message_text);
    co_return send_outcome{send_outcome::kind::abandoned, {}};
}

asio::awaitable<bool> telegram_bot::answer_callback(bot_api_client& client,
                                                    const outgoing_reply& reply,
                                                    std::string_view text) {
    boost::json::object request;
    request["callback_query_id"] = reply.callback_query_id;
    if (!text.empty()) {
        request["text"] = text;
    }
    const std::string body = boost::json::serialize(request);
    const log_ids ids{.update_id = reply.update_id,
                      .chat_id = reply.chat_id != 0 ? std::optional(reply.chat_id) : std::nullopt};
    for (int attempt = 0; attempt < 2 && !forced_; ++attempt) {
        const api_result result =
            co_await call_api(client, api_method::answer_callback_query, body, answer_timeout);
        if (result.ok()) {
            log_event(spdlog::level::debug, ids, "answered button press {}", reply.update_id);
            co_return true;
        }
        if (result.kind == api_result::status::cancelled) {
            co_return false;
        }
        if (result.kind == api_result::status::api_error && result.error_code < 500) {
            if (result.description.find("query is too old") != std::string::npos) {
                // The answer came too late, and Telegram no longer accepts one.
                log_event(spdlog::level::debug, ids,
                          "button press {} expired before it was answered", reply.update_id);
            } else {
                log_event(spdlog::level::warn, ids,
                          "answerCallbackQuery for update {} failed: {} {}", reply.update_id,
                          result.error_code, result.description);
            }
            co_return false;
        }
        log_event(spdlog::level::warn, ids, "answerCallbackQuery for update {} failed: {}{}",
                  reply.update_id, result.description, attempt == 0 ? "; trying once more" : "");
        if (attempt == 0) {
            metrics_.call_retried(api_method::answer_callback_query);
        }
    }
    co_return false;
}

void telegram_bot::queue_answer(outgoing_reply reply) {
    answers_.push_back(pending_answer{std::move(reply), clock_type::now() + inline_answer_window});
    answer_work_.notify_all();
}

asio::awaitable<void> telegram_bot::answer_loop() {
    bot_api_client client(io_.get_executor(), options_.endpoint);
    send_clients_.push_back(&client);
    while (!senders_done_) {
        if (answers_.empty()) {
            co_await answer_work_.wait_for(1s);
            continue;
        }
        const pending_answer answer = std::move(answers_.front());
        answers_.pop_front();
        co_await send_answer(client, answer);
        finish(answer.reply.update_id);
    }
    std::erase(send_clients_, &client);
}

asio::awaitable<void> telegram_bot::send_answer(bot_api_client& client,
                                                const pending_answer& answer) {
    const outgoing_reply& reply = answer.reply;
    if (reply.type == outgoing_reply::kind::callback_answer) {
        if (co_await answer_callback(client, reply, reply.callback_text)) {
            reply_sent(api_method::answer_callback_query, reply);
        } else {
            metrics_.reply_dropped(api_method::answer_callback_query);
        }
        co_return;
    }

    boost::json::array results;
    for (const inline_article& article : reply.articles) {
        boost::json::object content;
        content["message_text"] = article.message_html;
        content["parse_mode"] = "HTML";
        boost::json::object link_preview;
        link_preview["is_disabled"] = true;
        content["link_preview_options"] = std::move(link_preview);
        boost::json::object result;
        result["type"] = "article";
        result["id"] = article.id;
        result["title"] = article.title;
        result["input_message_content"] = std::move(content);
        if (!article.description.empty()) {
            result["description"] = article.description;
        }
        if (!article.url.empty()) {
            result["url"] = article.url;
        }
        results.push_back(std::move(result));
    }
    boost::json::object request;
    request["inline_query_id"] = reply.inline_query_id;
    request["results"] = std::move(results);
    request["cache_time"] = inline_cache_seconds;
    request["is_personal"] = false;
    request["next_offset"] = reply.next_offset;
    const std::string body = boost::json::serialize(request);

    const log_ids ids{.update_id = reply.update_id};
    while (!forced_ && !senders_done_) {
        const auto remaining = answer.deadline - clock_type::now();
        if (remaining <= clock_type::duration::zero()) {
            log_event(
                spdlog::level::warn, ids,
                "dropped the answer to inline query {}: not sent within {} s", reply.update_id,
                std::chrono::duration_cast<std::chrono::seconds>(inline_answer_window).count());
            metrics_.reply_dropped(api_method::answer_inline_query);
            co_return;
        }
        const auto timeout = std::min<clock_type::duration>(remaining, answer_timeout);
        const api_result result = co_await call_api(
            client, api_method::answer_inline_query, body,
            std::max(std::chrono::milliseconds(1),
                     std::chrono::duration_cast<std::chrono::milliseconds>(timeout)));
        if (result.ok()) {
            log_event(spdlog::level::debug, ids, "answered inline query {} with {} results",
                      reply.update_id, reply.articles.size());
            reply_sent(api_method::answer_inline_query, reply);
            co_return;
        }
        if (result.kind == api_result::status::cancelled) {
            break;
        }
        if (result.kind == api_result::status::api_error) {
            if (result.error_code == 400 &&
                result.description.find("query is too old") != std::string::npos) {
                // Telegram gave up on the query: the user typed on or waited more than 10 s.
                log_event(spdlog::level::debug, ids,
                          "inline query {} expired before it was answered", reply.update_id);
                metrics_.reply_dropped(api_method::answer_inline_query);
                co_return;
            }
            if (result.error_code == 429 && std::chrono::seconds(result.retry_after) < remaining) {
                log_event(spdlog::level::warn, ids,
                          "answerInlineQuery for update {} rate limited (429, retry_after {} s); "
                          "retrying",
                          reply.update_id, result.retry_after);
                metrics_.call_retried(api_method::answer_inline_query);
                co_await sleep(std::chrono::seconds(result.retry_after));
                continue;
            }
            if (result.error_code < 500) {
                log_event(spdlog::level::warn, ids, "dropped the answer to inline query {}: {} {}",
                          reply.update_id, result.error_code, result.description);
                metrics_.reply_dropped(api_method::answer_inline_query);
                co_return;
            }
        }
        log_event(spdlog::level::warn, ids, "answerInlineQuery for update {} failed: {}; retrying",
                  reply.update_id, result.description);
        metrics_.call_retried(api_method::answer_inline_query);
        co_await sleep(answer_retry_delay);
    }
    // Cut off by shutdown.
    metrics_.reply_dropped(api_method::answer_inline_query);
}

asio::awaitable<void> telegram_bot::publish_commands() {
    // Telegram shows these in the command menu. Descriptions are 1..256 characters.
    boost::json::array commands;
    for (const auto& [command, description] :
         {std::pair{"search", "Search the documents: /search words"},
          std::pair{"help", "How to search here, in groups and inline"},
          std::pair{"about", "What this bot searches"}}) {
        boost::json::object item;
        item["command"] = command;
        item["description"] = description;
        commands.push_back(std::move(item));
    }
    boost::json::object request;
    request["commands"] = std::move(commands);
    const std::string body = boost::json::serialize(request);

    bot_api_client client(io_.get_executor(), options_.endpoint);
    send_clients_.push_back(&client);
    clock_type::duration delay{};
    for (int attempt = 1; attempt <= max_command_attempts && !stopping_; ++attempt) {
        const api_result result =
            co_await call_api(client, api_method::set_my_commands, body, send_timeout);
        if (result.ok()) {
            spdlog::info("published the bot's commands: /search, /help, /about");
            break;
        }
        if (result.kind == api_result::status::cancelled) {
            break;
        }
        const bool last = attempt == max_command_attempts ||
                          (result.kind == api_result::status::api_error &&
                           result.error_code >= 400 && result.error_code < 500);
        spdlog::warn("setMyCommands failed: {}{}", result.description,
                     last ? "; Telegram clients will show no command menu" : "; trying again");
        if (last) {
            break;
        }
        metrics_.call_retried(api_method::set_my_commands);
        co_await sleep(next_retry_delay(delay));
    }
    std::erase(send_clients_, &client);
}

send_outcome telegram_bot::retry_later(api_method method, pending_reply& pending,
                                       const api_result& result) {
    const outgoing_reply& reply = pending.reply;
    const log_ids ids{.update_id = reply.update_id, .chat_id = reply.chat_id};
    if (++pending.failed_attempts >= max_send_attempts) {
        log_event(spdlog::level::err, ids,
                  "dropped the reply to update {} in chat {} after {} failed attempts: {}",
                  reply.update_id, reply.chat_id, pending.failed_attempts, result.description);
        metrics_.reply_dropped(method);
        return send_outcome{};
    }
    const auto wait = next_retry_delay(pending.retry_delay);
    log_event(spdlog::level::warn, ids, "{} to chat {} for update {} failed: {}; retrying in {} ms",
              api_method_name(method), reply.chat_id, reply.update_id, result.description,
              std::chrono::duration_cast<std::chrono::milliseconds>(wait).count());
    metrics_.call_retried(method);
    return send_outcome{send_outcome::kind::retry, clock_type::now() + wait};
}

asio::awaitable<void> telegram_bot::confirm_offset() {
    const std::int64_t offset = confirmable_offset();
    const std::string request =
        fmt::format(R"({{"offset":{},"timeout":0,"limit":1,"allowed_updates":{}}})", offset,
                    allowed_updates_json);
    const api_result result =
        co_await call_api(poll_client_, api_method::get_updates, request, confirm_timeout);
    if (result.ok()) {
        spdlog::info("confirmed updates up to offset {}", offset);
    } else {
        spdlog::warn("could not confirm offset {}: {}; Telegram will deliver those updates again",
                     offset, result.description);
    }
}

}  // namespace

int run_telegram_bot(std::shared_ptr<const search_index> index, const telegram_options& options) {
    asio::io_context io(1);
    telegram_bot bot(io, std::move(index), options);
    int exit_code = 1;
    asio::co_spawn(io, bot.run(), [&exit_code](std::exception_ptr error, int code) {
        if (error) {
            try {
                std::rethrow_exception(error);
            } catch (const std::exception& failure) {
                spdlog::critical("the Telegram bot stopped on an unexpected error: {}",
                                 failure.what());
            }
            exit_code = 1;
            return;
        }
        exit_code = code;
    });
    io.run();
    return exit_code;
}

}  // namespace tgsearch
