#pragma once

// Helpers shared by the corpus loaders: a padded input buffer for simdjson, the JSON reading
// steps that the JSON Lines and Telegram export loaders both take, progress reporting, and the
// entry points of the format loaders. Internal to core/.

#include "core/corpus_loader.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tgsearch::detail {

namespace ondemand = simdjson::ondemand;

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

    /// Appends `bytes`, growing the capacity at least twofold when they do not fit.
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

/// Checks for a blank other than '\n': space, tab, CR, form feed or vertical tab.
inline bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/// Returns `text` without leading and trailing blanks and newlines.
inline std::string_view trim(std::string_view text) {
    while (!text.empty() && (is_blank(text.front()) || text.front() == '\n')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (is_blank(text.back()) || text.back() == '\n')) {
        text.remove_suffix(1);
    }
    return text;
}

/// Appends `text` to `out` with each CRLF line ending turned into LF.
inline void append_with_lf_endings(std::string& out, std::string_view text) {
    std::size_t copied = 0;
    for (std::size_t cr = text.find("\r\n"); cr != std::string_view::npos;
         cr = text.find("\r\n", cr + 2)) {
        out.append(text.substr(copied, cr - copied));
        copied = cr + 1;
    }
    out.append(text.substr(copied));
}

/// Returns `text` with ASCII letters in lower case, whatever the locale.
inline std::string lowercase_ascii(std::string_view text) {
    std::string lower(text);
    for (char& c : lower) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return lower;
}

/// Returns the part of `name` after the last '/'.
inline std::string_view file_name_of(std::string_view name) {
    const auto slash = name.find_last_of('/');
    return slash == std::string_view::npos ? name : name.substr(slash + 1);
}

/// Names a JSON type with its article ("an array", "null") for error messages.
inline const char* type_name(ondemand::json_type type) {
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
inline void validate_value(ondemand::value value) {
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

/// Throws simdjson::simdjson_error when anything but whitespace follows the root value just read.
inline void require_document_end(ondemand::document& doc) {
    const char* location = nullptr;
    if (doc.current_location().get(location) == simdjson::SUCCESS) {
        throw simdjson::simdjson_error(simdjson::TRAILING_CONTENT);
    }
}

/// Reads an integer value as decimal text. Returns nothing and leaves the value unread when it
/// is not an integer.
inline std::optional<std::string> read_integer(ondemand::value value) {
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

/// Passes an error for `line` of `file` to `on_error` unless the handler is empty.
inline void report(const load_error_handler& on_error, std::string_view file, std::size_t line,
                   std::string reason) {
    if (on_error) {
        on_error(load_error{std::string(file), line, std::move(reason)});
    }
}

/// Returns the offset of the first byte of `text` that is not part of a valid UTF-8 sequence
/// (overlong forms and surrogates included), or std::string_view::npos when there is none.
std::size_t find_invalid_utf8(std::string_view text);

/// Returns the 1-based line of byte `offset` in `text`.
inline std::size_t line_at_offset(std::string_view text, std::size_t offset) {
    const std::string_view head = text.substr(0, offset);
    return 1 + static_cast<std::size_t>(std::count(head.begin(), head.end(), '\n'));
}

/// Makes a title from the first non-blank line of `text`, cut at a word boundary to 80 code
/// points, the ellipsis included.
std::string make_title(std::string_view text);

/// Passes a source's progress to a load_progress_handler, at most once per `step` bytes, so
/// that the per-record cost is one comparison.
class progress_reporter {
public:
    static constexpr std::uint64_t step = std::uint64_t{256} << 10;

    progress_reporter(const load_progress_handler& handler, std::uint64_t bytes_total)
        : handler_(handler), bytes_total_(bytes_total) {}

    void update(std::uint64_t bytes_done, std::size_t documents) {
        if (handler_ && bytes_done >= next_report_) {
            next_report_ = bytes_done + step;
            handler_(load_progress{bytes_done, bytes_total_, documents});
        }
    }

    /// Reports the whole input as done.
    void finish(std::size_t documents) {
        if (handler_) {
            handler_(load_progress{bytes_total_, bytes_total_, documents});
        }
    }

private:
    const load_progress_handler& handler_;
    std::uint64_t bytes_total_ = 0;
    std::uint64_t next_report_ = 0;
};

/// Inputs that every format loader takes besides its content and output.
struct load_context {
    std::string_view name;  ///< the source's path or name, used in errors and generated ids
    const corpus_options& options;
    const load_error_handler& on_error;
};

// The entry points below take the same steps as the declarations in jsonl_loader.hpp and
// telegram_export_loader.hpp, with the options and progress reporting that those lack.

/// Appends a document for each JSON Lines record of `content`, read from byte `start` on.
load_report load_jsonl(const load_context& context, const padded_buffer& content, std::size_t start,
                       std::vector<document>& out);

/// Appends a document for each text message of the Telegram export in `content`, read from byte
/// `start` on. Throws std::runtime_error as the declaration in telegram_export_loader.hpp
/// describes, and also when context.options.channel_username is set for an export that is not
/// a single channel or supergroup.
load_report load_telegram_export(const load_context& context, const padded_buffer& content,
                                 std::size_t start, std::vector<document>& out);

/// Appends a document for each row of the CSV (`delimiter` ',') or TSV ('\t') `content` after
/// its header. Reports each malformed row and skips it. Throws std::runtime_error listing the
/// header's columns when a chosen column is missing or no text column can be found.
load_report load_delimited(const load_context& context, std::string_view content, char delimiter,
                           std::vector<document>& out);

/// Appends a document for each .txt and .md file below `root`. Reports each unreadable, invalid
/// or oversized file and skips it.
load_report load_text_folder(const load_context& context, const std::filesystem::path& root,
                             std::vector<document>& out);

}  // namespace tgsearch::detail
