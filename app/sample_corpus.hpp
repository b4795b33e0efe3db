#pragma once

#include <string_view>

namespace tgsearch {

/// Returns the gzip-compressed JSONL sample corpus built into the binary (see
/// app/sample/README.md for its contents). The bytes are static and read-only, so the view
/// stays valid for the life of the program and may be read from any thread.
std::string_view sample_corpus_gz();

}  // namespace tgsearch
