#pragma once

// Compact storage of an index's documents: every field in one byte arena.

#include "core/document.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
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

    std::size_t size() const { return starts_.empty() ? 0 : starts_.size() - 1; }

    /// Returns the fields of document `doc`, which is below size().
    document_view at(std::size_t doc) const;

    /// Heap bytes held, from capacities.
    std::size_t memory_bytes() const {
        return bytes_.capacity() + starts_.capacity() * sizeof(starts_[0]);
    }

private:
    // Document d is bytes_[starts_[d], starts_[d + 1]): the varint byte lengths of its id,
    // title and url, then id, title, url and text. The text takes the rest of the record.
    std::string bytes_;
    std::vector<std::uint64_t> starts_;
};

}  // namespace tgsearch::detail
