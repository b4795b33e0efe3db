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
#include <memory>
#include <stdexcept>
#include <unordered_set>

namespace tgsearch {

namespace {

namespace ondemand = simdjson::ondemand;
using detail::file_name_of;
using detail::gunzip;
using detail::is_gzip;
using detail::load_jsonl;
using detail::load_telegram_export;
using detail::padded_buffer;
using detail::require_document_end;
using detail::trim;
using detail::validate_value;

constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";

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

std::size_t remove_duplicate_ids(std::vector<document>& docs, std::string& first_duplicate) {
    std::vector<bool> duplicate(docs.size(), false);
    std::size_t duplicates = 0;
    {
        std::unordered_set<std::string_view> seen;
        seen.reserve(docs.size());
        for (std::size_t i = 0; i < docs.size(); ++i) {
            if (!seen.insert(docs[i].id).second) {
                duplicate[i] = true;
                if (duplicates++ == 0) {
                    first_duplicate = docs[i].id;
                }
            }
        }
    }
    if (duplicates == 0) {
        return 0;
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
    return duplicates;
}

}  // namespace tgsearch
