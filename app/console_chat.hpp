#pragma once

#include "core/search_index.hpp"

#include <cstddef>
#include <istream>
#include <memory>
#include <ostream>

namespace tgsearch {

struct console_options {
    std::size_t workers = 1;
    std::size_t ring_capacity = 1024;
    bool interactive = false;  ///< print a prompt before each query (stdin and stdout are a TTY)
};

/// Runs the console chat: reads one query per line from `input`, sends each through the same
/// ring, workers and renderer as the Telegram bot, and writes each reply to `output` as a chat
/// would show it, in input order, followed by a blank line. Returns at end of input, after the
/// last reply is written.
void run_console_chat(std::shared_ptr<const search_index> index, const console_options& options,
                      std::istream& input, std::ostream& output);

}  // namespace tgsearch
