#include "core/telegram_export_loader.hpp"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace tgsearch::detail {

namespace {

/// Rewrites the `\xHH` escapes that Telegram Desktop writes for control characters (invalid
/// JSON) as `\u00HH`. Escape pairs are consumed whole, so `\\x41` stays a backslash and "x41".
/// No line breaks are added or removed, so line numbers stay those of the file.
padded_buffer repair_hex_escapes(std::string_view json) {
    padded_buffer repaired;
    repaired.reserve(json.size() + json.size() / 64 + 64);
    std::size_t copied = 0;
    std::size_t position = 0;
    while ((position = json.find('\\', position)) != std::string_view::npos) {
        const bool hex_escape = position + 3 < json.size() && json[position + 1] == 'x' &&
                                std::isxdigit(static_cast<unsigned char>(json[position + 2])) &&
                                std::isxdigit(static_cast<unsigned char>(json[position + 3]));
        if (!hex_escape) {
            position += 2;
            continue;
        }
        repaired.append(json.substr(copied, position - copied));
        repaired.append("\\u00");
        repaired.append(json.substr(position + 2, 2));
        position += 4;
        copied = position;
    }
    if (copied < json.size()) {
        repaired.append(json.substr(copied));
    }
    return repaired;
}

/// Converts byte positions in the parsed buffer into 1-based line numbers. Positions are
/// usually asked for in increasing order, so each newline is counted about once.
class line_counter {
public:
    explicit line_counter(const char* begin) : begin_(begin), position_(begin) {}

    std::size_t line_at(const char* position) {
        if (position < position_) {
            position_ = begin_;
            line_ = 1;
        }
        line_ += static_cast<std::size_t>(std::count(position_, position, '\n'));
        position_ = position;
        return line_;
    }

private:
    const char* begin_;
    const char* position_;
    std::size_t line_ = 1;
};

/// Chat types whose messages have a t.me link.
bool has_message_links(std::string_view chat_type) {
    return chat_type == "public_channel" || chat_type == "private_channel" ||
           chat_type == "public_supergroup" || chat_type == "private_supergroup";
}

class telegram_export_loader {
public:
    telegram_export_loader(const load_context& context, std::string_view json,
                           std::vector<document>& out)
        : name_(context.name),
          id_prefix_(file_name_of(context.name)),
          channel_username_(context.options.channel_username),
          json_(json),
          lines_(json.data()),
          progress_(context.options.on_progress, json.size()),
          out_(out),
          on_error_(context.on_error) {}

    load_report load(ondemand::document& doc);

    /// Returns the counts so far, after load threw on damaged JSON.
    const load_report& partial_result() const { return result_; }

    /// Returns the line of the token where parsing stopped, or 0 when it is unknown.
    std::size_t error_line(ondemand::document& doc) {
        const char* location = nullptr;
        if (doc.current_location().get(location) != simdjson::SUCCESS || location < json_.data() ||
            location > json_.data() + json_.size()) {
            return 0;
        }
        return lines_.line_at(location);
    }

private:
    /// A message read before its chat's id and type are known.
    struct pending_message {
        std::size_t document = 0;  ///< index in the output vector
        std::size_t line = 0;
        std::string message_id;
    };

    struct chat_state {
        std::string type;
        std::string id;
        std::vector<pending_message> messages;
    };

    bool load_chat(ondemand::object chat, bool top_level);
    void load_chat_fields(ondemand::object chat_object, bool top_level, chat_state& chat,
                          bool& found);
    void load_chat_list(ondemand::value list_owner);
    void load_message(ondemand::value message, chat_state& chat);
    void read_message_text(ondemand::value text, std::string& out, std::string& problem);
    void finish_chat(chat_state& chat, bool top_level);

    std::size_t line_of(ondemand::value& value) {
        const char* location = nullptr;
        if (value.current_location().get(location) != simdjson::SUCCESS) {
            return 0;
        }
        progress_.update(static_cast<std::uint64_t>(location - json_.data()), result_.loaded);
        return lines_.line_at(location);
    }

    void skip_record(std::size_t line, std::string reason) {
        report(on_error_, name_, line, std::move(reason));
        ++result_.skipped;
    }

    std::string_view name_;
    std::string_view id_prefix_;
    std::string_view channel_username_;
    std::string_view json_;
    line_counter lines_;
    progress_reporter progress_;
    bool account_export_ = false;
    std::vector<document>& out_;
    const load_error_handler& on_error_;
    load_report result_;
};

load_report telegram_export_loader::load(ondemand::document& doc) {
    const ondemand::json_type type = doc.type().value();
    if (type != ondemand::json_type::object) {
        throw std::runtime_error(fmt::format(
            "{} is not a Telegram Desktop export: the top-level value is {}, not an object", name_,
            type_name(type)));
    }
    if (!load_chat(doc.get_object().value(), true)) {
        throw std::runtime_error(fmt::format(
            "{} is not a Telegram Desktop export: it has no \"messages\" or \"chats\" field",
            name_));
    }
    require_document_end(doc);
    if (account_export_ && !channel_username_.empty()) {
        throw std::runtime_error(fmt::format(
            "{} is a full-account export, but --channel-username names one channel: export that "
            "channel's history on its own, or leave --channel-username out",
            name_));
    }
    progress_.finish(result_.loaded);
    return result_;
}

/// Loads a chat object, or at the top level also a full-account export whose "chats" and
/// "left_chats" hold chat lists. Returns whether any messages or chat lists were found.
bool telegram_export_loader::load_chat(ondemand::object chat_object, bool top_level) {
    chat_state chat;
    bool found = false;
    // Telegram Desktop writes "type" and "id" before "messages", but documents are finished
    // only once the whole chat is read, so any member order works.
    try {
        load_chat_fields(chat_object, top_level, chat, found);
    } catch (const simdjson::simdjson_error&) {
        // Damaged JSON ends the export. The messages read before it keep their documents, with
        // the id and type read so far.
        finish_chat(chat, top_level && !account_export_);
        throw;
    }
    finish_chat(chat, top_level && !account_export_);
    return found;
}

/// Reads the members of a chat object into `chat`, setting `found` when it has messages or
/// chat lists.
void telegram_export_loader::load_chat_fields(ondemand::object chat_object, bool top_level,
                                              chat_state& chat, bool& found) {
    for (ondemand::field field : chat_object) {
        const std::string_view key = field.unescaped_key().value();
        ondemand::value value = field.value();
        if (key == "messages") {
            found = true;
            if (value.type().value() != ondemand::json_type::array) {
                skip_record(line_of(value), "field \"messages\" is not an array");
                validate_value(value);
                continue;
            }
            for (ondemand::value message : value.get_array()) {
                load_message(message, chat);
            }
        } else if (key == "type" && value.type().value() == ondemand::json_type::string) {
            chat.type.assign(value.get_string().value());
        } else if (key == "id") {
            if (std::optional<std::string> integer = read_integer(value)) {
                chat.id = std::move(*integer);
            } else if (value.type().value() == ondemand::json_type::string) {
                chat.id.assign(value.get_string().value());
            } else {
                validate_value(value);
            }
        } else if (top_level && (key == "chats" || key == "left_chats")) {
            found = true;
            account_export_ = true;
            load_chat_list(value);
        } else {
            validate_value(value);
        }
    }
}

/// Loads the chats of {"about": ..., "list": [chat, ...]}.
void telegram_export_loader::load_chat_list(ondemand::value list_owner) {
    if (list_owner.type().value() != ondemand::json_type::object) {
        skip_record(line_of(list_owner), "chat list is not a JSON object");
        validate_value(list_owner);
        return;
    }
    for (ondemand::field field : list_owner.get_object()) {
        const std::string_view key = field.unescaped_key().value();
        ondemand::value value = field.value();
        if (key != "list") {
            validate_value(value);
            continue;
        }
        if (value.type().value() != ondemand::json_type::array) {
            skip_record(line_of(value), "field \"list\" of a chat list is not an array");
            validate_value(value);
            continue;
        }
        for (ondemand::value chat : value.get_array()) {
            if (chat.type().value() != ondemand::json_type::object) {
                skip_record(line_of(chat), "chat is not a JSON object");
                validate_value(chat);
                continue;
            }
            load_chat(chat.get_object().value(), false);
        }
    }
}

void telegram_export_loader::load_message(ondemand::value message, chat_state& chat) {
    const std::size_t line = line_of(message);
    const ondemand::json_type type = message.type().value();
    if (type != ondemand::json_type::object) {
        skip_record(line, fmt::format("message is not a JSON object (found {})", type_name(type)));
        validate_value(message);
        return;
    }

    std::string message_id;
    std::string message_type;
    std::string text;
    // A wrongly typed field does not stop the walk: the rest of the message must still be
    // read to keep the parser in step, and checked for syntax errors.
    std::string problem;
    for (ondemand::field field : message.get_object()) {
        const std::string_view key = field.unescaped_key().value();
        ondemand::value value = field.value();
        const ondemand::json_type value_type = value.type().value();
        if (key == "id") {
            if (std::optional<std::string> integer = read_integer(value)) {
                message_id = std::move(*integer);
                continue;
            }
            if (problem.empty()) {
                problem =
                    fmt::format("field \"id\" is not an integer (found {})",
                                value_type == ondemand::json_type::number ? "a fraction"
                                                                          : type_name(value_type));
            }
            validate_value(value);
        } else if (key == "type") {
            if (value_type == ondemand::json_type::string) {
                message_type.assign(value.get_string().value());
            } else {
                if (problem.empty()) {
                    problem = fmt::format("field \"type\" is not a string (found {})",
                                          type_name(value_type));
                }
                validate_value(value);
            }
        } else if (key == "text") {
            read_message_text(value, text, problem);
        } else {
            validate_value(value);
        }
    }

    if (!problem.empty()) {
        skip_record(line, std::move(problem));
        return;
    }
    // Service messages ("joined", "pinned", ...) and "unsupported" ones carry no text worth
    // searching; a missing type is read as an ordinary message.
    if (!message_type.empty() && message_type != "message") {
        ++result_.ignored;
        return;
    }
    if (message_id.empty()) {
        skip_record(line, "message has no \"id\"");
        return;
    }
    if (trim(text).empty()) {
        ++result_.ignored;
        return;
    }
    document doc;
    doc.title = make_title(text);
    doc.text = std::move(text);
    chat.messages.push_back(pending_message{out_.size(), line, std::move(message_id)});
    out_.push_back(std::move(doc));
    result_.lines.push_back(line);
    ++result_.loaded;
}

/// Concatenates a message's `text`: a string, or an array of strings and entity objects
/// ({"type": "bold", "text": "..."}). Records the first type error in `problem`.
void telegram_export_loader::read_message_text(ondemand::value text, std::string& out,
                                               std::string& problem) {
    const ondemand::json_type type = text.type().value();
    if (type == ondemand::json_type::string) {
        out.assign(text.get_string().value());
        return;
    }
    if (type != ondemand::json_type::array) {
        if (problem.empty()) {
            problem = fmt::format("field \"text\" is not a string or an array (found {})",
                                  type_name(type));
        }
        validate_value(text);
        return;
    }
    for (ondemand::value part : text.get_array()) {
        const ondemand::json_type part_type = part.type().value();
        if (part_type == ondemand::json_type::string) {
            out.append(part.get_string().value());
            continue;
        }
        if (part_type != ondemand::json_type::object) {
            if (problem.empty()) {
                problem = fmt::format("a part of field \"text\" is {}, not a string or an entity",
                                      type_name(part_type));
            }
            validate_value(part);
            continue;
        }
        bool has_text = false;
        for (ondemand::field field : part.get_object()) {
            const std::string_view key = field.unescaped_key().value();
            ondemand::value value = field.value();
            if (key == "text" && value.type().value() == ondemand::json_type::string) {
                out.append(value.get_string().value());
                has_text = true;
            } else {
                validate_value(value);
            }
        }
        if (!has_text && problem.empty()) {
            problem = "a text entity in field \"text\" has no string \"text\"";
        }
    }
}

/// Gives the chat's documents their ids and links, now that the chat's id and type are known.
/// `single_chat` is set for the chat of a single-chat export, the only one a channel username
/// can belong to.
void telegram_export_loader::finish_chat(chat_state& chat, bool single_chat) {
    const bool links = !chat.id.empty() && has_message_links(chat.type);
    // A public chat's username is not in the export. Without it, links take the
    // t.me/c/<chat id>/<message id> form, which opens only for members of the chat.
    const bool username_links = single_chat && !channel_username_.empty();
    if (username_links && !links) {
        throw std::runtime_error(fmt::format(
            "{} is the export of a {}, but --channel-username needs a channel or supergroup "
            "export: leave --channel-username out for this chat",
            name_, chat.type.empty() ? std::string("chat without a type") : chat.type));
    }
    if (username_links) {
        result_.username_chat = chat.id;
    }
    for (const pending_message& message : chat.messages) {
        document& doc = out_[message.document];
        if (chat.id.empty()) {
            doc.id = fmt::format("{}:{}", id_prefix_, message.line);
        } else {
            doc.id = fmt::format("{}:{}", chat.id, message.message_id);
        }
        if (username_links) {
            doc.url = fmt::format("https://t.me/{}/{}", channel_username_, message.message_id);
        } else if (links) {
            doc.url = fmt::format("https://t.me/c/{}/{}", chat.id, message.message_id);
        }
    }
}

}  // namespace

load_report load_telegram_export(std::string_view name, const padded_buffer& content,
                                 std::size_t start, std::vector<document>& out,
                                 const load_error_handler& on_error) {
    const corpus_options options;
    return load_telegram_export(load_context{name, options, on_error}, content, start, out);
}

load_report load_telegram_export(const load_context& context, const padded_buffer& content,
                                 std::size_t start, std::vector<document>& out) {
    const std::string_view name = context.name;
    // Telegram Desktop writes valid UTF-8, so an invalid byte means a damaged file. Naming its
    // line helps more than the parser's bare "not valid UTF-8". The JSON before that byte is
    // still read, as far as it goes.
    std::string damage;
    std::size_t end = content.size();
    if (const std::size_t invalid = find_invalid_utf8(content.view().substr(start));
        invalid != std::string_view::npos) {
        damage = fmt::format("the byte at line {} is not part of a UTF-8 character",
                             line_at_offset(content.view().substr(start), invalid));
        end = start + invalid;
    }
    padded_buffer repaired;
    const padded_buffer* json = &content;
    if (content.view().substr(0, end).find("\\x", start) != std::string_view::npos) {
        repaired = repair_hex_escapes(content.view().substr(start, end - start));
        json = &repaired;
        start = 0;
        end = repaired.size();
    }
    const std::string_view text = json->view().substr(start, end - start);

    telegram_export_loader loader(context, text, out);
    ondemand::parser parser;
    ondemand::document doc;
    load_report result;
    std::string json_problem;
    const simdjson::error_code status =
        parser.iterate(text.data(), text.size(), json->capacity_with_padding() - start).get(doc);
    if (status != simdjson::SUCCESS) {
        json_problem = fmt::format("it is not valid JSON: {}", simdjson::error_message(status));
    } else {
        try {
            result = loader.load(doc);
        } catch (const simdjson::simdjson_error& error) {
            result = loader.partial_result();
            const std::size_t line = loader.error_line(doc);
            json_problem = line == 0 ? fmt::format("it is not valid JSON: {}", error.what())
                                     : fmt::format("it is not valid JSON near line {}: {}", line,
                                                   error.what());
        }
    }
    // Invalid UTF-8 cuts the JSON short, so the parser's complaint about the cut adds nothing.
    if (damage.empty()) damage = json_problem;
    if (!damage.empty()) {
        result.damage = fmt::format(
            "{} is damaged: {}; loaded the {} {} read before the damage. Telegram Desktop "
            "writes valid JSON in UTF-8, so export the chat again",
            name, damage, result.loaded, result.loaded == 1 ? "document" : "documents");
    }
    return result;
}

}  // namespace tgsearch::detail
