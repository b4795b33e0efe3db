#pragma once

// Loading of Telegram Desktop exports (result.json): a single chat or a full account.

#include "core/corpus_loader.hpp"
#include "core/corpus_loader_detail.hpp"
#include "core/document.hpp"

#include <cstddef>
#include <string_view>
#include <vector>

namespace tgsearch::detail {

/// Appends a document for each text message of the export in `content`, read from byte `start`
/// on, to `out`. Reports each malformed message, chat or chat list to `on_error` and skips it.
/// Throws std::runtime_error naming `name` when the export is not valid JSON, when its top-level
/// value is not an object, or when it has neither "messages" nor "chats". `out` may then keep part
/// of the documents, which the caller removes.
load_report load_telegram_export(std::string_view name, const padded_buffer& content,
                                 std::size_t start, std::vector<document>& out,
                                 const load_error_handler& on_error);

}  // namespace tgsearch::detail
