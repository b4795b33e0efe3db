#pragma once

#include <string>
#include <string_view>

namespace tgsearch {

/// Returns the JSON text `json` with every `\u` escape of a UTF-16 surrogate that is not part
/// of a high-low pair replaced by the escape of U+FFFD. Strict parsers such as simdjson reject
/// a whole document for one such lone surrogate. Other text, escaped backslashes included, is
/// copied unchanged.
std::string replace_lone_surrogate_escapes(std::string_view json);

}  // namespace tgsearch
