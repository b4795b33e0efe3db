#pragma once

// The members of search_index, shared by the build, the query code and the index file code.

#include "core/search_documents.hpp"
#include "core/search_index.hpp"
#include "core/search_index_data.hpp"

#include <cstddef>
#include <memory>
#include <mutex>

namespace tgsearch {

struct search_index::impl {
    detail::document_store docs;
    detail::index_data data;

    /// Keeps alive the memory that `docs` and `data` view without owning, such as the mapping
    /// of an index file; null for a built index.
    std::shared_ptr<const void> storage;
    std::size_t storage_bytes = 0;

    // A replaceable index contains no documents or terms of its own and forwards every call
    // to `current`.
    bool replaceable = false;
    mutable std::mutex current_mutex;
    std::shared_ptr<const search_index> current;  ///< guarded by current_mutex
};

}  // namespace tgsearch
