#pragma once

// Gzip decompression of corpus files, in memory and into a buffer simdjson can parse in place.

#include "core/corpus_loader_detail.hpp"

#include <string_view>

namespace tgsearch::detail {

/// Checks whether `bytes` start with the gzip magic bytes 1f 8b.
bool is_gzip(std::string_view bytes);

/// Decompresses every member of the gzip data `compressed` and ignores zero bytes after the last
/// member. Throws std::runtime_error naming `name` when the data is corrupt or truncated, or when
/// other data follows it.
padded_buffer gunzip(std::string_view name, std::string_view compressed);

}  // namespace tgsearch::detail
