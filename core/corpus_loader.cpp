#include "core/corpus_loader.hpp"

#include <fmt/format.h>
#include <simdjson.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>

namespace tgsearch {

namespace {

namespace ondemand = simdjson::ondemand;

/// A Telegram title is cut to this many code points, the ellipsis included.
constexpr std::size_t title_max_code_points = 80;

/// Deflate cannot compress better than about 1032:1, so a larger size hint is corrupt.
constexpr std::size_t max_deflate_ratio = 1032;

constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";

/// A byte buffer followed by at least SIMDJSON_PADDING readable bytes, as simdjson requires.
class padded_buffer {
public:
    const char* data() const { return data_.get(); }
    char* data() { return data_.get(); }
    std::size_t size() const { return size_; }
    std::size_t capacity() const { return capacity_; }
    std::size_t capacity_with_padding() const { return capacity_ + simdjson::SIMDJSON_PADDING; }
    std::string_view view() const { return {data_.get(), size_}; }

    /// Makes room for `capacity` bytes of content, keeping what is stored.
    void reserve(std::size_t capacity) {
        if (capacity <= capacity_ && data_) {
            return;
        }
        auto grown = std::make_unique_for_overwrite<char[]>(capacity + simdjson::SIMDJSON_PADDING);
        if (size_ > 0) {
            std::memcpy(grown.get(), data_.get(), size_);
        }
        data_ = std::move(grown);
        capacity_ = capacity;
    }

    /// Sets the content size, which must not exceed the capacity, and zeroes the padding so
    /// that parsing never depends on bytes left over from earlier content.
    void resize(std::size_t size) {
        size_ = size;
        std::memset(data_.get() + size_, 0, simdjson::SIMDJSON_PADDING);
    }

    void append(std::string_view bytes) {
        if (size_ + bytes.size() > capacity_) {
            reserve(std::max(size_ + bytes.size(), capacity_ * 2));
        }
        std::memcpy(data_.get() + size_, bytes.data(), bytes.size());
        resize(size_ + bytes.size());
    }

private:
    std::unique_ptr<char[]> data_;
    std::size_t size_ = 0;
    std::size_t capacity_ = 0;
};

padded_buffer copy_padded(std::string_view bytes) {
    padded_buffer buffer;
    buffer.reserve(bytes.size());
    buffer.append(bytes);
    return buffer;
}

bool is_gzip(std::string_view bytes) {
    return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
           static_cast<unsigned char>(bytes[1]) == 0x8b;
}

/// Decompresses every member of a gzip file. Concatenated .gz files form one file of several
/// members, which gzip(1) reads as one stream.
padded_buffer gunzip(std::string_view name, std::string_view compressed) {
    z_stream stream{};
    // 16 + MAX_WBITS: expect a gzip header and trailer rather than a raw zlib stream.
    if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) {
        throw std::runtime_error(
            fmt::format("cannot decompress {}: zlib initialisation failed", name));
    }
    const std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&stream, inflateEnd);

    // The last four bytes contain the uncompressed size (mod 2^32) of the last member. That is
    // exact for the usual single-member file and only a starting point otherwise.
    std::size_t size_hint = compressed.size() * 4;
    if (compressed.size() >= 18) {
        const auto* tail =
            reinterpret_cast<const unsigned char*>(compressed.data() + compressed.size() - 4);
        const std::size_t last_member_size =
            tail[0] | (tail[1] << 8) | (tail[2] << 16) | (static_cast<std::size_t>(tail[3]) << 24);
        size_hint =
            std::min(std::max(size_hint, last_member_size), compressed.size() * max_deflate_ratio);
    }
    padded_buffer out;
    out.reserve(std::max<std::size_t>(size_hint, 4096));

    std::size_t consumed = 0;
    for (;;) {
        if (stream.avail_in == 0) {
            const std::size_t chunk = std::min<std::size_t>(compressed.size() - consumed, UINT_MAX);
            stream.next_in =
                reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()) + consumed);
            stream.avail_in = static_cast<uInt>(chunk);
            consumed += chunk;
        }
        if (out.size() == out.capacity()) {
            out.reserve(out.capacity() * 2);
        }
        const std::size_t room = std::min<std::size_t>(out.capacity() - out.size(), UINT_MAX);
        stream.next_out = reinterpret_cast<Bytef*>(out.data() + out.size());
        stream.avail_out = static_cast<uInt>(room);

        const int status = inflate(&stream, Z_NO_FLUSH);
        out.resize(out.size() + (room - stream.avail_out));

        if (status == Z_STREAM_END) {
            const std::string_view rest = compressed.substr(consumed - stream.avail_in);
            if (is_gzip(rest)) {
                inflateReset(&stream);
                continue;
            }
            // gzip(1) also accepts zero bytes after the last member, which tar and dd append.
            if (rest.find_first_not_of('\0') != std::string_view::npos) {
                throw std::runtime_error(fmt::format(
                    "cannot decompress {}: unexpected data after the gzip stream", name));
            }
            return out;
        }
        if (status == Z_BUF_ERROR && stream.avail_in == 0 && consumed == compressed.size()) {
            throw std::runtime_error(
                fmt::format("cannot decompress {}: the gzip data is truncated", name));
        }
        if (status != Z_OK && status != Z_BUF_ERROR) {
            throw std::runtime_error(fmt::format("cannot decompress {}: {}", name,
                                                 stream.msg ? stream.msg : "invalid gzip data"));
        }
    }
}

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view trim(std::string_view text) {
    while (!text.empty() && (is_blank(text.front()) || text.front() == '\n')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (is_blank(text.back()) || text.back() == '\n')) {
        text.remove_suffix(1);
    }
    return text;
}

std::string lowercase(std::string_view text) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return lower;
}

std::string_view file_name_of(std::string_view name) {
    const auto slash = name.find_last_of('/');
    return slash == std::string_view::npos ? name : name.substr(slash + 1);
}

const char* type_name(ondemand::json_type type) {
    switch (type) {
        case ondemand::json_type::array:
            return "an array";
        case ondemand::json_type::object:
            return "an object";
        case ondemand::json_type::number:
            return "a number";
        case ondemand::json_type::string:
            return "a string";
        case ondemand::json_type::boolean:
            return "a boolean";
        case ondemand::json_type::null:
            return "null";
    }
    return "an unknown value";
}

/// Walks a value to its end so that a syntax error in an unread field is still caught, because
/// On Demand skips unread values without checking them. Throws simdjson::simdjson_error.
void validate_value(ondemand::value value) {
    switch (value.type().value()) {
        case ondemand::json_type::object:
            for (ondemand::field field : value.get_object()) {
                field.unescaped_key().value();
                validate_value(field.value());
            }
            break;
        case ondemand::json_type::array:
            for (ondemand::value element : value.get_array()) {
                validate_value(element);
            }
            break;
        case ondemand::json_type::number:
            // get_double accepts every valid JSON number, including integers beyond 64 bits.
            value.get_double().value();
            break;
        case ondemand::json_type::string:
            value.get_string().value();
            break;
        case ondemand::json_type::boolean: {
            // get_bool reports a misspelt atom such as `tru` as a type error, so name it here.
            bool flag = false;
            if (value.get_bool().get(flag) != simdjson::SUCCESS) {
                throw simdjson::simdjson_error(value.raw_json_token().starts_with('t')
                                                   ? simdjson::T_ATOM_ERROR
                                                   : simdjson::F_ATOM_ERROR);
            }
            break;
        }
        case ondemand::json_type::null:
            if (!value.is_null().value()) {
                throw simdjson::simdjson_error(simdjson::N_ATOM_ERROR);
            }
            break;
    }
}

/// Fails when anything but whitespace follows the root value that was just read.
void require_document_end(ondemand::document& doc) {
    const char* location = nullptr;
    if (doc.current_location().get(location) == simdjson::SUCCESS) {
        throw simdjson::simdjson_error(simdjson::TRAILING_CONTENT);
    }
}

/// A record that is valid JSON but cannot become a document.
struct record_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Reads a string field that may also be null or absent (both leave `out` empty).
void read_optional_string(ondemand::value value, std::string_view key, std::string& out) {
    const ondemand::json_type type = value.type().value();
    if (type == ondemand::json_type::string) {
        out.assign(value.get_string().value());
        return;
    }
    if (type == ondemand::json_type::null) {
        validate_value(value);
        out.clear();
        return;
    }
    throw record_error(
        fmt::format("field \"{}\" is not a string (found {})", key, type_name(type)));
}

/// Reads an integer value as decimal text. Returns nothing and leaves the value unread when it
/// is not an integer.
std::optional<std::string> read_integer(ondemand::value value) {
    if (value.type().value() != ondemand::json_type::number) {
        return std::nullopt;
    }
    switch (value.get_number_type().value()) {
        case ondemand::number_type::signed_integer:
            return std::to_string(value.get_int64().value());
        case ondemand::number_type::unsigned_integer:
            return std::to_string(value.get_uint64().value());
        default:
            return std::nullopt;
    }
}

/// Reads an id that is a string or an integer. Null leaves `out` empty.
void read_id(ondemand::value value, std::string& out) {
    if (std::optional<std::string> integer = read_integer(value)) {
        out = std::move(*integer);
        return;
    }
    const ondemand::json_type type = value.type().value();
    if (type == ondemand::json_type::string || type == ondemand::json_type::null) {
        read_optional_string(value, "id", out);
        return;
    }
    const char* found = type == ondemand::json_type::number ? "a fraction" : type_name(type);
    throw record_error(fmt::format("field \"id\" is not a string or an integer (found {})", found));
}

void report(const load_error_handler& on_error, std::string_view file, std::size_t line,
            std::string reason) {
    if (on_error) {
        on_error(load_error{std::string(file), line, std::move(reason)});
    }
}

// ---------------------------------------------------------------------------------------------
// JSONL

/// Parses one JSONL record into `doc`. Throws record_error or simdjson::simdjson_error.
void parse_jsonl_record(ondemand::parser& parser, const char* line, std::size_t length,
                        std::size_t readable, document& doc) {
    ondemand::document json = parser.iterate(line, length, readable).value();
    const ondemand::json_type type = json.type().value();
    if (type != ondemand::json_type::object) {
        throw record_error(fmt::format("record is not a JSON object (found {})", type_name(type)));
    }
    for (ondemand::field field : json.get_object()) {
        const std::string_view key = field.unescaped_key().value();
        if (key == "text") {
            read_optional_string(field.value(), key, doc.text);
        } else if (key == "title") {
            read_optional_string(field.value(), key, doc.title);
        } else if (key == "id") {
            read_id(field.value(), doc.id);
        } else if (key == "url") {
            read_optional_string(field.value(), key, doc.url);
        } else {
            validate_value(field.value());
        }
    }
    require_document_end(json);
    if (doc.text.empty() && doc.title.empty()) {
        throw record_error("record has no text: \"text\" and \"title\" are both missing or empty");
    }
}

load_report load_jsonl(std::string_view name, const padded_buffer& content, std::size_t start,
                       std::vector<document>& out, const load_error_handler& on_error) {
    load_report result;
    const char* const begin = content.data();
    const char* const end = begin + content.size();
    // Every line is parsed in place: the bytes after it (the next lines, then the buffer's
    // padding) serve as the padding simdjson reads past the end of its input.
    const char* const readable_end = begin + content.capacity_with_padding();
    const std::string_view id_prefix = file_name_of(name);

    out.reserve(out.size() + static_cast<std::size_t>(std::count(begin + start, end, '\n')) + 1);
    ondemand::parser parser;
    std::size_t line_number = 0;
    for (const char* line = begin + start; line < end;) {
        ++line_number;
        const auto* newline = static_cast<const char*>(std::memchr(line, '\n', end - line));
        const char* line_end = newline ? newline : end;
        const char* next = newline ? newline + 1 : end;
        while (line_end > line && is_blank(line_end[-1])) {
            --line_end;
        }
        const char* first = line;
        while (first < line_end && is_blank(*first)) {
            ++first;
        }
        if (first == line_end) {
            line = next;
            continue;
        }

        document doc;
        try {
            parse_jsonl_record(parser, first, static_cast<std::size_t>(line_end - first),
                               static_cast<std::size_t>(readable_end - first), doc);
        } catch (const record_error& error) {
            report(on_error, name, line_number, error.what());
            ++result.skipped;
            line = next;
            continue;
        } catch (const simdjson::simdjson_error& error) {
            report(on_error, name, line_number, fmt::format("invalid JSON: {}", error.what()));
            ++result.skipped;
            line = next;
            continue;
        }
        if (doc.id.empty()) {
            doc.id = fmt::format("{}:{}", id_prefix, line_number);
        }
        out.push_back(std::move(doc));
        ++result.loaded;
        line = next;
    }
    return result;
}

// ---------------------------------------------------------------------------------------------
// Telegram Desktop export

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

/// Makes a title from the first non-blank line of `text`, cut at a word boundary to
/// title_max_code_points.
std::string make_title(std::string_view text) {
    std::string_view line;
    for (std::size_t position = 0; position < text.size();) {
        const std::size_t end = std::min(text.find('\n', position), text.size());
        line = trim(text.substr(position, end - position));
        if (!line.empty()) {
            break;
        }
        position = end + 1;
    }

    // Keep room for the ellipsis: cut before the last code point that fits.
    std::size_t code_points = 0;
    std::size_t cut = line.size();
    for (std::size_t i = 0; i < line.size(); ++i) {
        const bool continuation = (static_cast<unsigned char>(line[i]) & 0xC0) == 0x80;
        if (continuation) {
            continue;
        }
        if (code_points == title_max_code_points - 1) {
            cut = i;
        }
        ++code_points;
    }
    if (code_points <= title_max_code_points) {
        return std::string(line);
    }

    std::string_view head = line.substr(0, cut);
    // A word boundary in the second half of the head keeps most of the line. Without one (a
    // long URL, text without spaces) the cut falls between code points.
    const std::size_t space = head.find_last_of(' ');
    if (space != std::string_view::npos && space > head.size() / 2) {
        head = head.substr(0, space);
    }
    while (!head.empty() && (is_blank(head.back()) || head.back() == ',' || head.back() == ';' ||
                             head.back() == ':')) {
        head.remove_suffix(1);
    }
    return std::string(head) + "\u2026";
}

/// Chat types whose messages have a t.me link.
bool has_message_links(std::string_view chat_type) {
    return chat_type == "public_channel" || chat_type == "private_channel" ||
           chat_type == "public_supergroup" || chat_type == "private_supergroup";
}

class telegram_export_loader {
public:
    telegram_export_loader(std::string_view name, std::string_view json, std::vector<document>& out,
                           const load_error_handler& on_error)
        : name_(name),
          id_prefix_(file_name_of(name)),
          json_(json),
          lines_(json.data()),
          out_(out),
          on_error_(on_error) {}

    load_report load(ondemand::document& doc);

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
    void load_chat_list(ondemand::value list_owner);
    void load_message(ondemand::value message, chat_state& chat);
    void read_message_text(ondemand::value text, std::string& out, std::string& problem);
    void finish_chat(chat_state& chat);

    std::size_t line_of(ondemand::value& value) {
        const char* location = nullptr;
        if (value.current_location().get(location) != simdjson::SUCCESS) {
            return 0;
        }
        return lines_.line_at(location);
    }

    void skip_record(std::size_t line, std::string reason) {
        report(on_error_, name_, line, std::move(reason));
        ++result_.skipped;
    }

    std::string_view name_;
    std::string_view id_prefix_;
    std::string_view json_;
    line_counter lines_;
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
    return result_;
}

/// Loads a chat object, or at the top level also a full-account export whose "chats" and
/// "left_chats" hold chat lists. Returns whether any messages or chat lists were found.
bool telegram_export_loader::load_chat(ondemand::object chat_object, bool top_level) {
    chat_state chat;
    bool found = false;
    // Telegram Desktop writes "type" and "id" before "messages", but documents are finished
    // only once the whole chat is read, so any member order works.
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
            load_chat_list(value);
        } else {
            validate_value(value);
        }
    }
    finish_chat(chat);
    return found;
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
void telegram_export_loader::finish_chat(chat_state& chat) {
    // NOTE: a public channel's username is not in the export, so even public chats get the
    // t.me/c/<chat id>/<message id> form, which opens only for members of the chat.
    const bool links = !chat.id.empty() && has_message_links(chat.type);
    for (const pending_message& message : chat.messages) {
        document& doc = out_[message.document];
        if (chat.id.empty()) {
            doc.id = fmt::format("{}:{}", id_prefix_, message.line);
        } else {
            doc.id = fmt::format("{}:{}", chat.id, message.message_id);
        }
        if (links) {
            doc.url = fmt::format("https://t.me/c/{}/{}", chat.id, message.message_id);
        }
    }
}

load_report load_telegram_export(std::string_view name, const padded_buffer& content,
                                 std::size_t start, std::vector<document>& out,
                                 const load_error_handler& on_error) {
    padded_buffer repaired;
    const padded_buffer* json = &content;
    if (content.view().find("\\x", start) != std::string_view::npos) {
        repaired = repair_hex_escapes(content.view().substr(start));
        json = &repaired;
        start = 0;
    }
    const std::string_view text = json->view().substr(start);

    telegram_export_loader loader(name, text, out, on_error);
    ondemand::parser parser;
    ondemand::document doc;
    const simdjson::error_code status =
        parser.iterate(text.data(), text.size(), json->capacity_with_padding() - start).get(doc);
    if (status != simdjson::SUCCESS) {
        throw std::runtime_error(
            fmt::format("{} is not valid JSON: {}", name, simdjson::error_message(status)));
    }
    try {
        return loader.load(doc);
    } catch (const simdjson::simdjson_error& error) {
        const std::size_t line = loader.error_line(doc);
        if (line == 0) {
            throw std::runtime_error(fmt::format("{} is not valid JSON: {}", name, error.what()));
        }
        throw std::runtime_error(
            fmt::format("{} is not valid JSON near line {}: {}", name, line, error.what()));
    }
}

// ---------------------------------------------------------------------------------------------
// Format detection

bool ends_with_any(std::string_view name, std::initializer_list<std::string_view> suffixes) {
    return std::any_of(suffixes.begin(), suffixes.end(),
                       [name](std::string_view suffix) { return name.ends_with(suffix); });
}

/// Checks whether `line` is one whole JSON object. A one-line Telegram export (an object with
/// "messages" or "chats") does not count.
bool is_jsonl_record(std::string_view line) {
    const padded_buffer copy = copy_padded(line);
    ondemand::parser parser;
    try {
        ondemand::document doc =
            parser.iterate(copy.data(), copy.size(), copy.capacity_with_padding()).value();
        bool export_like = false;
        for (ondemand::field field : doc.get_object()) {
            const std::string_view key = field.unescaped_key().value();
            export_like = export_like || key == "messages" || key == "chats";
            validate_value(field.value());
        }
        require_document_end(doc);
        return !export_like;
    } catch (const simdjson::simdjson_error&) {
        return false;
    }
}

corpus_format detect_format(std::string_view name, std::string_view content) {
    const std::string file_name = lowercase(file_name_of(name));
    if (ends_with_any(file_name, {".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz"})) {
        return corpus_format::jsonl;
    }
    if (file_name == "result.json" || ends_with_any(file_name, {".json", ".json.gz"})) {
        return corpus_format::telegram_export;
    }

    std::string_view line;
    for (std::size_t position = 0; position < content.size();) {
        const std::size_t end = std::min(content.find('\n', position), content.size());
        line = trim(content.substr(position, end - position));
        if (!line.empty()) {
            break;
        }
        position = end + 1;
    }
    if (line.starts_with('{')) {
        return is_jsonl_record(line) ? corpus_format::jsonl : corpus_format::telegram_export;
    }
    throw std::runtime_error(fmt::format(
        "cannot detect the corpus format of {}: it is neither JSON Lines nor a Telegram Desktop "
        "export; pass --format jsonl or --format telegram",
        name));
}

load_report load_content(std::string_view name, const padded_buffer& content, corpus_format format,
                         std::vector<document>& out, const load_error_handler& on_error) {
    const std::size_t start = content.view().starts_with(utf8_bom) ? utf8_bom.size() : 0;
    if (format == corpus_format::detect) {
        format = detect_format(name, content.view().substr(start));
    }
    const std::size_t original_size = out.size();
    try {
        if (format == corpus_format::jsonl) {
            return load_jsonl(name, content, start, out, on_error);
        }
        return load_telegram_export(name, content, start, out, on_error);
    } catch (...) {
        // Leave `out` as it was, so a failed file adds no half of its documents.
        out.erase(out.begin() + static_cast<std::ptrdiff_t>(original_size), out.end());
        throw;
    }
}

padded_buffer read_file(const std::filesystem::path& path) {
    const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                               std::fclose);
    if (!file) {
        throw std::runtime_error(
            fmt::format("cannot read corpus file {}: {}", path.string(), std::strerror(errno)));
    }
    std::error_code size_error;
    const auto size = std::filesystem::file_size(path, size_error);
    padded_buffer buffer;
    buffer.reserve(size_error ? 1 << 16 : static_cast<std::size_t>(size) + 1);
    for (;;) {
        if (buffer.size() == buffer.capacity()) {
            buffer.reserve(buffer.capacity() * 2);
        }
        const std::size_t read = std::fread(buffer.data() + buffer.size(), 1,
                                            buffer.capacity() - buffer.size(), file.get());
        buffer.resize(buffer.size() + read);
        if (read == 0) {
            if (std::ferror(file.get())) {
                throw std::runtime_error(fmt::format("cannot read corpus file {}: {}",
                                                     path.string(), std::strerror(errno)));
            }
            return buffer;
        }
    }
}

}  // namespace

corpus_format parse_corpus_format(std::string_view name) {
    if (name == "detect") {
        return corpus_format::detect;
    }
    if (name == "jsonl") {
        return corpus_format::jsonl;
    }
    if (name == "telegram" || name == "telegram-export") {
        return corpus_format::telegram_export;
    }
    throw std::invalid_argument(
        fmt::format("invalid corpus format \"{}\": expected detect, jsonl or telegram", name));
}

load_report load_corpus_file(const std::filesystem::path& path, corpus_format format,
                             std::vector<document>& out, const load_error_handler& on_error) {
    const std::string name = path.string();
    padded_buffer raw = read_file(path);
    if (is_gzip(raw.view())) {
        return load_content(name, gunzip(name, raw.view()), format, out, on_error);
    }
    return load_content(name, raw, format, out, on_error);
}

load_report load_corpus_bytes(std::string_view name, std::string_view bytes, corpus_format format,
                              std::vector<document>& out, const load_error_handler& on_error) {
    if (is_gzip(bytes)) {
        return load_content(name, gunzip(name, bytes), format, out, on_error);
    }
    return load_content(name, copy_padded(bytes), format, out, on_error);
}

}  // namespace tgsearch
