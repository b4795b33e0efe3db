#pragma once

// Compact storage of an index's documents: every field in one byte arena.

#include "core/document.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tgsearch::detail {

/// Documents stored back to back in one string, so that a document costs its bytes plus
/// about 11 bytes instead of four std::string objects and their heap blocks. Immutable once
/// built; concurrent reads are safe.
class document_store {
public:
    document_store() = default;

    /// Moves the fields of `docs` into the store, releasing each document's strings as it
    /// goes so that peak memory stays near one copy of the corpus. Leaves `docs` empty.
    explicit document_store(std::vector<document>&& docs);

    /// Reads documents from memory the store does not own, such as a loaded index file, in
    /// the layout that bytes() and starts() return. The memory must outlive the store. Throws
    /// std::invalid_argument when `starts` is not ascending or ends past `bytes`, or when a
    /// record's field lengths exceed it or a field is not valid UTF-8.
    document_store(std::string_view bytes, std::span<const std::uint64_t> starts);

    document_store(document_store&& other) noexcept;
    document_store& operator=(document_store&& other) noexcept;
    document_store(const document_store&) = delete;
    document_store& operator=(const document_store&) = delete;

    std::size_t size() const { return starts_.empty() ? 0 : starts_.size() - 1; }

    /// The record bytes of every document, back to back.
    std::string_view bytes() const { return bytes_; }
    /// Start offset of each document's record in bytes(), then the size of bytes().
    std::span<const std::uint64_t> starts() const { return starts_; }

    /// Returns the fields of document `doc`, which is below size().
    document_view at(std::size_t doc) const;

    /// Heap bytes held, from capacities; 0 for a store over memory it does not own.
    std::size_t memory_bytes() const {
        return owned_bytes_.capacity() + owned_starts_.capacity() * sizeof(owned_starts_[0]);
    }

private:
    // Document d is bytes_[starts_[d], starts_[d + 1]): the varint byte lengths of its id,
    // title and url, then id, title, url and text. The text takes the rest of the record.
    // The views point into owned_bytes_ and owned_starts_, or into memory of the caller's.
    std::string_view bytes_;
    std::span<const std::uint64_t> starts_;
    std::string owned_bytes_;
    std::vector<std::uint64_t> owned_starts_;
};

}  // namespace tgsearch::detail
