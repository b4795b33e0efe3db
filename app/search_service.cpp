#include "app/search_service.hpp"

#include "app/logging.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <exception>
#include <iterator>
#include <utility>

namespace tgsearch {

search_service::search_service(std::shared_ptr<const search_index> index, std::string bot_username,
                               std::size_t worker_count, std::size_t ring_capacity,
                               reply_sink on_reply)
    : search_service(std::move(index),
                     reply_settings{std::move(bot_username), 0, results_per_reply, nullptr},
                     worker_count, ring_capacity, std::move(on_reply)) {}

search_service::search_service(std::shared_ptr<const search_index> index, reply_settings settings,
                               std::size_t worker_count, std::size_t ring_capacity,
                               reply_sink on_reply, search_service_metrics metrics)
    : index_(std::move(index)),
      builder_(*index_, std::move(settings)),
      on_reply_(std::move(on_reply)),
      metrics_(metrics),
      ring_(ring_capacity),
      inline_ring_(inline_ring_capacity),
      workers_(ring_, worker_count, [this](incoming_message& message) { answer(message); }),
      inline_workers_(inline_ring_, 1, [this](incoming_message& message) { answer(message); }) {}

search_service::~search_service() { shutdown(); }

histogram* search_service::histogram_for(incoming_message::kind type) const {
    switch (type) {
        case incoming_message::kind::message:
            return metrics_.message_seconds;
        case incoming_message::kind::callback_query:
            return metrics_.callback_query_seconds;
        case incoming_message::kind::inline_query:
            return metrics_.inline_query_seconds;
    }
    return nullptr;
}

void search_service::answer(incoming_message& message) {
    histogram* const time_histogram = histogram_for(message.type);
    const auto started = time_histogram != nullptr ? std::chrono::steady_clock::now()
                                                   : std::chrono::steady_clock::time_point{};
    outgoing_reply reply;
    try {
        reply = builder_.reply_to(message);
    } catch (const std::exception& error) {
        // A reply that cannot be built must still finish the update, or its offset would never
        // be confirmed and Telegram would send it again forever. A button press or an inline
        // query still needs its answer, so the reply keeps their ids.
        log_event(spdlog::level::err, {.update_id = message.update_id, .chat_id = message.chat_id},
                  "failed to build reply for update {} in chat {}: {}", message.update_id,
                  message.chat_id, error.what());
        reply = outgoing_reply{};
        reply.update_id = message.update_id;
        reply.chat_id = message.chat_id;
        const std::string failed = "Sorry, this search failed. Please try again later.";
        switch (message.type) {
            case incoming_message::kind::message:
                reply.html = failed;
                reply.parts = {failed};
                break;
            case incoming_message::kind::callback_query:
                reply.type = outgoing_reply::kind::callback_answer;
                reply.callback_query_id = message.query_id;
                reply.callback_text = failed;
                break;
            case incoming_message::kind::inline_query:
                reply.type = outgoing_reply::kind::inline_answer;
                reply.inline_query_id = message.query_id;
                break;
        }
    }
    if (time_histogram != nullptr) {
        time_histogram->observe(std::chrono::steady_clock::now() - started);
    }
    on_reply_(std::move(reply));
}

std::size_t search_service::submit(std::vector<incoming_message>& messages) {
    std::vector<incoming_message> chat_messages;
    std::vector<incoming_message> inline_queries;
    for (incoming_message& message : messages) {
        (message.type == incoming_message::kind::inline_query ? inline_queries : chat_messages)
            .push_back(std::move(message));
    }
    const auto chat_end = ring_.try_push_bulk(chat_messages.begin(), chat_messages.end());
    const auto inline_end =
        inline_ring_.try_push_bulk(inline_queries.begin(), inline_queries.end());
    const auto queued = static_cast<std::size_t>((chat_end - chat_messages.begin()) +
                                                 (inline_end - inline_queries.begin()));
    messages.clear();
    messages.insert(messages.end(), std::make_move_iterator(chat_end),
                    std::make_move_iterator(chat_messages.end()));
    messages.insert(messages.end(), std::make_move_iterator(inline_end),
                    std::make_move_iterator(inline_queries.end()));
    return queued;
}

void search_service::shutdown() {
    ring_.close();
    inline_ring_.close();
    workers_.join();
    inline_workers_.join();
}

}  // namespace tgsearch
