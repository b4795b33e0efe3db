#pragma once

// Gzip decompression of corpus files, in memory and into a buffer simdjson can parse in place.

#include "core/corpus_loader_detail.hpp"

#include <string>
#include <string_view>

namespace tgsearch::detail {

/// Checks whether `bytes` start with the gzip magic bytes 1f 8b.
bool is_gzip(std::string_view bytes);

/// Decompressed content, and the damage that ended decompression early, if any.
struct gunzip_result {
    padded_buffer content;  ///< every byte decompressed, up to the damage if there is one
    /// Description of the damage, such as "the gzip data is truncated". Empty when every member
    /// decompressed and nothing but zero bytes follows the last one.
    std::string damage;
};

/// Decompresses every member of the gzip data `compressed` and ignores zero bytes after the last
/// member. Truncated or corrupt data, or other data after it, ends decompression with the bytes
/// decompressed so far and the damage described. Throws std::runtime_error naming `name` only
/// when zlib cannot start.
gunzip_result gunzip(std::string_view name, std::string_view compressed);

}  // namespace tgsearch::detail
