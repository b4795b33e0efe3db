#pragma once

// Compressed posting lists: the storage format of search_index and a cursor that reads it.
//
// A term's postings are cut into blocks of `posting_block_size` documents. Each block stores
// its document gaps, title term frequencies and body term frequencies as three bit-packed
// arrays, each with the smallest bit width that fits the block's largest value. Bit packing
// beats byte-aligned varints here because most postings belong to frequent terms, whose gaps
// and frequencies need 1 to 6 bits, while a varint spends at least 8. It also decodes without
// a branch per value. Positions live in a separate byte stream as varint deltas, so that
// queries without phrases never touch them.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace tgsearch::detail {

/// Documents per block. 128 keeps a block's decoded arrays (1.5 KiB) in L1 and makes
/// skipping by block cheap for long lists, as in most block-based posting formats.
inline constexpr std::size_t posting_block_size = 128;

/// Document number that marks an exhausted cursor.
inline constexpr std::uint32_t no_more_docs = std::numeric_limits<std::uint32_t>::max();

/// One document's entry in a posting list before encoding.
struct posting_entry {
    std::uint32_t doc = 0;
    std::uint32_t title_tf = 0;  ///< occurrences in the title
    std::uint32_t body_tf = 0;   ///< occurrences in the body
};

/// Directory entry of one block, kept uncompressed so that a cursor can skip whole blocks.
struct posting_block {
    std::uint32_t last_doc = 0;         ///< highest document number in the block
    std::uint32_t data_offset = 0;      ///< byte offset of the packed arrays in the doc stream
    std::uint32_t position_offset = 0;  ///< byte offset of the first position in that stream
    /// Largest tf * (k1 + 1) / (tf + length_norm) in the block; times idf, an upper bound of
    /// the block's BM25 scores.
    float max_saturation = 0.0f;
};

/// The encoded postings of every term, built once and then read by any number of cursors.
struct posting_store {
    std::vector<std::uint8_t> doc_stream;       ///< packed blocks, plus 8 bytes of padding
    std::vector<std::uint8_t> position_stream;  ///< varint position deltas
    std::vector<posting_block> blocks;          ///< every term's blocks, term after term
};

/// Appends `value` to `out` as a little-endian base-128 varint.
void append_varint(std::vector<std::uint8_t>& out, std::uint32_t value);

/// Reads one varint at `data` and moves `data` past it. The caller guarantees a whole varint.
std::uint32_t read_varint(const std::uint8_t*& data);

/// Appends one block of `entries` (1 to posting_block_size of them, ascending by document) to
/// `out`. `first_doc_floor` is one more than the previous block's last document, or 0 for the
/// first block. Returns nothing; the caller records the directory entry.
void encode_block(const posting_entry* entries, std::size_t count, std::uint32_t first_doc_floor,
                  std::vector<std::uint8_t>& out);

/// Decodes the block at `data` holding `count` entries into the three arrays. Reads up to 8
/// bytes past the block's last byte, which the padding of posting_store::doc_stream covers.
void decode_block(const std::uint8_t* data, std::size_t count, std::uint32_t first_doc_floor,
                  std::uint32_t* docs, std::uint32_t* title_tf, std::uint32_t* body_tf);

/// A forward-only reader of one term's posting list. Decodes a block only when a document of
/// it is requested, and positions only through `read_positions`. Not thread-safe; each query
/// uses its own cursors over the shared, immutable store.
class posting_cursor {
public:
    /// Reads the `doc_frequency` postings whose blocks start at `first_block` in `store`.
    posting_cursor(const posting_store& store, std::uint32_t first_block,
                   std::uint32_t doc_frequency);

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

    /// Largest max_saturation over all blocks of the list.
    float list_max_saturation() const;

    /// Replaces `out` with the positions of the current document, ascending. The first
    /// title_tf() of them are title positions; body positions follow, offset past the title.
    void read_positions(std::vector<std::uint32_t>& out);

private:
    void advance_to(std::uint32_t target);
    void load_block(std::size_t block);
    /// Returns the index of the block that holds the first document at or after `target`,
    /// or block_count_, remembering it so that rising targets scan each block once.
    std::size_t shallow_block(std::uint32_t target);

    const posting_store* store_;
    std::size_t first_block_;
    std::size_t block_count_;
    std::uint32_t doc_frequency_;
    std::size_t block_ = 0;  ///< block index relative to first_block_
    std::size_t block_entries_ = 0;
    std::size_t index_ = 0;          ///< entry within the decoded block
    std::size_t shallow_block_ = 0;  ///< block found by the last block_max_saturation call
    std::uint32_t doc_ = no_more_docs;
    // Where the positions of entry position_index_ of the current block start, so that
    // reading positions of later entries in the block continues instead of restarting.
    const std::uint8_t* position_data_ = nullptr;
    std::size_t position_index_ = 0;
    std::uint32_t docs_[posting_block_size];
    std::uint32_t title_tf_[posting_block_size];
    std::uint32_t body_tf_[posting_block_size];
};

}  // namespace tgsearch::detail
