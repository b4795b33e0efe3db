#include "core/json_text.hpp"

namespace tgsearch {

std::string replace_lone_surrogate_escapes(std::string_view json) {
    const auto code_unit_at = [&](std::size_t pos) -> int {
        // Returns the code unit of a `\u` escape with four hex digits at `pos`, or -1.
        if (pos + 6 > json.size() || json[pos] != '\\' || json[pos + 1] != 'u') {
            return -1;
        }
        int value = 0;
        for (std::size_t i = pos + 2; i < pos + 6; ++i) {
            const char c = json[i];
            const int digit = c >= '0' && c <= '9'   ? c - '0'
                              : c >= 'a' && c <= 'f' ? c - 'a' + 10
                              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                     : -1;
            if (digit < 0) {
                return -1;
            }
            value = value * 16 + digit;
        }
        return value;
    };
    const auto is_high = [](int unit) { return unit >= 0xD800 && unit <= 0xDBFF; };
    const auto is_low = [](int unit) { return unit >= 0xDC00 && unit <= 0xDFFF; };

    std::string out;
    out.reserve(json.size());
    for (std::size_t pos = 0; pos < json.size();) {
        if (json[pos] != '\\' || pos + 1 >= json.size()) {
            out += json[pos++];
            continue;
        }
        const int unit = code_unit_at(pos);
        if (unit < 0) {
            out.append(json.substr(pos, 2));  // any other escape, "\\\\" included
            pos += 2;
            continue;
        }
        if (is_high(unit) && is_low(code_unit_at(pos + 6))) {
            out.append(json.substr(pos, 12));
            pos += 12;
            continue;
        }
        if (is_high(unit) || is_low(unit)) {
            out += "\\uFFFD";
        } else {
            out.append(json.substr(pos, 6));
        }
        pos += 6;
    }
    return out;
}

}  // namespace tgsearch
