#include "app/search_service.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <utility>

namespace tgsearch {

search_service::search_service(std::shared_ptr<const search_index> index, std::string bot_username,
                               std::size_t worker_count, std::size_t ring_capacity,
                               reply_sink on_reply)
    : index_(std::move(index)),
      builder_(*index_, std::move(bot_username)),
      on_reply_(std::move(on_reply)),
      ring_(ring_capacity),
      workers_(ring_, worker_count, [this](incoming_message& message) {
          outgoing_reply reply;
          try {
              reply = builder_.reply_to(message);
          } catch (const std::exception& error) {
              // A reply that cannot be built must still finish the update, or its offset would
              // never be confirmed and Telegram would send it again forever.
              spdlog::error("failed to build reply for update {} in chat {}: {}", message.update_id,
                            message.chat_id, error.what());
              reply.update_id = message.update_id;
              reply.chat_id = message.chat_id;
              reply.html = "Sorry, this search failed. Please try again later.";
          }
          on_reply_(std::move(reply));
      }) {}

search_service::~search_service() { shutdown(); }

std::size_t search_service::submit(std::vector<incoming_message>& messages) {
    const auto end = ring_.try_push_bulk(messages.begin(), messages.end());
    const auto queued = static_cast<std::size_t>(end - messages.begin());
    messages.erase(messages.begin(), end);
    return queued;
}

void search_service::shutdown() {
    ring_.close();
    workers_.join();
}

}  // namespace tgsearch
