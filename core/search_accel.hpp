#pragma once

// A posting list reader for query evaluation that decodes only what a query looks at.

#include "core/postings.hpp"
#include "core/search_index_data.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace tgsearch::detail {

/// A forward-only reader of one term's posting list, in the format of postings.hpp, with the
/// interface of posting_cursor.
///
/// posting_cursor unpacks the three arrays of a block whenever it enters one. Most documents a
/// query visits are never scored, so this cursor unpacks only the document gaps, with a loop
/// specialized for each bit width, and only once a target lies inside the block. It reads a
/// term frequency straight from its bit-packed array when asked. Not thread-safe; each query
/// uses its own cursors over the shared, immutable stream.
class lazy_posting_cursor {
public:
    /// Reads the postings of `term` in `data`.
    lazy_posting_cursor(const index_data& data, std::uint32_t term);

    /// The current document, or no_more_docs when the list is exhausted.
    std::uint32_t doc() const { return doc_; }
    std::uint32_t title_tf() const { return unpack_at(title_data_, title_width_, index_); }
    std::uint32_t body_tf() const { return unpack_at(body_data_, body_width_, index_); }

    /// Moves to the first document at or after `target`, and never moves backwards.
    void advance(std::uint32_t target) {
        if (doc_ < target) advance_to(target);
    }

    /// Returns the max_saturation of the block that holds the first document at or after
    /// `target`, or 0 when there is none, without decoding that block.
    float block_max_saturation(std::uint32_t target);

    /// Returns the last document of the block that holds the first document at or after
    /// `target`, or no_more_docs when there is none, without decoding that block.
    std::uint32_t block_last_doc(std::uint32_t target);

    /// Largest saturation over the whole list.
    float list_max_saturation() const { return list_max_saturation_; }

    /// Replaces `out` with the positions of the current document, ascending. The first
    /// title_tf() of them are title positions, and the body positions, offset past the
    /// title, follow.
    void read_positions(std::vector<std::uint32_t>& out);

    /// Returns value `index` of a bit-packed array of `width`-bit values at `data`. Reads up
    /// to 7 bytes past the value's last byte, which posting_stream_padding covers.
    static std::uint32_t unpack_at(const std::uint8_t* data, unsigned width, std::size_t index) {
        const std::size_t bit = index * width;
        std::uint64_t word;
        std::memcpy(&word, data + bit / 8, sizeof(word));
        // A width of 0 gives a mask of 0: the array stores nothing and every value is 0.
        const std::uint64_t mask = (std::uint64_t{1} << width) - 1;
        return static_cast<std::uint32_t>((word >> (bit % 8)) & mask);
    }

    // Block-at-a-time access, for loops that score whole blocks in any order.

    std::size_t block_count() const { return block_count_; }
    /// max_saturation of block `block`, which is below block_count(), without decoding it.
    float max_saturation_of_block(std::size_t block) const;
    /// Decodes block `block`, which is below block_count(), into the three arrays of
    /// posting_block_size entries each, and returns its entry count. Leaves the cursor where
    /// it is.
    std::size_t decode_whole_block(std::size_t block, std::uint32_t* docs, std::uint32_t* title_tf,
                                   std::uint32_t* body_tf) const;

private:
    void advance_to(std::uint32_t target);
    /// Moves to the first entry of block `block`, or exhausts the cursor past the last one.
    void enter_block(std::size_t block);
    std::uint32_t last_doc_of(std::size_t block) const;
    posting_block directory_entry(std::size_t block) const;
    /// Returns the index of the block that holds the first document at or after `target`,
    /// or block_count_, remembering it so that rising targets never search a block twice.
    std::size_t shallow_block(std::uint32_t target);

    const std::uint8_t* record_;
    std::size_t block_count_;
    std::uint32_t doc_frequency_;
    float list_max_saturation_ = 0.0f;
    std::size_t block_ = 0;
    std::size_t shallow_block_ = 0;  ///< block found by the last shallow_block call
    std::size_t block_entries_ = 0;
    std::size_t index_ = 0;  ///< entry within the current block
    std::uint32_t doc_ = no_more_docs;
    std::uint32_t block_last_doc_ = 0;  ///< last document of the current block
    const std::uint8_t* gap_data_ = nullptr;
    const std::uint8_t* title_data_ = nullptr;
    const std::uint8_t* body_data_ = nullptr;
    const std::uint8_t* block_positions_ = nullptr;  ///< positions of the block's first entry
    // Where the positions of entry position_index_ of the current block start, so that
    // reading positions of later entries in the block continues instead of restarting.
    const std::uint8_t* position_data_ = nullptr;
    std::size_t position_index_ = 0;
    unsigned gap_width_ = 0;
    unsigned title_width_ = 0;
    unsigned body_width_ = 0;
    std::uint32_t block_floor_ = 0;  ///< one past the previous block's last document
    bool decoded_ = false;           ///< whether docs_ holds the current block's documents
    /// The current block's documents once decoded, then no_more_docs as a sentinel.
    std::uint32_t docs_[posting_block_size + 1];
};

}  // namespace tgsearch::detail
