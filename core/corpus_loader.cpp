#include "core/corpus_loader.hpp"

#include "core/corpus_loader_detail.hpp"
#include "core/gzip.hpp"
#include "core/jsonl_loader.hpp"
#include "core/telegram_export_loader.hpp"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <unordered_map>

namespace tgsearch {

namespace {

namespace ondemand = simdjson::ondemand;
using detail::file_name_of;
using detail::gunzip;
using detail::gunzip_result;
using detail::is_gzip;
using detail::load_context;
using detail::load_delimited;
using detail::load_jsonl;
using detail::load_telegram_export;
using detail::load_text_folder;
using detail::padded_buffer;
using detail::require_document_end;
using detail::trim;
using detail::validate_value;

constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";

/// Keys of the per-source options of a --corpus argument (see parse_corpus_source).
constexpr std::string_view source_keys[] = {"format", "text", "title", "id", "url"};

padded_buffer copy_padded(std::string_view bytes) {
    padded_buffer buffer;
    buffer.reserve(bytes.size());
    buffer.append(bytes);
    return buffer;
}

std::string lowercase(std::string_view text) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return lower;
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

/// Decides the format from the file name alone, or returns corpus_format::detect.
corpus_format format_from_name(std::string_view name) {
    const std::string file_name = lowercase(file_name_of(name));
    if (ends_with_any(file_name, {".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz"})) {
        return corpus_format::jsonl;
    }
    if (ends_with_any(file_name, {".csv", ".csv.gz"})) {
        return corpus_format::csv;
    }
    if (ends_with_any(file_name, {".tsv", ".tsv.gz", ".tab", ".tab.gz"})) {
        return corpus_format::tsv;
    }
    if (file_name == "result.json" || ends_with_any(file_name, {".json", ".json.gz"})) {
        return corpus_format::telegram_export;
    }
    return corpus_format::detect;
}

corpus_format detect_format(std::string_view name, std::string_view content) {
    if (const corpus_format by_name = format_from_name(name); by_name != corpus_format::detect) {
        return by_name;
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
        "cannot detect the corpus format of {}: its name does not end in .jsonl, .csv, .tsv or "
        ".json and its first line is not a JSON object; pass --format jsonl, csv, tsv or "
        "telegram",
        name));
}

/// Returns why the content cannot be loaded when it is UTF-16 or UTF-32 text, which every
/// loader reads as UTF-8 and would otherwise reject record by record with errors that do not
/// say why, or an empty string. Spreadsheet programs write such files when asked for "Unicode
/// text".
std::string wide_encoding_problem(std::string_view name, std::string_view content) {
    const char* encoding = nullptr;
    if (content.starts_with(std::string_view("\xFF\xFE\0\0", 4)) ||
        content.starts_with(std::string_view("\0\0\xFE\xFF", 4))) {
        encoding = "UTF-32";
    } else if (content.starts_with("\xFF\xFE") || content.starts_with("\xFE\xFF")) {
        encoding = "UTF-16";
    } else {
        // Without a byte order mark, ASCII text in UTF-16 has a NUL in every other byte.
        const std::string_view head = content.substr(0, 512);
        const auto nuls = static_cast<std::size_t>(std::count(head.begin(), head.end(), '\0'));
        if (head.size() >= 16 && nuls * 3 >= head.size()) {
            encoding = "UTF-16";
        }
    }
    if (encoding != nullptr) {
        const std::filesystem::path path(name);
        std::filesystem::path converted = path;
        converted.replace_filename(path.stem().string() + "-utf8" + path.extension().string());
        return fmt::format(
            "{} is {} text, but corpus files must be UTF-8; convert it, for example with "
            "iconv -f {} -t UTF-8 {} > {}",
            name, encoding, encoding, name, converted.string());
    }
    return {};
}

load_report load_content(const load_context& context, const padded_buffer& content,
                         std::vector<document>& out) {
    if (std::string problem = wide_encoding_problem(context.name, content.view());
        !problem.empty()) {
        load_report report;
        report.damage = std::move(problem);
        return report;
    }
    const std::size_t start = content.view().starts_with(utf8_bom) ? utf8_bom.size() : 0;
    corpus_format format = context.options.format;
    if (format == corpus_format::detect) {
        format = detect_format(context.name, content.view().substr(start));
    }
    const std::size_t original_size = out.size();
    try {
        switch (format) {
            case corpus_format::jsonl:
                return load_jsonl(context, content, start, out);
            case corpus_format::csv:
                return load_delimited(context, content.view().substr(start), ',', out);
            case corpus_format::tsv:
                return load_delimited(context, content.view().substr(start), '\t', out);
            case corpus_format::text_folder:
                throw std::runtime_error(fmt::format(
                    "{} is a file, but --format folder needs a directory of .txt and .md files",
                    context.name));
            case corpus_format::telegram_export:
            case corpus_format::detect:
                break;
        }
        return load_telegram_export(context, content, start, out);
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
        const int error = errno;
        // A mistyped per-source option leaves the whole argument as the path.
        const std::string hint =
            error == ENOENT && path.string().find('#') != std::string::npos
                ? "; options after '#' take the keys format, text, title, id and url"
                : "";
        throw std::runtime_error(fmt::format("cannot read corpus file {}: {}{}", path.string(),
                                             std::strerror(error), hint));
    }
    // A directory opens like a file on Linux and fails only at the first read.
    if (std::error_code type_error; std::filesystem::is_directory(path, type_error)) {
        throw std::runtime_error(fmt::format(
            "cannot read corpus file {}: it is a directory; pass a file, or --format folder or "
            "--format detect to load a folder",
            path.string()));
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

std::string plural(std::size_t count, std::string_view noun) {
    return fmt::format("{} {}{}", count, noun, count == 1 ? "" : "s");
}

/// Decompresses gzip data and loads what it holds. When the data is damaged, the line that the
/// damage cut short is dropped, the lines before it load, and the report describes the damage.
load_report load_gzip(const load_context& context, std::string_view compressed,
                      std::vector<document>& out) {
    gunzip_result unpacked = gunzip(context.name, compressed);
    if (unpacked.damage.empty()) {
        return load_content(context, unpacked.content, out);
    }
    // In the line-based formats the damage cut the last line short, so it would only add a
    // malformed record. A Telegram export is one JSON value, which its loader reads up to the
    // damage.
    corpus_format format = context.options.format;
    const std::string_view content = unpacked.content.view();
    if (format == corpus_format::detect) {
        try {
            const std::size_t start = content.starts_with(utf8_bom) ? utf8_bom.size() : 0;
            format = detect_format(context.name, content.substr(start));
        } catch (const std::runtime_error&) {
            // load_content below reports that the format cannot be detected.
        }
    }
    if (format != corpus_format::telegram_export) {
        const std::size_t last_line_end = content.rfind('\n');
        unpacked.content.resize(last_line_end == std::string_view::npos ? 0 : last_line_end + 1);
    }
    load_report report;
    std::string consequence;
    try {
        report = load_content(context, unpacked.content, out);
    } catch (const std::runtime_error& error) {
        // What precedes the damage may be too short to detect its format or read its header.
        consequence = fmt::format(" ({})", error.what());
    }
    const std::string content_damage = report.damage.empty() ? "" : "; also, " + report.damage;
    report.damage = fmt::format(
        "{} is damaged: {}{}; loaded the {} read before the damage{}. Check the file with "
        "gzip -t, and re-download or re-export it",
        context.name, unpacked.damage, consequence, plural(report.loaded, "document"),
        content_damage);
    return report;
}

/// Loads a file, decompressing it first when it starts with the gzip magic bytes.
load_report load_file(const std::filesystem::path& path, const corpus_options& options,
                      std::vector<document>& out, const load_error_handler& on_error) {
    const std::string name = path.string();
    const load_context context{name, options, on_error};
    padded_buffer raw = read_file(path);
    if (is_gzip(raw.view())) {
        return load_gzip(context, raw.view(), out);
    }
    if (path.extension() == ".gz") {
        load_report report;
        report.damage = fmt::format(
            "{} is damaged: its name ends in .gz, but it is not gzip data; re-download it, or "
            "rename it without .gz if it is not compressed",
            name);
        return report;
    }
    return load_content(context, raw, out);
}

bool is_username_character(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

}  // namespace

namespace detail {

std::size_t find_invalid_utf8(std::string_view text) {
    if (simdjson::validate_utf8(text)) {
        return std::string_view::npos;
    }
    // Only invalid text takes this slower walk, which finds the offset that the validator
    // does not return.
    std::size_t i = 0;
    while (i < text.size()) {
        const auto lead = static_cast<unsigned char>(text[i]);
        std::size_t length = 0;
        std::uint32_t min_code_point = 0;
        std::uint32_t code_point = 0;
        if (lead < 0x80) {
            ++i;
            continue;
        }
        if (lead >= 0xC2 && lead <= 0xDF) {
            length = 2;
            min_code_point = 0x80;
            code_point = lead & 0x1F;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            length = 3;
            min_code_point = 0x800;
            code_point = lead & 0x0F;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            length = 4;
            min_code_point = 0x10000;
            code_point = lead & 0x07;
        } else {
            return i;
        }
        if (i + length > text.size()) {
            return i;
        }
        for (std::size_t k = 1; k < length; ++k) {
            const auto next = static_cast<unsigned char>(text[i + k]);
            if ((next & 0xC0) != 0x80) {
                return i;
            }
            code_point = (code_point << 6) | (next & 0x3F);
        }
        const bool surrogate = code_point >= 0xD800 && code_point <= 0xDFFF;
        if (code_point < min_code_point || surrogate || code_point > 0x10FFFF) {
            return i;
        }
        i += length;
    }
    return std::string_view::npos;
}

/// A Telegram title is cut to this many code points, the ellipsis included.
constexpr std::size_t title_max_code_points = 80;

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

}  // namespace detail

std::string parse_channel_username(std::string_view value) {
    std::string_view name = trim(value);
    for (const std::string_view prefix :
         {"https://t.me/", "http://t.me/", "t.me/", "https://telegram.me/", "@"}) {
        if (name.starts_with(prefix)) {
            name.remove_prefix(prefix.size());
            break;
        }
    }
    if (name.ends_with('/')) {
        name.remove_suffix(1);
    }
    const bool valid_characters = std::all_of(name.begin(), name.end(), is_username_character);
    if (name.size() < 5 || name.size() > 32 || !valid_characters ||
        (name.front() >= '0' && name.front() <= '9')) {
        throw std::invalid_argument(fmt::format(
            "invalid channel username \"{}\": expected 5 to 32 letters, digits and underscores, "
            "not starting with a digit, as in @debian_news or https://t.me/debian_news",
            value));
    }
    return std::string(name);
}

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
    if (name == "csv") {
        return corpus_format::csv;
    }
    if (name == "tsv") {
        return corpus_format::tsv;
    }
    if (name == "folder") {
        return corpus_format::text_folder;
    }
    throw std::invalid_argument(fmt::format(
        "invalid corpus format \"{}\": expected detect, jsonl, telegram, csv, tsv or folder",
        name));
}

load_report load_corpus(const std::filesystem::path& path, const corpus_options& options,
                        std::vector<document>& out, const load_error_handler& on_error) {
    std::error_code type_error;
    if (!std::filesystem::is_directory(path, type_error)) {
        return load_file(path, options, out, on_error);
    }
    const std::filesystem::path export_file = path / "result.json";
    const bool has_export = std::filesystem::is_regular_file(export_file, type_error);
    if (options.format == corpus_format::telegram_export ||
        (options.format == corpus_format::detect && has_export)) {
        return load_file(export_file, options, out, on_error);
    }
    if (options.format != corpus_format::detect && options.format != corpus_format::text_folder) {
        // read_file names the directory and the formats that accept one.
        return load_file(path, options, out, on_error);
    }
    const std::string name = path.string();
    const std::size_t original_size = out.size();
    try {
        return load_text_folder(load_context{name, options, on_error}, path, out);
    } catch (...) {
        out.erase(out.begin() + static_cast<std::ptrdiff_t>(original_size), out.end());
        throw;
    }
}

load_report load_corpus_bytes(std::string_view name, std::string_view bytes,
                              const corpus_options& options, std::vector<document>& out,
                              const load_error_handler& on_error) {
    const load_context context{name, options, on_error};
    if (is_gzip(bytes)) {
        return load_gzip(context, bytes, out);
    }
    return load_content(context, copy_padded(bytes), out);
}

load_report load_corpus_file(const std::filesystem::path& path, corpus_format format,
                             std::vector<document>& out, const load_error_handler& on_error) {
    corpus_options options;
    options.format = format;
    return load_corpus(path, options, out, on_error);
}

load_report load_corpus_bytes(std::string_view name, std::string_view bytes, corpus_format format,
                              std::vector<document>& out, const load_error_handler& on_error) {
    corpus_options options;
    options.format = format;
    return load_corpus_bytes(name, bytes, options, out, on_error);
}

std::size_t remove_duplicate_ids(std::vector<document>& docs, std::string& first_duplicate) {
    std::vector<duplicate_document> removed;
    remove_duplicate_ids(docs, removed);
    if (!removed.empty()) {
        first_duplicate = removed.front().id;
    }
    return removed.size();
}

void remove_duplicate_ids(std::vector<document>& docs, std::vector<duplicate_document>& removed) {
    std::vector<bool> duplicate(docs.size(), false);
    {
        std::unordered_map<std::string_view, std::size_t> first_of;
        first_of.reserve(docs.size());
        for (std::size_t i = 0; i < docs.size(); ++i) {
            const auto [first, inserted] = first_of.emplace(docs[i].id, i);
            if (!inserted) {
                duplicate[i] = true;
                removed.push_back(duplicate_document{docs[i].id, i, first->second});
            }
        }
    }
    if (removed.empty()) {
        return;
    }
    std::size_t kept = 0;
    for (std::size_t i = 0; i < docs.size(); ++i) {
        if (duplicate[i]) {
            continue;
        }
        // Moving a document onto itself would empty it, so the ones before the first
        // duplicate stay where they are.
        if (kept != i) {
            docs[kept] = std::move(docs[i]);
        }
        ++kept;
    }
    docs.resize(kept);
}

corpus_source parse_corpus_source(std::string_view argument, const corpus_options& defaults) {
    corpus_source source{std::filesystem::path(argument), defaults};
    const std::size_t hash = argument.rfind('#');
    if (hash == std::string_view::npos) {
        return source;
    }
    const std::string_view settings = argument.substr(hash + 1);
    const bool has_options = std::any_of(
        std::begin(source_keys), std::end(source_keys), [settings](std::string_view key) {
            return settings.starts_with(key) && settings.substr(key.size()).starts_with('=');
        });
    if (!has_options) {
        return source;
    }
    source.path = std::filesystem::path(argument.substr(0, hash));
    csv_columns& columns = source.options.columns;
    std::size_t position = 0;
    while (position <= settings.size()) {
        const std::size_t end = std::min(settings.find(';', position), settings.size());
        const std::string_view item = settings.substr(position, end - position);
        position = end + 1;
        if (item.empty()) {
            continue;
        }
        const std::size_t equals = item.find('=');
        const std::string_view key = item.substr(0, equals);
        const std::string_view value =
            equals == std::string_view::npos ? std::string_view() : trim(item.substr(equals + 1));
        if (equals == std::string_view::npos ||
            std::find(std::begin(source_keys), std::end(source_keys), key) ==
                std::end(source_keys)) {
            throw std::invalid_argument(fmt::format(
                "invalid option \"{}\" in --corpus {}: expected KEY=VALUE with the key format, "
                "text, title, id or url, as in --corpus "
                "faq.csv#text=question,answer;title=question",
                item, argument));
        }
        if (key == "format") {
            source.options.format =
                value.empty() ? corpus_format::detect : parse_corpus_format(value);
        } else if (key == "text") {
            columns.text.clear();
            for (std::size_t start = 0; start <= value.size();) {
                const std::size_t comma = std::min(value.find(',', start), value.size());
                const std::string_view column = trim(value.substr(start, comma - start));
                if (!column.empty()) {
                    columns.text.emplace_back(column);
                }
                start = comma + 1;
            }
        } else if (key == "title") {
            columns.title = value;
        } else if (key == "id") {
            columns.id = value;
        } else {
            columns.url = value;
        }
    }
    return source;
}

}  // namespace tgsearch
