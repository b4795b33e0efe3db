#include "app/console_chat.hpp"

#include "app/search_service.hpp"
#include "core/html.hpp"

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tgsearch {
namespace {

/// The console plays a single private chat; these ids only have to be consistent.
constexpr std::int64_t console_chat_id = 1;

/// Replies arrive from the workers in any order; this puts them back in input order.
class reply_reorderer {
public:
    void add(outgoing_reply reply) {
        {
            std::lock_guard lock(mutex_);
            ready_.emplace(reply.update_id, std::move(reply.html));
        }
        changed_.notify_all();
    }

    /// Waits for the reply to message `id` and returns its HTML.
    std::string take(std::int64_t id) {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return ready_.contains(id); });
        auto node = ready_.extract(id);
        return std::move(node.mapped());
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::map<std::int64_t, std::string> ready_;
};

}  // namespace

void run_console_chat(std::shared_ptr<const search_index> index, const console_options& options,
                      std::istream& input, std::ostream& output) {
    reply_reorderer replies;
    search_service service(std::move(index), "", options.workers, options.ring_capacity,
                           [&replies](outgoing_reply reply) { replies.add(std::move(reply)); });

    std::mutex progress_mutex;
    std::condition_variable progress;
    std::int64_t submitted = 0;  // messages 1..submitted are queued
    std::int64_t printed = 0;    // replies 1..printed are written
    bool input_done = false;

    // The printer runs beside the reader so that piped input is searched in parallel while
    // replies still come out in input order.
    std::thread printer([&] {
        for (std::int64_t next = 1;; ++next) {
            {
                std::unique_lock lock(progress_mutex);
                progress.wait(lock, [&] { return next <= submitted || input_done; });
                if (next > submitted) {
                    return;
                }
            }
            const std::string html = replies.take(next);
            // Telegram users see nothing for a message the bot ignores. The console prints a note
            // instead, so that every input line still gets one reply block.
            output << (html.empty() ? std::string("(no reply: the message is not addressed to "
                                                  "the bot)")
                                    : html_to_plain_text(html))
                   << "\n\n";
            {
                std::lock_guard lock(progress_mutex);
                printed = next;
                if (options.interactive && printed == submitted) {
                    output << "> ";
                }
            }
            output.flush();
            progress.notify_all();
        }
    });

    if (options.interactive) {
        output << "Type a query and press Enter; Ctrl-D quits.\n> " << std::flush;
    }
    std::string line;
    std::vector<incoming_message> batch;
    while (std::getline(input, line)) {
        incoming_message message;
        message.chat_id = console_chat_id;
        message.chat_type = "private";
        message.text = std::move(line);
        {
            std::lock_guard lock(progress_mutex);
            message.update_id = submitted + 1;
            message.message_id = message.update_id;
        }
        batch.push_back(std::move(message));
        // A full ring means the workers are behind: wait for a reply to be printed, which
        // frees room, rather than spin.
        while (service.submit(batch) == 0) {
            std::unique_lock lock(progress_mutex);
            const std::int64_t seen = printed;
            progress.wait(lock, [&] { return printed != seen; });
        }
        {
            std::lock_guard lock(progress_mutex);
            ++submitted;
        }
        progress.notify_all();
    }
    {
        std::lock_guard lock(progress_mutex);
        input_done = true;
    }
    progress.notify_all();
    printer.join();
    service.shutdown();
    if (options.interactive) {
        output << "\n" << std::flush;  // end the last prompt's line after Ctrl-D
    }
}

}  // namespace tgsearch
