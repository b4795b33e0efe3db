#pragma once

// Compressed posting lists: the storage format of search_index and a cursor that reads it.
//
// A term's postings are cut into blocks of `posting_block_size` documents. Each block stores
// its document gaps, title term frequencies and body term frequencies as three bit-packed
// arrays, each with the smallest bit width that fits the block's largest value. Bit packing
// beats byte-aligned varints here because most postings belong to frequent terms, whose gaps
// and frequencies need 1 to 6 bits, while a varint spends at least 8. It also decodes without
// a branch per value. Each block's positions follow it as varint deltas, and only phrase
// queries decode them.
//
// All lists share one byte stream. A list is a record at some offset of that stream:
//
//   one block:   max_saturation (float), block, positions
//   2+ blocks:   max_saturation (float), directory (one posting_block per block), then each
//                block followed by its positions
//
// Most terms occur in fewer than posting_block_size documents, and their records carry no
// directory at all: the cursor decodes the only block when it is created.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace tgsearch::detail {

/// Documents per block. 128 keeps a block's decoded arrays (1.5 KiB) in L1 and makes
/// skipping by block cheap for long lists, as in most block-based posting formats.
inline constexpr std::size_t posting_block_size = 128;

/// Document number that marks an exhausted cursor.
inline constexpr std::uint32_t no_more_docs = std::numeric_limits<std::uint32_t>::max();

/// Returns the first block in [low, block_count) whose last document is at or after `target`,
/// or block_count when there is none. Blocks are sorted by last document. Gallops (doubling
/// the step) and then bisects, so a target far ahead costs a logarithmic number of
/// `last_doc_of` calls and a near one a few.
template <class LastDocOf>
std::size_t find_block(std::size_t low, std::size_t block_count, std::uint32_t target,
                       LastDocOf last_doc_of) {
    if (low >= block_count || last_doc_of(low) >= target) {
        return low;
    }
    std::size_t step = 1;
    std::size_t high = low + step;
    while (high < block_count && last_doc_of(high) < target) {
        low = high;
        step *= 2;
        high = low + step;
    }
    high = high < block_count ? high : block_count;
    // Now last_doc_of(low) < target, and high is block_count or ends at or after target.
    while (high - low > 1) {
        const std::size_t middle = low + (high - low) / 2;
        if (last_doc_of(middle) < target) {
            low = middle;
        } else {
            high = middle;
        }
    }
    return high;
}

/// Bytes after the last record that decode_block may read (see there).
inline constexpr std::size_t posting_stream_padding = 8;

/// One document's entry in a posting list before encoding.
struct posting_entry {
    std::uint32_t doc = 0;
    std::uint32_t title_tf = 0;  ///< occurrences in the title
    std::uint32_t body_tf = 0;   ///< occurrences in the body
    /// tf * (k1 + 1) / (tf + length_norm) of this entry: block maxima are built from it.
    float saturation = 0.0f;
    /// The title_tf + body_tf positions, ascending, or null to store none. A list stored
    /// without positions must never have them read.
    const std::uint32_t* positions = nullptr;
};

/// Directory entry of one block of a list with two or more blocks. Offsets are relative to
/// the list's record, so records can be moved as a whole.
struct posting_block {
    std::uint32_t last_doc = 0;         ///< highest document number in the block
    std::uint32_t data_offset = 0;      ///< where the packed arrays start
    std::uint32_t position_offset = 0;  ///< where the block's first position starts
    /// Largest saturation in the block; times idf, an upper bound of the block's BM25 scores.
    float max_saturation = 0.0f;
};

/// Appends `value` to `out` as a little-endian base-128 varint.
void append_varint(std::vector<std::uint8_t>& out, std::uint32_t value);

/// Reads one varint at `data` and moves `data` past it. The caller guarantees a whole varint.
std::uint32_t read_varint(const std::uint8_t*& data);

/// Appends one block of `entries` (1 to posting_block_size of them, ascending by document) to
/// `out`. `first_doc_floor` is one more than the previous block's last document, or 0 for the
/// first block.
void encode_block(const posting_entry* entries, std::size_t count, std::uint32_t first_doc_floor,
                  std::vector<std::uint8_t>& out);

/// Decodes the block at `data` holding `count` entries into the three arrays and returns the
/// address one past the block. Reads up to posting_stream_padding bytes past the block's last
/// byte, so the stream must have that much after its last record.
const std::uint8_t* decode_block(const std::uint8_t* data, std::size_t count,
                                 std::uint32_t first_doc_floor, std::uint32_t* docs,
                                 std::uint32_t* title_tf, std::uint32_t* body_tf);

/// Appends the record of a posting list of `count` (at least 1) entries, ascending by
/// document, to `out`, and returns the record's offset in `out`.
std::size_t encode_posting_list(const posting_entry* entries, std::size_t count,
                                std::vector<std::uint8_t>& out);

/// Decodes the whole record of a posting list of `doc_frequency` entries that starts at
/// `offset` of `stream`, and checks everything a cursor reads from it. That is the block
/// directory, bit widths of at most 32 and documents ascending and below `document_count`.
/// It is also a last document per block that matches the directory, finite non-negative
/// saturations, at least one occurrence per entry, and positions that fit 32 bits. Records lie in
/// the first `data_size` bytes of `stream`, and the padding after them must follow. Returns the
/// offset one past the record. Throws std::invalid_argument describing the first problem found.
std::size_t check_posting_list(std::span<const std::uint8_t> stream, std::size_t data_size,
                               std::size_t offset, std::uint32_t doc_frequency,
                               std::uint32_t document_count);

/// A forward-only reader of one term's posting list. Decodes a block only when a document of
/// it is requested, and positions only through `read_positions`. Not thread-safe; each query
/// uses its own cursors over the shared, immutable stream.
class posting_cursor {
public:
    /// Reads the `doc_frequency` postings of the record at `stream + offset`. The stream must
    /// end with posting_stream_padding bytes after its last record.
    posting_cursor(const std::uint8_t* stream, std::size_t offset, std::uint32_t doc_frequency);

    /// The current document, or no_more_docs when the list is exhausted.
    std::uint32_t doc() const { return doc_; }
    std::uint32_t title_tf() const { return title_tf_[index_]; }
    std::uint32_t body_tf() const { return body_tf_[index_]; }

    /// Moves to the first document at or after `target`; never moves backwards.
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
    /// title_tf() of them are title positions; body positions follow, offset past the title.
    void read_positions(std::vector<std::uint32_t>& out);

    // Block-at-a-time access, for loops that score whole blocks.

    std::size_t block_count() const { return block_count_; }
    /// max_saturation of block `block`, which is below block_count(), without decoding it.
    float max_saturation_of_block(std::size_t block) const;
    /// Decodes block `block` and moves to its first document; past the last block, the
    /// cursor is exhausted.
    void load_block(std::size_t block);
    /// Entries of the decoded block, and their documents and frequencies.
    std::size_t block_entry_count() const { return block_entries_; }
    const std::uint32_t* block_docs() const { return docs_; }
    const std::uint32_t* block_title_tfs() const { return title_tf_; }
    const std::uint32_t* block_body_tfs() const { return body_tf_; }

private:
    void advance_to(std::uint32_t target);
    posting_block directory_entry(std::size_t block) const;
    std::uint32_t last_doc_of(std::size_t block) const;
    /// Returns the index of the block that holds the first document at or after `target`,
    /// or block_count_, remembering it so that rising targets never search a block twice.
    std::size_t shallow_block(std::uint32_t target);

    const std::uint8_t* record_;
    std::size_t block_count_;
    std::uint32_t doc_frequency_;
    float list_max_saturation_ = 0.0f;
    std::size_t block_ = 0;
    std::size_t block_entries_ = 0;
    std::size_t index_ = 0;          ///< entry within the decoded block
    std::size_t shallow_block_ = 0;  ///< block found by the last shallow_block call
    std::uint32_t doc_ = no_more_docs;
    // Where the positions of entry position_index_ of the current block start, so that
    // reading positions of later entries in the block continues instead of restarting.
    const std::uint8_t* block_positions_ = nullptr;
    const std::uint8_t* position_data_ = nullptr;
    std::size_t position_index_ = 0;
    std::uint32_t docs_[posting_block_size];
    std::uint32_t title_tf_[posting_block_size];
    std::uint32_t body_tf_[posting_block_size];
};

}  // namespace tgsearch::detail
