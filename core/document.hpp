#pragma once

#include <string>
#include <string_view>

namespace tgsearch {

/// One searchable document as loaded from a corpus file.
struct document {
    std::string id;     ///< stable identifier from the corpus, e.g. "debian:en:nginx"
    std::string title;  ///< shown as the result's heading; may be empty
    std::string text;   ///< body text, searched and used for snippets
    std::string url;    ///< link shown on the title; empty when the document has none
};

/// The fields of a document stored elsewhere, valid as long as their storage, such as the
/// search_index that returned them.
struct document_view {
    std::string_view id;
    std::string_view title;
    std::string_view text;
    std::string_view url;
};

}  // namespace tgsearch
