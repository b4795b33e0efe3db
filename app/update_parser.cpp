#include "app/update_parser.hpp"

#include "core/html.hpp"
#include "core/json_text.hpp"

#include <simdjson.h>

#include <string>
#include <utility>

namespace tgsearch {
namespace {

/// Update types longer than this are cut in log reasons; Telegram's longest is about 30.
constexpr std::size_t max_logged_type_size = 40;

/// Returns the name of the first field of `update` other than update_id, which Telegram uses
/// as the update's type, or "(none)".
std::string update_type(simdjson::dom::object update) {
    for (const auto field : update) {
        if (field.key != "update_id") {
            return std::string(field.key.substr(0, max_logged_type_size));
        }
    }
    return "(none)";
}

// Each parse_* function reads one update type into `out`, whose update_id is set, and returns
// it with the kind and, unless it is answerable, the reason.

parsed_update parse_message(simdjson::dom::element message_element, parsed_update out) {
    simdjson::dom::object message;
    if (message_element.get(message) != simdjson::SUCCESS) {
        out.reason = "\"message\" is not an object";
        return out;
    }

    incoming_message& incoming = out.message;
    std::string_view chat_type;
    if (message["chat"]["id"].get(incoming.chat_id) != simdjson::SUCCESS ||
        message["chat"]["type"].get(chat_type) != simdjson::SUCCESS ||
        message["message_id"].get(incoming.message_id) != simdjson::SUCCESS) {
        out.reason = "message lacks chat.id, chat.type or message_id";
        return out;
    }

    simdjson::dom::element text_element;
    if (message["text"].get(text_element) != simdjson::SUCCESS) {
        out.type = parsed_update::kind::ignored;
        out.reason = "message has no text";
        return out;
    }
    std::string_view text;
    if (text_element.get(text) != simdjson::SUCCESS) {
        out.reason = "message text is not a string";
        return out;
    }
    // NOTE: only the byte bound is enforced, so a text of more than 4096 characters that fits
    // in 16384 bytes is still answered.
    if (text.size() > max_incoming_text_bytes) {
        // Counted in code points, so that the number compares with the limit in characters.
        const std::size_t characters = utf8_length(text);
        out.reason = "message text of " + std::to_string(characters) +
                     " characters (Unicode code points; " + std::to_string(text.size()) +
                     " bytes of UTF-8) exceeds Telegram's limit of " +
                     std::to_string(max_incoming_text_characters) + " characters";
        return out;
    }

    if (message["from"]["id"].get(out.user_id) != simdjson::SUCCESS) {
        out.user_id = incoming.chat_id;
    }
    simdjson::dom::element replied;
    if (message["reply_to_message"].get(replied) == simdjson::SUCCESS) {
        // The author is optional: a reply to a channel post or to a deleted account has none.
        std::int64_t author = 0;
        if (replied["from"]["id"].get(author) == simdjson::SUCCESS) {
            incoming.reply_to_user_id = author;
        }
    }
    incoming.user_id = out.user_id;
    incoming.chat_type = std::string(chat_type);
    incoming.text = std::string(text);
    out.type = parsed_update::kind::message;
    return out;
}

parsed_update parse_callback_query(simdjson::dom::element element, parsed_update out) {
    simdjson::dom::object query;
    if (element.get(query) != simdjson::SUCCESS) {
        out.reason = "\"callback_query\" is not an object";
        return out;
    }
    incoming_message& incoming = out.message;
    incoming.type = incoming_message::kind::callback_query;
    std::string_view id;
    if (query["id"].get(id) != simdjson::SUCCESS || id.empty() ||
        query["from"]["id"].get(out.user_id) != simdjson::SUCCESS) {
        out.reason = "callback_query lacks a string id or from.id";
        return out;
    }

    // Buttons of games have no data; they are answered like any unknown button. So is data
    // that no button of this bot carries (not a string, or over Telegram's 64 bytes), because
    // every button press must be answered or the user's client keeps waiting.
    simdjson::dom::element data_element;
    std::string_view data;
    if (query["data"].get(data_element) == simdjson::SUCCESS) {
        if (data_element.get(data) != simdjson::SUCCESS || data.size() > max_callback_data_bytes) {
            data = {};
        }
    }

    // Without "message" the button belongs to a message sent in inline mode, which the bot
    // cannot edit by chat and message id.
    simdjson::dom::element message;
    if (query["message"].get(message) == simdjson::SUCCESS) {
        if (message["chat"]["id"].get(incoming.chat_id) != simdjson::SUCCESS ||
            message["message_id"].get(incoming.message_id) != simdjson::SUCCESS) {
            out.reason = "callback_query message lacks chat.id or message_id";
            return out;
        }
        std::string_view chat_type;
        if (message["chat"]["type"].get(chat_type) == simdjson::SUCCESS) {
            incoming.chat_type = std::string(chat_type);
        }
    }
    incoming.user_id = out.user_id;
    incoming.query_id = std::string(id);
    incoming.text = std::string(data);
    out.type = parsed_update::kind::message;
    return out;
}

parsed_update parse_inline_query(simdjson::dom::element element, parsed_update out) {
    simdjson::dom::object query;
    if (element.get(query) != simdjson::SUCCESS) {
        out.reason = "\"inline_query\" is not an object";
        return out;
    }
    incoming_message& incoming = out.message;
    incoming.type = incoming_message::kind::inline_query;
    std::string_view id;
    std::string_view text;
    std::string_view offset;
    if (query["id"].get(id) != simdjson::SUCCESS || id.empty() ||
        query["from"]["id"].get(out.user_id) != simdjson::SUCCESS ||
        query["query"].get(text) != simdjson::SUCCESS ||
        query["offset"].get(offset) != simdjson::SUCCESS) {
        out.reason = "inline_query lacks a string id, query or offset, or from.id";
        return out;
    }

    // Telegram sends neither, but an answer is still due: a query over the limit is cut at a
    // character boundary, and an offset no answer of this bot gave starts at the first page.
    if (text.size() > max_inline_query_bytes) {
        std::size_t cut = max_inline_query_bytes;
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
        text = text.substr(0, cut);
    }
    if (offset.size() > max_inline_offset_size) offset = {};

    std::string_view chat_type;
    if (query["chat_type"].get(chat_type) == simdjson::SUCCESS) {
        incoming.chat_type = std::string(chat_type);
    }
    incoming.user_id = out.user_id;
    incoming.query_id = std::string(id);
    incoming.text = std::string(text);
    incoming.offset = std::string(offset);
    out.type = parsed_update::kind::message;
    return out;
}

parsed_update parse_one(simdjson::dom::object update, std::int64_t update_id) {
    parsed_update out;
    out.update_id = update_id;
    out.message.update_id = update_id;

    simdjson::dom::element element;
    if (update["message"].get(element) == simdjson::SUCCESS) {
        return parse_message(element, std::move(out));
    }
    if (update["callback_query"].get(element) == simdjson::SUCCESS) {
        return parse_callback_query(element, std::move(out));
    }
    if (update["inline_query"].get(element) == simdjson::SUCCESS) {
        return parse_inline_query(element, std::move(out));
    }
    out.type = parsed_update::kind::ignored;
    out.reason = "unexpected update type \"" + update_type(update) + "\"";
    return out;
}

}  // namespace

struct update_parser::impl {
    simdjson::dom::parser json_parser;
};

update_parser::update_parser() : impl_(std::make_unique<impl>()) {}

update_parser::~update_parser() = default;

parsed_batch update_parser::parse(std::string_view body) {
    parsed_batch batch;
    simdjson::dom::parser& json_parser = impl_->json_parser;
    simdjson::dom::element root;
    simdjson::error_code error = json_parser.parse(body.data(), body.size()).get(root);
    std::string repaired;
    if (error == simdjson::UTF8_ERROR || error == simdjson::STRING_ERROR) {
        // One update with broken text must not hold back the others, which Telegram would
        // otherwise send again forever: read it with the bad bytes and escapes replaced.
        repaired = replace_lone_surrogate_escapes(replace_invalid_utf8(body));
        batch.repaired = true;
        error = json_parser.parse(repaired).get(root);
    }
    simdjson::dom::array updates;
    bool ok = false;
    if (error != simdjson::SUCCESS || root["ok"].get(ok) != simdjson::SUCCESS || !ok ||
        root["result"].get(updates) != simdjson::SUCCESS) {
        return batch;
    }
    batch.usable = true;

    for (simdjson::dom::element element : updates) {
        simdjson::dom::object update;
        std::int64_t update_id = 0;
        if (element.get(update) != simdjson::SUCCESS ||
            update["update_id"].get(update_id) != simdjson::SUCCESS) {
            ++batch.without_id;
            continue;
        }
        parsed_update& parsed = batch.updates.emplace_back(parse_one(update, update_id));
        parsed.json = simdjson::minify(element);
    }
    return batch;
}

}  // namespace tgsearch
