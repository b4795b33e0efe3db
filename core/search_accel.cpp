#include "core/search_accel.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

namespace tgsearch::detail {
namespace {

/// Decodes `count` document gaps of `width` bits at `data` into documents, the first at or
/// after `floor`. Eight values of `width` bits fill exactly `width` bytes, so within a group
/// of eight every shift and offset is a constant. Like unpack_at, it reads up to 7 bytes past
/// the last value.
template <unsigned width>
void decode_docs(const std::uint8_t* data, std::size_t count, std::uint32_t floor,
                 std::uint32_t* docs) {
    constexpr std::uint64_t mask = (std::uint64_t{1} << width) - 1;
    std::size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        const std::uint8_t* group = data + i / 8 * width;
#pragma GCC unroll 8
        for (unsigned j = 0; j < 8; ++j) {
            std::uint64_t word;
            std::memcpy(&word, group + j * width / 8, sizeof(word));
            floor += static_cast<std::uint32_t>((word >> (j * width % 8)) & mask);
            docs[i + j] = floor++;
        }
    }
    for (; i < count; ++i) {
        floor += lazy_posting_cursor::unpack_at(data, width, i);
        docs[i] = floor++;
    }
}

using decode_docs_function = void (*)(const std::uint8_t*, std::size_t, std::uint32_t,
                                      std::uint32_t*);

template <std::size_t... widths>
constexpr std::array<decode_docs_function, sizeof...(widths)> make_decoders(
    std::index_sequence<widths...>) {
    return {&decode_docs<widths>...};
}

/// decode_docs for each gap width from 0 to 32 bits.
constexpr std::array<decode_docs_function, 33> docs_decoders =
    make_decoders(std::make_index_sequence<33>());

}  // namespace

lazy_posting_cursor::lazy_posting_cursor(const index_data& data, std::uint32_t term)
    : record_(data.posting_stream.data() + data.posting_offset[term]),
      block_count_((data.doc_frequency[term] + posting_block_size - 1) / posting_block_size),
      doc_frequency_(data.doc_frequency[term]) {
    if (block_count_ == 0) return;
    std::memcpy(&list_max_saturation_, record_, sizeof(list_max_saturation_));
    enter_block(0);
}

posting_block lazy_posting_cursor::directory_entry(std::size_t block) const {
    posting_block info;
    std::memcpy(&info, record_ + sizeof(float) + block * sizeof(posting_block), sizeof(info));
    return info;
}

std::uint32_t lazy_posting_cursor::last_doc_of(std::size_t block) const {
    std::uint32_t last_doc;
    std::memcpy(
        &last_doc,
        record_ + sizeof(float) + block * sizeof(posting_block) + offsetof(posting_block, last_doc),
        sizeof(last_doc));
    return last_doc;
}

void lazy_posting_cursor::enter_block(std::size_t block) {
    block_ = block;
    index_ = 0;
    position_index_ = 0;
    if (block >= block_count_) {
        doc_ = no_more_docs;
        return;
    }
    block_entries_ = std::min(posting_block_size, doc_frequency_ - block * posting_block_size);

    const std::uint8_t* data = nullptr;
    std::uint32_t floor = 0;
    if (block_count_ == 1) {
        data = record_ + sizeof(float);
        // A list of one block has no directory, and its last document is known only after
        // decoding every gap. Taking the end of the list instead keeps bounds valid, if looser.
        block_last_doc_ = no_more_docs;
    } else {
        const posting_block info = directory_entry(block);
        data = record_ + info.data_offset;
        floor = block == 0 ? 0 : last_doc_of(block - 1) + 1;
        block_last_doc_ = info.last_doc;
        block_positions_ = record_ + info.position_offset;
    }

    // Widths above 32 bits come only from a damaged stream. Clamping them keeps the decoder
    // table index in range. NOTE: nothing else here checks a stream for damage.
    gap_width_ = std::min<unsigned>(data[0], 32);
    title_width_ = std::min<unsigned>(data[1], 32);
    body_width_ = std::min<unsigned>(data[2], 32);
    gap_data_ = data + 3;
    title_data_ = gap_data_ + (block_entries_ * gap_width_ + 7) / 8;
    body_data_ = title_data_ + (block_entries_ * title_width_ + 7) / 8;
    if (block_count_ == 1) block_positions_ = body_data_ + (block_entries_ * body_width_ + 7) / 8;
    position_data_ = block_positions_;
    block_floor_ = floor;
    decoded_ = false;
    doc_ = floor + unpack_at(gap_data_, gap_width_, 0);
}

void lazy_posting_cursor::advance_to(std::uint32_t target) {
    if (doc_ == no_more_docs) return;
    if (target > block_last_doc_) {
        // Skip whole blocks by their directory entries before reading any gap.
        enter_block(shallow_block(target));
        if (doc_ == no_more_docs || doc_ >= target) return;
    }
    if (!decoded_) {
        docs_decoders[gap_width_](gap_data_, block_entries_, block_floor_, docs_);
        docs_[block_entries_] = no_more_docs;
        decoded_ = true;
    }
    // In a directory, target <= block_last_doc_ stops the scan inside the block. A list of one
    // block stops at the sentinel at the latest.
    std::size_t index = index_ + 1;
    while (docs_[index] < target) ++index;
    index_ = index;
    doc_ = docs_[index];
}

std::size_t lazy_posting_cursor::shallow_block(std::uint32_t target) {
    if (block_count_ == 1) {
        // The only block holds a later document unless the cursor has passed its end.
        shallow_block_ = doc_ == no_more_docs ? 1 : 0;
        return shallow_block_;
    }
    shallow_block_ = find_block(std::max(shallow_block_, block_), block_count_, target,
                                [this](std::size_t block) { return last_doc_of(block); });
    return shallow_block_;
}

float lazy_posting_cursor::block_max_saturation(std::uint32_t target) {
    const std::size_t block = shallow_block(target);
    return block < block_count_ ? max_saturation_of_block(block) : 0.0f;
}

std::uint32_t lazy_posting_cursor::block_last_doc(std::uint32_t target) {
    const std::size_t block = shallow_block(target);
    if (block >= block_count_) return no_more_docs;
    if (block_count_ == 1) return no_more_docs;
    return last_doc_of(block);
}

float lazy_posting_cursor::max_saturation_of_block(std::size_t block) const {
    if (block_count_ == 1) return list_max_saturation_;
    return directory_entry(block).max_saturation;
}

std::size_t lazy_posting_cursor::decode_whole_block(std::size_t block, std::uint32_t* docs,
                                                    std::uint32_t* title_tf,
                                                    std::uint32_t* body_tf) const {
    const std::size_t entries =
        std::min(posting_block_size, doc_frequency_ - block * posting_block_size);
    if (block_count_ == 1) {
        decode_block(record_ + sizeof(float), entries, 0, docs, title_tf, body_tf);
    } else {
        const std::uint32_t floor = block == 0 ? 0 : last_doc_of(block - 1) + 1;
        decode_block(record_ + directory_entry(block).data_offset, entries, floor, docs, title_tf,
                     body_tf);
    }
    return entries;
}

void lazy_posting_cursor::read_positions(std::vector<std::uint32_t>& out) {
    out.clear();
    if (doc_ == no_more_docs) return;
    if (position_index_ > index_) {
        position_data_ = block_positions_;
        position_index_ = 0;
    }
    // Skip the positions of the block's earlier entries: a varint ends at each byte below 0x80.
    for (; position_index_ < index_; ++position_index_) {
        std::uint32_t remaining = unpack_at(title_data_, title_width_, position_index_) +
                                  unpack_at(body_data_, body_width_, position_index_);
        while (remaining > 0) {
            if (*position_data_++ < 0x80) --remaining;
        }
    }
    const std::uint8_t* data = position_data_;
    const std::uint32_t count = title_tf() + body_tf();
    out.reserve(count);
    std::uint32_t position = 0;
    for (std::uint32_t i = 0; i < count; ++i) {
        position += read_varint(data);
        out.push_back(position);
    }
}

}  // namespace tgsearch::detail
