#pragma once

// Loading of JSON Lines corpora: one document per line.

#include "core/corpus_loader.hpp"
#include "core/corpus_loader_detail.hpp"
#include "core/document.hpp"

#include <cstddef>
#include <string_view>
#include <vector>

namespace tgsearch::detail {

/// Appends a document for each JSON Lines record of `content`, read from byte `start` on, to
/// `out`. Reports each malformed line to `on_error` and skips it. `name` is the file name used
/// in errors and generated ids. Throws only what `on_error` or allocation throws.
load_report load_jsonl(std::string_view name, const padded_buffer& content, std::size_t start,
                       std::vector<document>& out, const load_error_handler& on_error);

}  // namespace tgsearch::detail
