#include "core/postings.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

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
/// so it always lies inside the load.
const std::uint8_t* unpack(const std::uint8_t* data, std::size_t count, unsigned width,
                           std::uint32_t* values) {
    if (width == 0) {
        std::fill(values, values + count, 0u);
        return data;
    }
    const std::uint64_t mask = (std::uint64_t{1} << width) - 1;
    for (std::size_t i = 0; i < count; ++i) {
        const std::size_t bit = i * width;
        std::uint64_t word;
        std::memcpy(&word, data + bit / 8, sizeof(word));
        values[i] = static_cast<std::uint32_t>((word >> (bit % 8)) & mask);
    }
    return data + (count * width + 7) / 8;
}

}  // namespace

void append_varint(std::vector<std::uint8_t>& out, std::uint32_t value) {
    while (value >= 0x80) {
        out.push_back(static_cast<std::uint8_t>(value | 0x80));
        value >>= 7;
    }
    out.push_back(static_cast<std::uint8_t>(value));
}

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

void decode_block(const std::uint8_t* data, std::size_t count, std::uint32_t first_doc_floor,
                  std::uint32_t* docs, std::uint32_t* title_tf, std::uint32_t* body_tf) {
    const unsigned gap_width = data[0];
    const unsigned title_width = data[1];
    const unsigned body_width = data[2];
    data += 3;
    data = unpack(data, count, gap_width, docs);
    data = unpack(data, count, title_width, title_tf);
    unpack(data, count, body_width, body_tf);
    std::uint32_t floor = first_doc_floor;
    for (std::size_t i = 0; i < count; ++i) {
        docs[i] += floor;
        floor = docs[i] + 1;
    }
}

posting_cursor::posting_cursor(const posting_store& store, std::uint32_t first_block,
                               std::uint32_t doc_frequency)
    : store_(&store),
      first_block_(first_block),
      block_count_((doc_frequency + posting_block_size - 1) / posting_block_size),
      doc_frequency_(doc_frequency) {
    if (block_count_ > 0) load_block(0);
}

void posting_cursor::load_block(std::size_t block) {
    block_ = block;
    index_ = 0;
    if (block >= block_count_) {
        doc_ = no_more_docs;
        return;
    }
    const posting_block& info = store_->blocks[first_block_ + block];
    block_entries_ = std::min(posting_block_size, doc_frequency_ - block * posting_block_size);
    const std::uint32_t floor =
        block == 0 ? 0 : store_->blocks[first_block_ + block - 1].last_doc + 1;
    decode_block(store_->doc_stream.data() + info.data_offset, block_entries_, floor, docs_,
                 title_tf_, body_tf_);
    position_data_ = store_->position_stream.data() + info.position_offset;
    position_index_ = 0;
    doc_ = docs_[0];
}

void posting_cursor::advance_to(std::uint32_t target) {
    if (doc_ == no_more_docs) return;
    if (store_->blocks[first_block_ + block_].last_doc < target) {
        // Skip whole blocks by their directory entries before decoding anything.
        load_block(shallow_block(target));
        if (doc_ == no_more_docs || doc_ >= target) return;
    }
    while (docs_[index_] < target) ++index_;
    doc_ = docs_[index_];
}

std::size_t posting_cursor::shallow_block(std::uint32_t target) {
    std::size_t block = std::max(shallow_block_, block_);
    while (block < block_count_ && store_->blocks[first_block_ + block].last_doc < target) {
        ++block;
    }
    shallow_block_ = block;
    return block;
}

float posting_cursor::block_max_saturation(std::uint32_t target) {
    const std::size_t block = shallow_block(target);
    return block < block_count_ ? store_->blocks[first_block_ + block].max_saturation : 0.0f;
}

std::uint32_t posting_cursor::block_last_doc(std::uint32_t target) {
    const std::size_t block = shallow_block(target);
    return block < block_count_ ? store_->blocks[first_block_ + block].last_doc : no_more_docs;
}

float posting_cursor::list_max_saturation() const {
    float result = 0.0f;
    for (std::size_t block = 0; block < block_count_; ++block) {
        result = std::max(result, store_->blocks[first_block_ + block].max_saturation);
    }
    return result;
}

void posting_cursor::read_positions(std::vector<std::uint32_t>& out) {
    out.clear();
    if (doc_ == no_more_docs) return;
    if (position_index_ > index_) {
        position_data_ =
            store_->position_stream.data() + store_->blocks[first_block_ + block_].position_offset;
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

}  // namespace tgsearch::detail
