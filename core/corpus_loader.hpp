#pragma once

#include "core/document.hpp"

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace tgsearch {

enum class corpus_format {
    detect,           ///< decide from the file's name and first bytes
    jsonl,            ///< one {"id","title","text","url"} object per line
    telegram_export,  ///< Telegram Desktop's result.json (single chat or full account)
};

/// Parses "detect", "jsonl" or "telegram" (also "telegram-export"). Throws
/// std::invalid_argument naming the value and the accepted ones.
corpus_format parse_corpus_format(std::string_view name);

/// A record that could not be loaded. `line` is 1-based; for a Telegram export it is the line
/// where the message object starts, or 0 when it is unknown.
struct load_error {
    std::string file;
    std::size_t line = 0;
    std::string reason;
};

struct load_report {
    std::size_t loaded = 0;   ///< documents appended to the output
    std::size_t skipped = 0;  ///< malformed records reported through the error callback
    std::size_t ignored = 0;  ///< records deliberately left out (service messages, empty text)
};

using load_error_handler = std::function<void(const load_error&)>;

/// Loads every document in the file at `path` and appends them to `out`. Gzip-compressed files
/// are detected by their magic bytes and read directly. A malformed record is reported to
/// `on_error` and skipped; loading goes on. Throws std::runtime_error naming the path when the
/// file cannot be read or is not in the requested format at all.
load_report load_corpus_file(const std::filesystem::path& path, corpus_format format,
                             std::vector<document>& out, const load_error_handler& on_error);

/// Loads documents from bytes already in memory (possibly gzip-compressed). `name` stands for
/// the file name in errors and in format detection.
load_report load_corpus_bytes(std::string_view name, std::string_view bytes, corpus_format format,
                              std::vector<document>& out, const load_error_handler& on_error);

}  // namespace tgsearch
