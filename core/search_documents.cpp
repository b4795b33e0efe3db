#include "core/search_documents.hpp"

#include <simdjson.h>

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace tgsearch::detail {
namespace {

void append_length(std::string& out, std::size_t value) {
    while (value >= 0x80) {
        out.push_back(static_cast<char>(value | 0x80));
        value >>= 7;
    }
    out.push_back(static_cast<char>(value));
}

std::size_t read_length(const char*& data) {
    std::size_t value = 0;
    for (unsigned shift = 0;; shift += 7) {
        const auto byte = static_cast<unsigned char>(*data++);
        value |= static_cast<std::size_t>(byte & 0x7F) << shift;
        if (byte < 0x80) return value;
    }
}

/// Reads one varint of `record` at `at` and moves `at` past it. Returns false when the varint
/// runs past the record or does not fit in the record's size.
bool read_checked_length(std::string_view record, std::size_t& at, std::size_t& value) {
    value = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (at >= record.size()) return false;
        const auto byte = static_cast<unsigned char>(record[at++]);
        value |= static_cast<std::size_t>(byte & 0x7F) << shift;
        if (byte < 0x80) return value <= record.size();
    }
    return false;
}

/// Checks one document record: three varint lengths within the record, then fields that are
/// valid UTF-8, as every loader guarantees. Throws std::invalid_argument naming `doc`.
void check_record(std::string_view record, std::size_t doc) {
    const auto reject = [doc](const std::string& problem) {
        throw std::invalid_argument("document " + std::to_string(doc) + " " + problem);
    };
    std::size_t at = 0;
    std::size_t sizes[3];
    for (std::size_t& size : sizes) {
        if (!read_checked_length(record, at, size)) reject("has an invalid field length");
    }
    if (sizes[0] + sizes[1] + sizes[2] > record.size() - at) {
        reject("has fields longer than its record");
    }
    // Reply text goes to Telegram, which rejects a message that is not valid UTF-8.
    const std::string_view fields = record.substr(at);
    std::size_t field_start = 0;
    for (const std::size_t size : sizes) {
        if (!simdjson::validate_utf8(fields.data() + field_start, size)) {
            reject("has a field that is not valid UTF-8");
        }
        field_start += size;
    }
    if (!simdjson::validate_utf8(fields.data() + field_start, fields.size() - field_start)) {
        reject("has a text that is not valid UTF-8");
    }
}

/// Bytes of a varint of `value`.
std::size_t length_bytes(std::size_t value) {
    std::size_t bytes = 1;
    for (; value >= 0x80; value >>= 7) ++bytes;
    return bytes;
}

}  // namespace

document_store::document_store(std::vector<document>&& docs) {
    std::size_t total = 0;
    for (const document& doc : docs) {
        total += length_bytes(doc.id.size()) + length_bytes(doc.title.size()) +
                 length_bytes(doc.url.size()) + doc.id.size() + doc.title.size() + doc.url.size() +
                 doc.text.size();
    }
    owned_bytes_.reserve(total);
    owned_starts_.reserve(docs.size() + 1);
    for (document& doc : docs) {
        owned_starts_.push_back(owned_bytes_.size());
        append_length(owned_bytes_, doc.id.size());
        append_length(owned_bytes_, doc.title.size());
        append_length(owned_bytes_, doc.url.size());
        owned_bytes_ += doc.id;
        owned_bytes_ += doc.title;
        owned_bytes_ += doc.url;
        owned_bytes_ += doc.text;
        doc = document();
    }
    owned_starts_.push_back(owned_bytes_.size());
    docs.clear();
    docs.shrink_to_fit();
    bytes_ = owned_bytes_;
    starts_ = owned_starts_;
}

document_store::document_store(std::string_view bytes, std::span<const std::uint64_t> starts)
    : bytes_(bytes), starts_(starts) {
    if (starts.empty() || starts.front() != 0 || starts.back() != bytes.size()) {
        throw std::invalid_argument("document offsets do not cover the document bytes");
    }
    for (std::size_t doc = 0; doc + 1 < starts.size(); ++doc) {
        if (starts[doc] > starts[doc + 1]) {
            throw std::invalid_argument("document offsets are not ascending");
        }
    }
    for (std::size_t doc = 0; doc + 1 < starts.size(); ++doc) {
        check_record(bytes.substr(starts[doc], starts[doc + 1] - starts[doc]), doc);
    }
}

// A moved std::string may keep short contents inline, at a new address, so the views are
// taken again after a move rather than copied.
document_store::document_store(document_store&& other) noexcept { *this = std::move(other); }

document_store& document_store::operator=(document_store&& other) noexcept {
    const bool owned = other.bytes_.data() == other.owned_bytes_.data();
    owned_bytes_ = std::move(other.owned_bytes_);
    owned_starts_ = std::move(other.owned_starts_);
    if (owned) {
        bytes_ = owned_bytes_;
        starts_ = owned_starts_;
    } else {
        bytes_ = other.bytes_;
        starts_ = other.starts_;
    }
    other.bytes_ = {};
    other.starts_ = {};
    return *this;
}

document_view document_store::at(std::size_t doc) const {
    const char* data = bytes_.data() + starts_[doc];
    const std::size_t id_size = read_length(data);
    const std::size_t title_size = read_length(data);
    const std::size_t url_size = read_length(data);
    const char* end = bytes_.data() + starts_[doc + 1];
    document_view view;
    view.id = std::string_view(data, id_size);
    data += id_size;
    view.title = std::string_view(data, title_size);
    data += title_size;
    view.url = std::string_view(data, url_size);
    data += url_size;
    view.text = std::string_view(data, static_cast<std::size_t>(end - data));
    return view;
}

}  // namespace tgsearch::detail
