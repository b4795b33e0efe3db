#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tgsearch {

/// Picks the passage of `text` of at most `max_chars` code points that contains the most
/// distinct `query_terms` (normalized, as from `query_terms()`), and returns it as Telegram
/// HTML: every matched word wrapped in <b>…</b>, everything else escaped, "…" added where the
/// passage is cut from a longer text. Never cuts inside a UTF-8 sequence. With no match the
/// passage is the start of the text. Thread-safe.
std::string make_snippet_html(std::string_view text, const std::vector<std::string>& query_terms,
                              std::size_t max_chars);

}  // namespace tgsearch
