#pragma once

#include <string>

namespace tgsearch {

/// One searchable document as loaded from a corpus file.
struct document {
    std::string id;     ///< stable identifier from the corpus, e.g. "debian:en:nginx"
    std::string title;  ///< shown as the result's heading; may be empty
    std::string text;   ///< body text, searched and used for snippets
    std::string url;    ///< link shown on the title; empty when the document has none
};

}  // namespace tgsearch
