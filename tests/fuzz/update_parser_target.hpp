#pragma once

// The body of the update parser's fuzz target, shared by the libFuzzer binary and the unit test
// that runs the seed corpus, so that GCC builds exercise the same checks.

#include "app/update_parser.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace tgsearch::fuzz {

/// Aborts with `message` when `condition` is false. Fuzzers and the unit test both see an abort as
/// a failure, and it works with NDEBUG too.
inline void require(bool condition, const char* message) {
    if (!condition) {
        std::fprintf(stderr, "update parser invariant broken: %s\n", message);
        std::abort();
    }
}

/// Checks UTF-8 the strict way (RFC 3629): no overlong forms, surrogates or code points past
/// U+10FFFF.
inline bool valid_utf8(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size()) {
        const auto lead = static_cast<unsigned char>(text[i]);
        std::size_t length = 0;
        std::uint32_t code_point = 0;
        if (lead < 0x80) {
            ++i;
            continue;
        } else if (lead >= 0xC2 && lead <= 0xDF) {
            length = 2;
            code_point = lead & 0x1F;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            length = 3;
            code_point = lead & 0x0F;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            length = 4;
            code_point = lead & 0x07;
        } else {
            return false;
        }
        if (i + length > text.size()) {
            return false;
        }
        for (std::size_t k = 1; k < length; ++k) {
            const auto next = static_cast<unsigned char>(text[i + k]);
            if ((next & 0xC0) != 0x80) {
                return false;
            }
            code_point = (code_point << 6) | (next & 0x3F);
        }
        const std::uint32_t min_code_point[] = {0, 0, 0x80, 0x800, 0x10000};
        if (code_point < min_code_point[length] || code_point > 0x10FFFF ||
            (code_point >= 0xD800 && code_point <= 0xDFFF)) {
            return false;
        }
        i += length;
    }
    return true;
}

/// Parses `data` as a getUpdates body and checks what the bot relies on: the parser never
/// throws, message texts are bounded valid UTF-8, skipped updates carry a reason, and an unusable
/// body yields no updates. Returns the number of text messages found.
inline std::size_t run_update_parser(const std::uint8_t* data, std::size_t size) {
    static update_parser parser;
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    const parsed_batch batch = parser.parse(body);
    if (!batch.usable) {
        require(batch.updates.empty(), "an unusable body yields updates");
        return 0;
    }
    std::size_t messages = 0;
    for (const parsed_update& update : batch.updates) {
        if (update.type != parsed_update::kind::message) {
            require(!update.reason.empty(), "a skipped update has no reason");
            continue;
        }
        ++messages;
        require(update.message.update_id == update.update_id, "message and update ids differ");
        require(update.message.text.size() <= max_incoming_text_bytes, "text over the limit");
        // The search and the renderer rely on valid UTF-8, which the repair step ensures.
        require(valid_utf8(update.message.text), "text is not valid UTF-8");
        require(valid_utf8(update.message.chat_type), "chat type is not UTF-8");
    }
    return messages;
}

}  // namespace tgsearch::fuzz
