#pragma once

// Helpers shared by the corpus loaders: a padded input buffer for simdjson and the JSON reading
// steps that the JSON Lines and Telegram export loaders both take. Internal to core/.

#include "core/corpus_loader.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

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

}  // namespace tgsearch::detail
