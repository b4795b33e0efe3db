#include "core/jsonl_loader.hpp"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace tgsearch::detail {

namespace {

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

/// Parses one JSONL record into `doc`. A url that is not a string or null is left out, and
/// `warning` describes it. Throws record_error or simdjson::simdjson_error.
void parse_jsonl_record(ondemand::parser& parser, const char* line, std::size_t length,
                        std::size_t readable, document& doc, std::string& warning) {
    ondemand::document json = parser.iterate(line, length, readable).value();
    const ondemand::json_type type = json.type().value();
    if (type != ondemand::json_type::object) {
        // On Demand guesses the type from the first byte, so a line such as "not json" looks like
        // null. Check the scalar, so that such a line is reported as invalid JSON.
        simdjson::error_code scalar_error = simdjson::SUCCESS;
        if (type == ondemand::json_type::null) {
            bool is_null = false;
            scalar_error = json.is_null().get(is_null);
            if (scalar_error == simdjson::SUCCESS && !is_null) {
                scalar_error = simdjson::N_ATOM_ERROR;
            }
        } else if (type == ondemand::json_type::boolean) {
            scalar_error = json.get_bool().error();
        } else if (type == ondemand::json_type::number) {
            scalar_error = json.get_double().error();
        }
        if (scalar_error != simdjson::SUCCESS) {
            throw simdjson::simdjson_error(scalar_error);
        }
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
            ondemand::value value = field.value();
            const ondemand::json_type url_type = value.type().value();
            if (url_type == ondemand::json_type::string || url_type == ondemand::json_type::null) {
                read_optional_string(value, key, doc.url);
            } else {
                // The text is still worth searching, so only the link is lost.
                validate_value(value);
                warning = fmt::format(
                    "field \"url\" is not a string (found {}), so the record loaded without a "
                    "link; write the url as a JSON string",
                    type_name(url_type));
            }
        } else {
            validate_value(field.value());
        }
    }
    require_document_end(json);
    if (doc.text.empty() && doc.title.empty()) {
        throw record_error("record has no text: \"text\" and \"title\" are both missing or empty");
    }
}

}  // namespace

load_report load_jsonl(std::string_view name, const padded_buffer& content, std::size_t start,
                       std::vector<document>& out, const load_error_handler& on_error) {
    const corpus_options options;
    return load_jsonl(load_context{name, options, on_error}, content, start, out);
}

load_report load_jsonl(const load_context& context, const padded_buffer& content, std::size_t start,
                       std::vector<document>& out) {
    const std::string_view name = context.name;
    const load_error_handler& on_error = context.on_error;
    progress_reporter progress(context.options.on_progress, content.size());
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
        progress.update(static_cast<std::uint64_t>(line - begin), result.loaded);
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
        std::string warning;
        try {
            parse_jsonl_record(parser, first, static_cast<std::size_t>(line_end - first),
                               static_cast<std::size_t>(readable_end - first), doc, warning);
        } catch (const record_error& error) {
            report(on_error, name, line_number, error.what());
            ++result.skipped;
            line = next;
            continue;
        } catch (const simdjson::simdjson_error& error) {
            report(on_error, name, line_number,
                   error.error() == simdjson::UTF8_ERROR
                       ? std::string("the line is not valid UTF-8; convert the file to UTF-8, for "
                                     "example with iconv -f LATIN1 -t UTF-8")
                       : fmt::format("invalid JSON: {}", error.what()));
            ++result.skipped;
            line = next;
            continue;
        }
        if (!warning.empty() && on_error) {
            on_error(load_error{std::string(name), line_number, std::move(warning), true});
        }
        if (doc.id.empty()) {
            doc.id = fmt::format("{}:{}", id_prefix, line_number);
        }
        out.push_back(std::move(doc));
        result.lines.push_back(line_number);
        ++result.loaded;
        line = next;
    }
    progress.finish(result.loaded);
    return result;
}

}  // namespace tgsearch::detail
