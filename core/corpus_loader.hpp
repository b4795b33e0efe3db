#pragma once

#include "core/document.hpp"

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace tgsearch {

/// Layout of a corpus file.
///
/// JSON Lines: one {"id", "title", "text", "url"} object per line, other fields ignored.
/// `url` may be null or missing. `id` may be a string or an integer and, when missing, becomes
/// "<file name>:<line>". A record needs a non-empty `text` or `title`.
///
/// Telegram Desktop export: a single chat ({"type", "id", "messages": [...]}) or a full account
/// ({"chats": {"list": [...]}, "left_chats": {"list": [...]}}). Each message with text becomes a
/// document with id "<chat id>:<message id>", the text's first line (cut to 80 code points) as
/// title, and for channels and supergroups the link "https://t.me/c/<chat id>/<message id>".
enum class corpus_format {
    detect,           ///< decide from the file's name, then from its first non-blank line
    jsonl,            ///< JSON Lines, also called NDJSON
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
/// (with one or more members) are detected by their magic bytes and decompressed in memory.
/// A malformed record is reported to `on_error`, which may be empty, and skipped; loading goes
/// on. Blank JSONL lines, service messages and messages without text are left out silently.
///
/// With corpus_format::detect, a name ending in .jsonl, .jsonl.gz, .ndjson or .ndjson.gz means
/// JSON Lines, and result.json or a name ending in .json or .json.gz means a Telegram export.
/// Otherwise a first non-blank line that is one complete JSON object means JSON Lines, unless
/// that object has a "messages" or "chats" field (an export written on one line). Any other
/// first line starting with '{' means a Telegram export.
///
/// Throws std::runtime_error naming the path when the file cannot be read or decompressed,
/// when its format cannot be detected, or when a Telegram export is not valid JSON or has
/// neither "messages" nor "chats". `out` is then left as it was.
load_report load_corpus_file(const std::filesystem::path& path, corpus_format format,
                             std::vector<document>& out, const load_error_handler& on_error);

/// Loads documents from bytes already in memory (possibly gzip-compressed), like
/// load_corpus_file. `name` stands for the file name in errors, generated ids and format
/// detection.
load_report load_corpus_bytes(std::string_view name, std::string_view bytes, corpus_format format,
                              std::vector<document>& out, const load_error_handler& on_error);

/// Removes every document whose id repeats an earlier one, keeping the first and the order,
/// so that a file given twice does not show up twice in every result list. Returns how many
/// were removed and stores the first repeated id in `first_duplicate`.
std::size_t remove_duplicate_ids(std::vector<document>& docs, std::string& first_duplicate);

}  // namespace tgsearch
