#include "core/gzip.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <memory>
#include <stdexcept>

namespace tgsearch::detail {

namespace {

/// Deflate cannot compress better than about 1032:1, so a larger size hint is corrupt.
constexpr std::size_t max_deflate_ratio = 1032;

}  // namespace

bool is_gzip(std::string_view bytes) {
    return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
           static_cast<unsigned char>(bytes[1]) == 0x8b;
}

/// Decompresses every member of a gzip file. Concatenated .gz files form one file of several
/// members, which gzip(1) reads as one stream.
gunzip_result gunzip(std::string_view name, std::string_view compressed) {
    z_stream stream{};
    // 16 + MAX_WBITS: expect a gzip header and trailer rather than a raw zlib stream.
    if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) {
        throw std::runtime_error(
            fmt::format("cannot decompress {}: zlib initialisation failed", name));
    }
    const std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&stream, inflateEnd);

    // The last four bytes contain the uncompressed size (mod 2^32) of the last member. That is
    // exact for the usual single-member file and only a starting point otherwise.
    std::size_t size_hint = compressed.size() * 4;
    if (compressed.size() >= 18) {
        const auto* tail =
            reinterpret_cast<const unsigned char*>(compressed.data() + compressed.size() - 4);
        const std::size_t last_member_size =
            tail[0] | (tail[1] << 8) | (tail[2] << 16) | (static_cast<std::size_t>(tail[3]) << 24);
        size_hint =
            std::min(std::max(size_hint, last_member_size), compressed.size() * max_deflate_ratio);
    }
    gunzip_result result;
    padded_buffer& out = result.content;
    out.reserve(std::max<std::size_t>(size_hint, 4096));

    std::size_t consumed = 0;
    for (;;) {
        if (stream.avail_in == 0) {
            const std::size_t chunk = std::min<std::size_t>(compressed.size() - consumed, UINT_MAX);
            stream.next_in =
                reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()) + consumed);
            stream.avail_in = static_cast<uInt>(chunk);
            consumed += chunk;
        }
        if (out.size() == out.capacity()) {
            out.reserve(out.capacity() * 2);
        }
        const std::size_t room = std::min<std::size_t>(out.capacity() - out.size(), UINT_MAX);
        stream.next_out = reinterpret_cast<Bytef*>(out.data() + out.size());
        stream.avail_out = static_cast<uInt>(room);

        const int status = inflate(&stream, Z_NO_FLUSH);
        out.resize(out.size() + (room - stream.avail_out));

        if (status == Z_STREAM_END) {
            const std::string_view rest = compressed.substr(consumed - stream.avail_in);
            if (is_gzip(rest)) {
                inflateReset(&stream);
                continue;
            }
            // gzip(1) also accepts zero bytes after the last member, which tar and dd append.
            if (rest.find_first_not_of('\0') != std::string_view::npos) {
                result.damage = "other data follows the gzip data";
            }
            return result;
        }
        if (status == Z_BUF_ERROR && stream.avail_in == 0 && consumed == compressed.size()) {
            result.damage = "the gzip data is truncated";
            return result;
        }
        if (status != Z_OK && status != Z_BUF_ERROR) {
            result.damage = fmt::format("the gzip data is corrupt ({})",
                                        stream.msg ? stream.msg : "invalid gzip data");
            return result;
        }
    }
}

}  // namespace tgsearch::detail
