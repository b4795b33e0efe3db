#include "app/update_store.hpp"

#include <spdlog/spdlog.h>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>

namespace tgsearch {
namespace {

namespace asio = boost::asio;

/// Pending ids checked against the answered set per ZSCORE pipeline, and answered ids per
/// ZADD, so that one request stays a few hundred KB at most.
constexpr std::size_t ids_per_request = 1000;

/// Malformed entries logged one by one per request; the rest are counted in one more line.
constexpr std::size_t reported_entries_per_request = 10;

std::optional<std::int64_t> parse_int64(std::string_view text) {
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

/// Checks that `json` is an object whose "update_id" is `update_id`. Returns the problem, or
/// an empty string when it is.
std::string check_update_json(std::string_view json, std::int64_t update_id) {
    boost::system::error_code error;
    const boost::json::value value = boost::json::parse(json, error);
    if (error) {
        return "not JSON: " + error.message();
    }
    if (!value.is_object()) {
        return "not a JSON object";
    }
    const boost::json::value* id = value.as_object().if_contains("update_id");
    if (id == nullptr || !id->is_int64() || id->as_int64() != update_id) {
        return "its update_id is not " + std::to_string(update_id);
    }
    return {};
}

std::string count_of(std::size_t count, std::string_view one, std::string_view many) {
    return std::to_string(count) + " " + std::string(count == 1 ? one : many);
}

}  // namespace

update_store::update_store(redis_client& client, update_store_options options)
    : client_(client),
      options_(std::move(options)),
      prefix_("tgsearch:" + std::to_string(options_.bot_id) + ":"),
      offset_key_(key("offset")),
      pending_key_(key("pending")),
      answered_key_(key("answered")),
      spill_key_(key("spill")) {}

std::int64_t update_store::now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               options_.clock().time_since_epoch())
        .count();
}

asio::awaitable<std::optional<std::vector<redis_reply>>> update_store::run(
    std::vector<redis_command> commands, std::string_view operation) {
    auto result = co_await client_.pipeline(std::move(commands));
    co_return check(std::move(result), operation);
}

std::optional<std::vector<redis_reply>> update_store::check(
    redis_result<std::vector<redis_reply>> result, std::string_view operation) {
    if (result) {
        // A Redis that requires a password (or another one) replies NOAUTH or WRONGPASS to
        // every command. It is as unusable as an unreachable one, not a store of bad data.
        for (const redis_reply& reply : result.value()) {
            if (reply.is_error() &&
                (reply.text.starts_with("NOAUTH") || reply.text.starts_with("WRONGPASS"))) {
                result = redis_result<std::vector<redis_reply>>(redis_error{
                    redis_error::kind::auth_failed,
                    reply.text + "; put the password in the Redis URL (redis://:password@host) "
                                 "or in TGSEARCH_REDIS_URL"});
                break;
            }
        }
    }
    if (result) {
        if (!available_) {
            spdlog::info("Redis at {} is reachable again; {} suppressed while it was down",
                         client_.endpoint().display,
                         count_of(suppressed_warnings_, "warning was", "warnings were"));
            available_ = true;
            suppressed_warnings_ = 0;
        }
        return std::move(result.value());
    }
    available_ = false;
    const auto now = std::chrono::steady_clock::now();
    if (!warned_down_ || now - last_down_warning_ >= options_.warning_interval) {
        spdlog::warn(
            "Redis unavailable while trying to {}: {}; serving from memory with {} to write "
            "later{}",
            operation, result.error().message,
            count_of(backlog_size(), "backlogged write", "backlogged writes"),
            suppressed_warnings_ == 0
                ? std::string()
                : " (" + count_of(suppressed_warnings_, "similar warning", "similar warnings") +
                      " suppressed)");
        warned_down_ = true;
        last_down_warning_ = now;
        suppressed_warnings_ = 0;
    } else {
        ++suppressed_warnings_;
    }
    return std::nullopt;
}

void update_store::report_entries(const std::string& key,
                                  const std::vector<std::string>& problems) {
    const std::size_t shown = std::min(problems.size(), reported_entries_per_request);
    for (std::size_t i = 0; i < shown; ++i) {
        spdlog::warn("skipped unexpected data under Redis key {}: {}", key, problems[i]);
    }
    if (problems.size() > shown) {
        spdlog::warn("skipped {} more unexpected entries under Redis key {}",
                     problems.size() - shown, key);
    }
}

void update_store::report_malformed(const std::string& key, const std::string& problem) {
    const auto now = std::chrono::steady_clock::now();
    const auto last = malformed_warnings_.find(key);
    if (last != malformed_warnings_.end() && now - last->second < options_.warning_interval) {
        spdlog::debug("skipped unexpected data under Redis key {}: {}", key, problem);
        return;
    }
    malformed_warnings_[key] = now;
    spdlog::warn("skipped unexpected data under Redis key {}: {}", key, problem);
}

asio::awaitable<bool> update_store::save_received(const std::vector<received_update>& updates) {
    if (updates.empty()) {
        co_return true;
    }
    co_await flush();
    redis_command hset{"HSET", pending_key_};
    for (const received_update& update : updates) {
        hset.push_back(std::to_string(update.update_id));
        hset.push_back(update.json);
    }
    std::vector<redis_command> commands;
    commands.push_back(std::move(hset));
    commands.push_back({"PEXPIRE", pending_key_,
                        std::to_string(std::chrono::milliseconds(options_.retention).count())});
    const auto replies = co_await run(std::move(commands), "save received updates");
    if (!replies) {
        co_return false;
    }
    if ((*replies)[0].is_error()) {
        report_malformed(pending_key_, "HSET failed: " + (*replies)[0].text +
                                           "; delete the key to let the bot use it");
        co_return false;
    }
    co_return true;
}

asio::awaitable<bool> update_store::mark_answered(std::int64_t update_id) {
    if (answered_backlog_.size() >= options_.max_backlog && options_.max_backlog > 0) {
        answered_backlog_.pop_front();
        ++dropped_backlog_;
    }
    if (options_.max_backlog > 0) {
        answered_backlog_.push_back({update_id, now_ms()});
    }
    co_return co_await flush();
}

asio::awaitable<bool> update_store::flush() {
    if (offset_backlog_ && offset_backlog_->version <= written_offset_version_) {
        offset_backlog_.reset();  // a newer offset is already in Redis
    }
    if (answered_backlog_.empty() && !offset_backlog_) {
        co_return true;
    }

    // Taken out before the request, so that an operation that runs meanwhile starts a backlog
    // of its own rather than writing these twice.
    const std::size_t taken = std::min(answered_backlog_.size(), ids_per_request);
    std::vector<answered_entry> answered(answered_backlog_.begin(),
                                         answered_backlog_.begin() + static_cast<long>(taken));
    answered_backlog_.erase(answered_backlog_.begin(),
                            answered_backlog_.begin() + static_cast<long>(taken));
    std::optional<offset_entry> offset = std::exchange(offset_backlog_, std::nullopt);

    const std::string retention_ms =
        std::to_string(std::chrono::milliseconds(options_.retention).count());
    std::vector<redis_command> commands;
    if (!answered.empty()) {
        redis_command zadd{"ZADD", answered_key_};
        redis_command hdel{"HDEL", pending_key_};
        for (const answered_entry& entry : answered) {
            zadd.push_back(std::to_string(entry.answered_at_ms));
            zadd.push_back(std::to_string(entry.update_id));
            hdel.push_back(std::to_string(entry.update_id));
        }
        commands.push_back(std::move(zadd));
        commands.push_back(std::move(hdel));
        const std::int64_t oldest_kept =
            now_ms() - std::chrono::milliseconds(options_.retention).count();
        commands.push_back(
            {"ZREMRANGEBYSCORE", answered_key_, "-inf", "(" + std::to_string(oldest_kept)});
        commands.push_back({"PEXPIRE", answered_key_, retention_ms});
    }
    if (offset) {
        commands.push_back({"HSET", offset_key_, "offset", std::to_string(offset->offset),
                            "saved_at", std::to_string(offset->saved_at)});
        commands.push_back({"PEXPIRE", offset_key_, retention_ms});
    }

    auto result = co_await client_.pipeline(std::move(commands));
    if (!result) {
        // Restored first, so that the warning counts these writes too.
        restore_backlog(std::move(answered), offset);
    }
    const auto replies = check(std::move(result), "write answered ids and the offset");
    if (!replies) {
        co_return false;
    }
    if (dropped_backlog_ > 0) {
        spdlog::warn(
            "dropped the oldest {} while Redis was down, because the backlog holds at most {}; "
            "after a crash those updates may be answered again",
            count_of(dropped_backlog_, "answered id", "answered ids"), options_.max_backlog);
        dropped_backlog_ = 0;
    }
    // An error reply here means a key of another type: retrying would fail the same way.
    std::size_t index = 0;
    if (!answered.empty()) {
        if ((*replies)[0].is_error()) {
            report_malformed(answered_key_, "ZADD failed: " + (*replies)[0].text +
                                                "; delete the key to let the bot use it");
        }
        if ((*replies)[1].is_error()) {
            report_malformed(pending_key_, "HDEL failed: " + (*replies)[1].text);
        }
        index = 4;
    }
    if (offset) {
        if ((*replies)[index].is_error()) {
            report_malformed(offset_key_, "HSET failed: " + (*replies)[index].text +
                                              "; delete the key to let the bot use it");
        } else {
            written_offset_version_ = std::max(written_offset_version_, offset->version);
        }
    }
    if (!answered_backlog_.empty() || offset_backlog_) {
        co_return co_await flush();
    }
    co_return true;
}

void update_store::restore_backlog(std::vector<answered_entry> answered,
                                   std::optional<offset_entry> offset) {
    answered_backlog_.insert(answered_backlog_.begin(), answered.begin(), answered.end());
    while (answered_backlog_.size() > options_.max_backlog) {
        answered_backlog_.pop_front();
        ++dropped_backlog_;
    }
    if (offset && (!offset_backlog_ || offset_backlog_->version < offset->version)) {
        offset_backlog_ = offset;
    }
}

asio::awaitable<std::optional<bool>> update_store::was_answered(std::int64_t update_id) {
    for (const answered_entry& entry : answered_backlog_) {
        if (entry.update_id == update_id) {
            co_return true;
        }
    }
    co_await flush();
    std::vector<redis_command> commands;
    commands.push_back({"ZSCORE", answered_key_, std::to_string(update_id)});
    const auto replies = co_await run(std::move(commands), "check an answered id");
    if (!replies) {
        co_return std::nullopt;
    }
    const redis_reply& score = (*replies)[0];
    if (score.is_nil()) {
        co_return false;
    }
    if (score.is_error()) {
        report_malformed(answered_key_, "ZSCORE failed: " + score.text);
        co_return std::nullopt;
    }
    const std::int64_t oldest_kept =
        now_ms() - std::chrono::milliseconds(options_.retention).count();
    co_return std::strtod(score.text.c_str(), nullptr) >= static_cast<double>(oldest_kept);
}

asio::awaitable<std::optional<std::set<std::int64_t>>> update_store::answered_among(
    const std::vector<std::int64_t>& update_ids) {
    std::set<std::int64_t> answered;
    std::vector<std::int64_t> unknown;
    for (const std::int64_t update_id : update_ids) {
        const bool in_backlog = std::any_of(
            answered_backlog_.begin(), answered_backlog_.end(),
            [update_id](const answered_entry& entry) { return entry.update_id == update_id; });
        if (in_backlog) {
            answered.insert(update_id);
        } else {
            unknown.push_back(update_id);
        }
    }
    if (unknown.empty()) {
        co_return answered;
    }
    co_await flush();
    std::vector<redis_command> commands;
    commands.reserve(unknown.size());
    for (const std::int64_t update_id : unknown) {
        commands.push_back({"ZSCORE", answered_key_, std::to_string(update_id)});
    }
    const auto replies = co_await run(std::move(commands), "check answered ids");
    if (!replies) {
        co_return std::nullopt;
    }
    const double oldest_kept =
        static_cast<double>(now_ms() - std::chrono::milliseconds(options_.retention).count());
    for (std::size_t i = 0; i < unknown.size(); ++i) {
        const redis_reply& score = (*replies)[i];
        if (score.is_error()) {
            report_malformed(answered_key_, "ZSCORE failed: " + score.text);
            co_return std::nullopt;
        }
        if (!score.is_nil() && std::strtod(score.text.c_str(), nullptr) >= oldest_kept) {
            answered.insert(unknown[i]);
        }
    }
    co_return answered;
}

asio::awaitable<std::optional<std::int64_t>> update_store::load_offset() {
    co_await flush();
    std::vector<redis_command> commands;
    commands.push_back({"HMGET", offset_key_, "offset", "saved_at"});
    const auto replies = co_await run(std::move(commands), "load the offset");
    if (!replies) {
        co_return std::nullopt;
    }

    const redis_reply& fields = (*replies)[0];
    if (fields.is_error()) {
        report_malformed(offset_key_, "HMGET failed: " + fields.text);
        co_return std::nullopt;
    }
    if (fields.type != redis_reply::kind::array || fields.elements.size() != 2) {
        report_malformed(offset_key_, "HMGET returned " + describe_reply(fields));
        co_return std::nullopt;
    }
    if (fields.elements[0].is_nil() && fields.elements[1].is_nil()) {
        spdlog::info("no getUpdates offset stored in Redis under {}", offset_key_);
        co_return std::nullopt;
    }
    const auto offset = parse_int64(fields.elements[0].text);
    const auto saved_at = parse_int64(fields.elements[1].text);
    if (fields.elements[0].is_nil() || fields.elements[1].is_nil() || !offset || !saved_at) {
        report_malformed(offset_key_, "expected integer fields offset and saved_at, found " +
                                          describe_reply(fields));
        co_return std::nullopt;
    }

    const std::int64_t now = now_ms() / 1000;
    const auto retention = options_.retention.count();
    if (now - *saved_at > retention) {
        spdlog::info(
            "discarded the stored getUpdates offset {}: it was saved {} s ago, more than the {} "
            "s that Telegram keeps updates",
            *offset, now - *saved_at, retention);
        co_return std::nullopt;
    }
    co_return offset;
}

asio::awaitable<bool> update_store::save_offset(std::int64_t offset) {
    offset_backlog_ = offset_entry{offset, now_ms() / 1000, ++offset_version_};
    co_return co_await flush();
}

asio::awaitable<std::vector<received_update>> update_store::load_pending() {
    co_await flush();
    std::vector<redis_command> commands;
    commands.push_back({"HGETALL", pending_key_});
    const auto replies = co_await run(std::move(commands), "load pending updates");
    if (!replies) {
        co_return std::vector<received_update>{};
    }
    std::vector<std::string> removals;
    auto updates = parse_pending((*replies)[0], removals);
    if (!updates) {
        co_return std::vector<received_update>{};
    }
    co_await remove_answered(*updates, removals);
    if (!removals.empty()) {
        redis_command hdel{"HDEL", pending_key_};
        hdel.insert(hdel.end(), removals.begin(), removals.end());
        std::vector<redis_command> removal;
        removal.push_back(std::move(hdel));
        co_await run(std::move(removal), "remove pending updates");
    }
    std::sort(updates->begin(), updates->end(),
              [](const received_update& a, const received_update& b) {
                  return a.update_id < b.update_id;
              });
    co_return std::move(*updates);
}

std::optional<std::vector<received_update>> update_store::parse_pending(
    const redis_reply& reply, std::vector<std::string>& removals) {
    if (reply.is_error()) {
        report_malformed(pending_key_, "HGETALL failed: " + reply.text);
        return std::nullopt;
    }
    if (reply.type != redis_reply::kind::array || reply.elements.size() % 2 != 0) {
        report_malformed(pending_key_, "HGETALL returned " + describe_reply(reply));
        return std::nullopt;
    }
    std::vector<received_update> updates;
    std::vector<std::string> problems;
    for (std::size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
        const std::string& field = reply.elements[i].text;
        const std::string& value = reply.elements[i + 1].text;
        const auto update_id = parse_int64(field);
        std::string problem;
        if (!update_id) {
            problem = "the field is not an update_id";
        } else {
            problem = check_update_json(value, *update_id);
        }
        if (!problem.empty()) {
            problems.push_back("removed field \"" + field + "\": " + problem);
            removals.push_back(field);
            continue;
        }
        updates.push_back({*update_id, value});
    }
    report_entries(pending_key_, problems);
    return updates;
}

asio::awaitable<void> update_store::remove_answered(std::vector<received_update>& updates,
                                                    std::vector<std::string>& removals) {
    const std::int64_t oldest_kept =
        now_ms() - std::chrono::milliseconds(options_.retention).count();
    std::vector<received_update> unanswered;
    for (std::size_t start = 0; start < updates.size(); start += ids_per_request) {
        const std::size_t end = std::min(updates.size(), start + ids_per_request);
        std::vector<redis_command> commands;
        for (std::size_t i = start; i < end; ++i) {
            commands.push_back({"ZSCORE", answered_key_, std::to_string(updates[i].update_id)});
        }
        const auto replies = co_await run(std::move(commands), "check answered ids");
        for (std::size_t i = start; i < end; ++i) {
            const redis_reply* score = replies ? &(*replies)[i - start] : nullptr;
            if (score != nullptr && score->is_error()) {
                report_malformed(answered_key_, "ZSCORE failed: " + score->text);
            }
            // Unknown counts as unanswered: answering twice beats never answering.
            const bool answered =
                score != nullptr && score->type == redis_reply::kind::bulk &&
                std::strtod(score->text.c_str(), nullptr) >= static_cast<double>(oldest_kept);
            if (answered) {
                removals.push_back(std::to_string(updates[i].update_id));
            } else {
                unanswered.push_back(std::move(updates[i]));
            }
        }
    }
    updates = std::move(unanswered);
}

asio::awaitable<bool> update_store::spill(std::int64_t chat_id, std::string_view task_json) {
    co_await flush();
    std::string entry = std::to_string(chat_id);
    entry += ' ';
    entry += task_json;
    std::vector<redis_command> commands;
    commands.push_back({"RPUSH", spill_key_, std::move(entry)});
    commands.push_back({"PEXPIRE", spill_key_,
                        std::to_string(std::chrono::milliseconds(options_.retention).count())});
    const auto replies = co_await run(std::move(commands), "spill a task");
    if (!replies) {
        co_return false;
    }
    if ((*replies)[0].is_error()) {
        report_malformed(spill_key_, "RPUSH failed: " + (*replies)[0].text +
                                         "; delete the key to let the bot use it");
        co_return false;
    }
    spilled_count_ = static_cast<std::size_t>(std::max<std::int64_t>(0, (*replies)[0].integer));
    co_return true;
}

asio::awaitable<std::vector<spilled_task>> update_store::unspill(std::size_t max) {
    std::vector<spilled_task> tasks;
    if (max == 0) {
        co_return tasks;
    }
    co_await flush();
    // MULTI makes reading and trimming one step, so no task is returned twice or skipped.
    std::vector<redis_command> commands;
    commands.push_back({"MULTI"});
    commands.push_back({"LRANGE", spill_key_, "0", std::to_string(max - 1)});
    commands.push_back({"LTRIM", spill_key_, std::to_string(max), "-1"});
    commands.push_back({"LLEN", spill_key_});
    commands.push_back({"EXEC"});
    const auto replies = co_await run(std::move(commands), "take back spilled tasks");
    if (!replies) {
        co_return tasks;
    }

    const redis_reply& exec = replies->back();
    if (exec.type != redis_reply::kind::array || exec.elements.size() != 3) {
        report_malformed(spill_key_, "EXEC returned " + describe_reply(exec));
        co_return tasks;
    }
    const redis_reply& range = exec.elements[0];
    if (range.is_error()) {
        report_malformed(spill_key_,
                         "LRANGE failed: " + range.text + "; delete the key to let the bot use it");
        co_return tasks;
    }
    if (exec.elements[2].type == redis_reply::kind::integer) {
        spilled_count_ =
            static_cast<std::size_t>(std::max<std::int64_t>(0, exec.elements[2].integer));
    }

    tasks.reserve(range.elements.size());
    std::vector<std::string> problems;
    for (const redis_reply& element : range.elements) {
        const std::string& entry = element.text;
        const std::size_t space = entry.find(' ');
        const auto chat_id =
            space == std::string::npos ? std::nullopt : parse_int64(entry.substr(0, space));
        boost::system::error_code error;
        if (chat_id) {
            boost::json::parse(std::string_view(entry).substr(space + 1), error);
        }
        if (!chat_id || error) {
            problems.push_back("dropped an entry that is not \"<chat_id> <task JSON>\": " +
                               describe_reply(element));
            continue;
        }
        tasks.push_back({*chat_id, entry.substr(space + 1)});
    }
    report_entries(spill_key_, problems);
    co_return tasks;
}

asio::awaitable<bool> update_store::discard_spill() {
    std::vector<redis_command> commands;
    commands.push_back({"DEL", spill_key_});
    const auto replies = co_await run(std::move(commands), "discard spilled tasks");
    if (!replies) {
        co_return false;
    }
    if ((*replies)[0].integer > 0) {
        spdlog::info(
            "discarded the spilled tasks of the last run under {}; their updates are "
            "in {}",
            spill_key_, pending_key_);
    }
    spilled_count_ = 0;
    co_return true;
}

}  // namespace tgsearch
