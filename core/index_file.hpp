#pragma once

// Index files: a built search_index saved to disk and read back at start-up.
//
// Layout, all integers and floats in the byte order of the machine that wrote the file, which
// must match the reader's (little-endian on x86-64 and ARM64):
//
//   offset 0   magic "TGSINDEX" (8 bytes)
//   offset 8   u32 format version (index_file_version)
//   offset 12  u32 byte-order mark 0x01020304, read back as another value on a foreign machine
//   offset 16  u64 file size in bytes
//   offset 24  u32 CRC-32 (zlib) of every byte of the file except these four
//   offset 28  u32 section count
//   offset 32  reserved, zero up to offset 64
//   offset 64  section table: per section u64 offset and u64 size in bytes
//   then       the sections, each starting at a multiple of 64 bytes, zero padding between
//
// The sections, in order: parameters (BM25 k1, b, title_boost, average document length,
// document and term counts), document records, their u64 start offsets and term text. Then
// u32 term offsets, u32 document frequencies, the posting stream (postings and positions, see
// postings.hpp), u32 posting offsets and the f32 length norms of the documents. Loading reads
// the file into one private read-only block of memory. The documents, the posting stream, the
// posting offsets and the length norms are used in place there, and the dictionary is copied,
// because typo correction takes it as std::string and std::vector. The posting lists lie back
// to back in term order and fill the posting stream up to its padding.
//
// Any change to the layout or to what a section means must raise index_file_version: a file
// of another version is rejected, and the user rebuilds it.

#include "core/search_index.hpp"

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

namespace tgsearch {

/// Format version written to and expected in index files. Version 2 indexes a joined word
/// once at its first position, plus a span term, where version 1 added its last position.
inline constexpr std::uint32_t index_file_version = 2;

/// An index file that cannot be written, or read as an index. The message names the file,
/// what is wrong and what to do.
class index_file_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Writes `index` to `path`: first to `path` + ".tmp", which is flushed to disk with fsync and
/// then renamed over `path`, so a reader sees the old file or the new one, never a partial
/// one. Throws index_file_error when the file cannot be written, and std::invalid_argument for
/// a replaceable index (write its snapshot()).
void write_index_file(const search_index& index, const std::string& path);

/// Reads the index file `path` into private memory and returns its index, which uses the
/// documents and posting lists there in place. Checks the magic bytes, byte order, size,
/// CRC-32 and version, and that every section fits the file and the others. Then decodes
/// everything a query or a document lookup reads: each document record (field lengths within
/// the record, UTF-8 fields), the dictionary (sorted, unique, UTF-8 terms), each posting list
/// (see detail::check_posting_list) and the scoring parameters. Throws index_file_error naming
/// the file and the problem when it is missing, unreadable, foreign, of another version,
/// truncated or corrupted, including a file whose CRC-32 was recomputed after an edit.
///
/// The file is read into private memory, so replacing or rewriting it while the server runs
/// does not affect the loaded index; a SIGHUP loads the new file.
std::shared_ptr<const search_index> load_index_file(const std::string& path);

}  // namespace tgsearch
