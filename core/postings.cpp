#include "core/postings.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

namespace tgsearch::detail {
namespace {

/// Bits needed for `value`; 0 for 0, so an all-zero array (the usual title counts) is free.
unsigned bit_width_of(std::uint32_t value) { return static_cast<unsigned>(std::bit_width(value)); }

/// Appends `count` values of `width` bits each, least significant bit first.
void pack(const std::uint32_t* values, std::size_t count, unsigned width,
          std::vector<std::uint8_t>& out) {
    if (width == 0) return;
    std::uint64_t buffer = 0;
    unsigned buffered = 0;
    for (std::size_t i = 0; i < count; ++i) {
        buffer |= static_cast<std::uint64_t>(values[i]) << buffered;
        buffered += width;
        while (buffered >= 8) {
            out.push_back(static_cast<std::uint8_t>(buffer));
            buffer >>= 8;
            buffered -= 8;
        }
    }
    if (buffered > 0) out.push_back(static_cast<std::uint8_t>(buffer));
}

/// Reads `count` values of `width` bits. Each value is taken from an unaligned 8-byte load at
/// its first byte: a value starts at most 7 bits into that byte and is at most 32 bits wide,
/// so it always lies inside the load. Eight values fill exactly `width` bytes, so with the
/// width a template argument, every shift and offset within a group of eight is a constant.
template <unsigned width>
void unpack_fixed(const std::uint8_t* data, std::size_t count, std::uint32_t* values) {
    constexpr std::uint64_t mask = (std::uint64_t{1} << width) - 1;
    std::size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        const std::uint8_t* group = data + i / 8 * width;
#pragma GCC unroll 8
        for (unsigned j = 0; j < 8; ++j) {
            std::uint64_t word;
            std::memcpy(&word, group + j * width / 8, sizeof(word));
            values[i + j] = static_cast<std::uint32_t>((word >> (j * width % 8)) & mask);
        }
    }
    for (; i < count; ++i) {
        const std::size_t bit = i * width;
        std::uint64_t word;
        std::memcpy(&word, data + bit / 8, sizeof(word));
        values[i] = static_cast<std::uint32_t>((word >> (bit % 8)) & mask);
    }
}

using unpack_function = void (*)(const std::uint8_t*, std::size_t, std::uint32_t*);

template <std::size_t... widths>
constexpr std::array<unpack_function, sizeof...(widths)> make_unpackers(
    std::index_sequence<widths...>) {
    return {&unpack_fixed<widths>...};
}

/// unpack_fixed for each width from 0 to 32 bits.
constexpr std::array<unpack_function, 33> unpackers =
    make_unpackers(std::make_index_sequence<33>());

const std::uint8_t* unpack(const std::uint8_t* data, std::size_t count, unsigned width,
                           std::uint32_t* values) {
    if (width == 0) {
        std::fill(values, values + count, 0u);
        return data;
    }
    // Widths above 32 come only from a damaged stream. Clamping keeps the call in the table.
    unpackers[std::min(width, 32u)](data, count, values);
    return data + (count * width + 7) / 8;
}

/// Bytes of the longest varint of a 32-bit value.
constexpr std::size_t max_varint_bytes = 5;

}  // namespace

std::uint32_t read_varint(const std::uint8_t*& data) {
    std::uint32_t value = 0;
    for (unsigned shift = 0;; shift += 7) {
        const std::uint8_t byte = *data++;
        value |= static_cast<std::uint32_t>(byte & 0x7F) << shift;
        if (byte < 0x80) return value;
    }
}

void encode_block(const posting_entry* entries, std::size_t count, std::uint32_t first_doc_floor,
                  std::vector<std::uint8_t>& out) {
    std::uint32_t gaps[posting_block_size];
    std::uint32_t titles[posting_block_size];
    std::uint32_t bodies[posting_block_size];
    std::uint32_t floor = first_doc_floor;
    std::uint32_t max_gap = 0;
    std::uint32_t max_title = 0;
    std::uint32_t max_body = 0;
    for (std::size_t i = 0; i < count; ++i) {
        // Documents are distinct and ascending, so the gap to the previous one minus one is
        // never negative, and consecutive documents cost 0 bits.
        gaps[i] = entries[i].doc - floor;
        floor = entries[i].doc + 1;
        titles[i] = entries[i].title_tf;
        bodies[i] = entries[i].body_tf;
        max_gap = std::max(max_gap, gaps[i]);
        max_title = std::max(max_title, titles[i]);
        max_body = std::max(max_body, bodies[i]);
    }
    const unsigned gap_width = bit_width_of(max_gap);
    const unsigned title_width = bit_width_of(max_title);
    const unsigned body_width = bit_width_of(max_body);
    out.push_back(static_cast<std::uint8_t>(gap_width));
    out.push_back(static_cast<std::uint8_t>(title_width));
    out.push_back(static_cast<std::uint8_t>(body_width));
    pack(gaps, count, gap_width, out);
    pack(titles, count, title_width, out);
    pack(bodies, count, body_width, out);
}

const std::uint8_t* decode_block(const std::uint8_t* data, std::size_t count,
                                 std::uint32_t first_doc_floor, std::uint32_t* docs,
                                 std::uint32_t* title_tf, std::uint32_t* body_tf) {
    const unsigned gap_width = data[0];
    const unsigned title_width = data[1];
    const unsigned body_width = data[2];
    data += 3;
    data = unpack(data, count, gap_width, docs);
    data = unpack(data, count, title_width, title_tf);
    data = unpack(data, count, body_width, body_tf);
    std::uint32_t floor = first_doc_floor;
    for (std::size_t i = 0; i < count; ++i) {
        docs[i] += floor;
        floor = docs[i] + 1;
    }
    return data;
}

namespace {

void append_bytes(std::vector<std::uint8_t>& out, const void* value, std::size_t size) {
    const auto* bytes = static_cast<const std::uint8_t*>(value);
    out.insert(out.end(), bytes, bytes + size);
}

/// Appends the positions of `count` entries as varint deltas, restarting at each entry.
void append_positions(const posting_entry* entries, std::size_t count,
                      std::vector<std::uint8_t>& out) {
    // Sized for the longest varints first and trimmed after, so the loop writes through a
    // pointer instead of growing the vector a byte at a time.
    std::size_t most = 0;
    for (std::size_t i = 0; i < count; ++i) {
        if (entries[i].positions != nullptr) most += entries[i].title_tf + entries[i].body_tf;
    }
    if (most == 0) return;
    const std::size_t start = out.size();
    out.resize(start + most * max_varint_bytes);
    std::uint8_t* next = out.data() + start;
    for (std::size_t i = 0; i < count; ++i) {
        if (entries[i].positions == nullptr) continue;
        std::uint32_t previous = 0;
        const std::uint32_t total = entries[i].title_tf + entries[i].body_tf;
        for (std::uint32_t k = 0; k < total; ++k) {
            std::uint32_t value = entries[i].positions[k] - previous;
            previous = entries[i].positions[k];
            while (value >= 0x80) {
                *next++ = static_cast<std::uint8_t>(value | 0x80);
                value >>= 7;
            }
            *next++ = static_cast<std::uint8_t>(value);
        }
    }
    out.resize(static_cast<std::size_t>(next - out.data()));
}

float max_saturation_of(const posting_entry* entries, std::size_t count) {
    float result = 0.0f;
    for (std::size_t i = 0; i < count; ++i) result = std::max(result, entries[i].saturation);
    return result;
}

}  // namespace

std::size_t encode_posting_list(const posting_entry* entries, std::size_t count,
                                std::vector<std::uint8_t>& out) {
    const std::size_t record = out.size();
    const float list_max = max_saturation_of(entries, count);
    append_bytes(out, &list_max, sizeof(list_max));
    if (count <= posting_block_size) {
        encode_block(entries, count, 0, out);
        append_positions(entries, count, out);
        return record;
    }
    const std::size_t block_count = (count + posting_block_size - 1) / posting_block_size;
    const std::size_t directory = out.size();
    out.resize(directory + block_count * sizeof(posting_block));
    std::uint32_t floor = 0;
    for (std::size_t block = 0; block < block_count; ++block) {
        const posting_entry* first = entries + block * posting_block_size;
        const std::size_t entry_count =
            std::min(posting_block_size, count - block * posting_block_size);
        posting_block info;
        info.last_doc = first[entry_count - 1].doc;
        info.max_saturation = max_saturation_of(first, entry_count);
        info.data_offset = static_cast<std::uint32_t>(out.size() - record);
        encode_block(first, entry_count, floor, out);
        info.position_offset = static_cast<std::uint32_t>(out.size() - record);
        append_positions(first, entry_count, out);
        std::memcpy(out.data() + directory + block * sizeof(posting_block), &info, sizeof(info));
        floor = info.last_doc + 1;
    }
    return record;
}

posting_cursor::posting_cursor(const std::uint8_t* stream, std::size_t offset,
                               std::uint32_t doc_frequency)
    : record_(stream + offset),
      block_count_((doc_frequency + posting_block_size - 1) / posting_block_size),
      doc_frequency_(doc_frequency) {
    if (block_count_ == 0) return;
    std::memcpy(&list_max_saturation_, record_, sizeof(list_max_saturation_));
    load_block(0);
}

posting_block posting_cursor::directory_entry(std::size_t block) const {
    posting_block info;
    std::memcpy(&info, record_ + sizeof(float) + block * sizeof(posting_block), sizeof(info));
    return info;
}

std::uint32_t posting_cursor::last_doc_of(std::size_t block) const {
    // A single block is decoded from the start, and its directory is implicit.
    if (block_count_ == 1) return docs_[block_entries_ - 1];
    std::uint32_t last_doc;
    std::memcpy(
        &last_doc,
        record_ + sizeof(float) + block * sizeof(posting_block) + offsetof(posting_block, last_doc),
        sizeof(last_doc));
    return last_doc;
}

float posting_cursor::max_saturation_of_block(std::size_t block) const {
    if (block_count_ == 1) return list_max_saturation_;
    return directory_entry(block).max_saturation;
}

void posting_cursor::load_block(std::size_t block) {
    block_ = block;
    index_ = 0;
    if (block >= block_count_) {
        doc_ = no_more_docs;
        return;
    }
    block_entries_ = std::min(posting_block_size, doc_frequency_ - block * posting_block_size);
    if (block_count_ == 1) {
        block_positions_ =
            decode_block(record_ + sizeof(float), block_entries_, 0, docs_, title_tf_, body_tf_);
    } else {
        const posting_block info = directory_entry(block);
        const std::uint32_t floor = block == 0 ? 0 : last_doc_of(block - 1) + 1;
        decode_block(record_ + info.data_offset, block_entries_, floor, docs_, title_tf_, body_tf_);
        block_positions_ = record_ + info.position_offset;
    }
    position_data_ = block_positions_;
    position_index_ = 0;
    doc_ = docs_[0];
}

void posting_cursor::advance_to(std::uint32_t target) {
    if (doc_ == no_more_docs) return;
    if (last_doc_of(block_) < target) {
        // Skip whole blocks by their directory entries before decoding anything.
        load_block(shallow_block(target));
        if (doc_ == no_more_docs || doc_ >= target) return;
    }
    while (docs_[index_] < target) ++index_;
    doc_ = docs_[index_];
}

std::size_t posting_cursor::shallow_block(std::uint32_t target) {
    shallow_block_ = find_block(std::max(shallow_block_, block_), block_count_, target,
                                [this](std::size_t block) { return last_doc_of(block); });
    return shallow_block_;
}

float posting_cursor::block_max_saturation(std::uint32_t target) {
    const std::size_t block = shallow_block(target);
    return block < block_count_ ? max_saturation_of_block(block) : 0.0f;
}

std::uint32_t posting_cursor::block_last_doc(std::uint32_t target) {
    const std::size_t block = shallow_block(target);
    return block < block_count_ ? last_doc_of(block) : no_more_docs;
}

void posting_cursor::read_positions(std::vector<std::uint32_t>& out) {
    out.clear();
    if (doc_ == no_more_docs) return;
    if (position_index_ > index_) {
        position_data_ = block_positions_;
        position_index_ = 0;
    }
    // Skip the positions of the block's earlier entries: a varint ends at each byte below 0x80.
    for (; position_index_ < index_; ++position_index_) {
        std::uint32_t remaining = title_tf_[position_index_] + body_tf_[position_index_];
        while (remaining > 0) {
            if (*position_data_++ < 0x80) --remaining;
        }
    }
    const std::uint8_t* data = position_data_;
    const std::uint32_t count = title_tf_[index_] + body_tf_[index_];
    out.reserve(count);
    std::uint32_t position = 0;
    for (std::uint32_t i = 0; i < count; ++i) {
        position += read_varint(data);
        out.push_back(position);
    }
}

// ---------------------------------------------------------------------------------------------
// Validation of posting lists read from an index file

namespace {

[[noreturn]] void reject_list(const std::string& problem) { throw std::invalid_argument(problem); }

/// Checks that `size` bytes from `at` lie within the first `data_size` bytes of the stream.
void require_bytes(std::size_t data_size, std::size_t at, std::size_t size, const char* what) {
    if (at > data_size || size > data_size - at) {
        reject_list(std::string(what) + " extends past the end of the posting stream");
    }
}

void check_saturation(const std::uint8_t* data, const char* what) {
    float saturation;
    std::memcpy(&saturation, data, sizeof(saturation));
    // A NaN or infinite bound would break the ordering that ranking relies on.
    if (!std::isfinite(saturation) || saturation < 0.0f) {
        reject_list(std::string(what) + " is " + std::to_string(saturation) +
                    ", not a finite non-negative number");
    }
}

/// One decoded block.
struct checked_block {
    std::uint32_t docs[posting_block_size];
    std::uint32_t title_tf[posting_block_size];
    std::uint32_t body_tf[posting_block_size];
};

/// Checks and decodes the block of `count` entries at `at`, whose first document is at or
/// after `floor`. Returns the offset one past the block.
std::size_t check_block(std::span<const std::uint8_t> stream, std::size_t data_size, std::size_t at,
                        std::size_t count, std::uint32_t floor, std::uint32_t document_count,
                        checked_block& out) {
    require_bytes(data_size, at, 3, "a block header");
    const std::uint8_t* data = stream.data() + at;
    std::size_t size = 3;
    for (std::size_t k = 0; k < 3; ++k) {
        if (data[k] > 32) {
            reject_list("a block has a bit width of " + std::to_string(data[k]) +
                        ", above the maximum of 32");
        }
        size += (count * data[k] + 7) / 8;
    }
    require_bytes(data_size, at, size, "a block");
    // The block ends inside the records, so decode_block's reads past it stay in the padding.
    decode_block(data, count, floor, out.docs, out.title_tf, out.body_tf);
    std::uint64_t next_floor = floor;
    for (std::size_t i = 0; i < count; ++i) {
        // decode_block adds in 32 bits, so a gap that overflows leaves a document below the
        // floor.
        if (out.docs[i] < next_floor) {
            reject_list("its documents are not ascending, or a gap overflows 32 bits");
        }
        if (out.docs[i] >= document_count) {
            reject_list("it contains document " + std::to_string(out.docs[i]) +
                        ", but the index has " + std::to_string(document_count) + " documents");
        }
        next_floor = std::uint64_t{out.docs[i]} + 1;
        const std::uint64_t occurrences = std::uint64_t{out.title_tf[i]} + out.body_tf[i];
        if (occurrences == 0 || occurrences > std::numeric_limits<std::uint32_t>::max()) {
            reject_list("document " + std::to_string(out.docs[i]) + " has " +
                        std::to_string(occurrences) + " occurrences, outside 1 to 2^32 - 1");
        }
    }
    return at + size;
}

/// Checks the positions of the `count` entries of `block` at `at`: title_tf + body_tf varints
/// per entry, each at most 5 bytes, whose running sum fits 32 bits. Returns the offset one past
/// them.
std::size_t check_positions(std::span<const std::uint8_t> stream, std::size_t data_size,
                            std::size_t at, std::size_t count, const checked_block& block) {
    for (std::size_t i = 0; i < count; ++i) {
        const std::uint64_t total = std::uint64_t{block.title_tf[i]} + block.body_tf[i];
        std::uint64_t position = 0;
        for (std::uint64_t k = 0; k < total; ++k) {
            std::uint64_t value = 0;
            for (unsigned shift = 0;; shift += 7) {
                if (at >= data_size) {
                    reject_list("the positions extend past the end of the posting stream");
                }
                const std::uint8_t byte = stream[at++];
                if (shift == 28 && byte > 0x0F) {
                    reject_list("a position varint does not fit 32 bits");
                }
                value |= std::uint64_t{byte & 0x7Fu} << shift;
                if (byte < 0x80) break;
            }
            position += value;
            if (position > std::numeric_limits<std::uint32_t>::max()) {
                reject_list("a position of document " + std::to_string(block.docs[i]) +
                            " does not fit 32 bits");
            }
        }
    }
    return at;
}

}  // namespace

std::size_t check_posting_list(std::span<const std::uint8_t> stream, std::size_t data_size,
                               std::size_t offset, std::uint32_t doc_frequency,
                               std::uint32_t document_count) {
    if (doc_frequency == 0) reject_list("its document frequency is 0");
    if (data_size + posting_stream_padding > stream.size()) {
        reject_list("the posting stream lacks its padding");
    }
    require_bytes(data_size, offset, sizeof(float), "the list's header");
    check_saturation(stream.data() + offset, "the list's maximum saturation");
    checked_block block;
    const std::size_t block_count = (doc_frequency + posting_block_size - 1) / posting_block_size;
    if (block_count == 1) {
        const std::size_t end = check_block(stream, data_size, offset + sizeof(float),
                                            doc_frequency, 0, document_count, block);
        return check_positions(stream, data_size, end, doc_frequency, block);
    }
    const std::size_t directory = offset + sizeof(float);
    require_bytes(data_size, directory, block_count * sizeof(posting_block), "the block directory");
    // The cursors find blocks through the directory alone, so each entry must point exactly
    // where the encoder put its block, and its last document must be the decoded one.
    std::size_t next = directory + block_count * sizeof(posting_block);
    std::uint32_t floor = 0;
    for (std::size_t b = 0; b < block_count; ++b) {
        posting_block info;
        std::memcpy(&info, stream.data() + directory + b * sizeof(info), sizeof(info));
        const std::string name = "block " + std::to_string(b);
        if (offset + info.data_offset != next) {
            reject_list("the directory entry of " + name + " does not point at its data");
        }
        const float saturation = info.max_saturation;
        check_saturation(reinterpret_cast<const std::uint8_t*>(&saturation),
                         "a block's maximum saturation");
        const std::size_t count =
            std::min(posting_block_size, doc_frequency - b * posting_block_size);
        const std::size_t end =
            check_block(stream, data_size, next, count, floor, document_count, block);
        if (offset + info.position_offset != end) {
            reject_list("the directory entry of " + name + " does not point at its positions");
        }
        if (block.docs[count - 1] != info.last_doc) {
            reject_list("the directory gives " + name + " the last document " +
                        std::to_string(info.last_doc) + ", but it ends with " +
                        std::to_string(block.docs[count - 1]));
        }
        next = check_positions(stream, data_size, end, count, block);
        floor = info.last_doc + 1;
    }
    return next;
}

}  // namespace tgsearch::detail
