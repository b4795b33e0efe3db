#include "core/index_file.hpp"

#include "core/postings.hpp"
#include "core/search_index_impl.hpp"

#include <fcntl.h>
#include <simdjson.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace tgsearch {
namespace {

constexpr std::array<char, 8> file_magic{'T', 'G', 'S', 'I', 'N', 'D', 'E', 'X'};
constexpr std::uint32_t byte_order_mark = 0x01020304;
/// byte_order_mark as a machine of the other byte order reads it.
constexpr std::uint32_t swapped_byte_order_mark = 0x04030201;
constexpr std::size_t header_bytes = 64;
constexpr std::size_t crc_offset = 24;
/// Section starts are aligned to a cache line, which also aligns every array for its type.
constexpr std::size_t section_alignment = 64;

enum section : std::size_t {
    parameters_section,
    document_bytes_section,
    document_starts_section,
    term_text_section,
    term_offsets_section,
    doc_frequency_section,
    posting_stream_section,
    posting_offsets_section,
    length_norm_section,
    section_count,
};

struct file_header {
    std::array<char, 8> magic;
    std::uint32_t version;
    std::uint32_t byte_order;
    std::uint64_t file_size;
    std::uint32_t crc;
    std::uint32_t sections;
    std::array<std::uint8_t, 32> reserved;
};
static_assert(sizeof(file_header) == header_bytes);
static_assert(offsetof(file_header, crc) == crc_offset);

struct section_entry {
    std::uint64_t offset;
    std::uint64_t size;
};

struct file_parameters {
    float k1;
    float b;
    float title_boost;
    std::uint32_t reserved;
    double average_length;
    std::uint64_t document_count;
    std::uint64_t term_count;
};

constexpr std::size_t table_bytes = section_count * sizeof(section_entry);

std::size_t align_up(std::size_t value) {
    return (value + section_alignment - 1) / section_alignment * section_alignment;
}

/// Returns the command that writes an index file at `path`.
std::string index_command(const std::string& path) {
    return "`tgsearch index --corpus <your corpus> --output " + path + "`";
}

/// Returns a hint for a file that is not an index file but looks like a corpus: gzip data, or
/// text without NUL bytes, such as JSON Lines, CSV or a Telegram export.
std::string corpus_hint(std::span<const std::uint8_t> file) {
    const bool gzip = file.size() >= 2 && file[0] == 0x1f && file[1] == 0x8b;
    const std::span<const std::uint8_t> head = file.first(std::min<std::size_t>(file.size(), 512));
    const bool text = !head.empty() && std::find(head.begin(), head.end(), 0) == head.end();
    if (!gzip && !text) return {};
    return "; this looks like a corpus file: serve it with --corpus instead of --index, or build "
           "an index file from it with `tgsearch index --corpus FILE --output INDEX`";
}

std::string system_error_text() { return std::strerror(errno); }

template <typename T>
std::span<const std::uint8_t> as_bytes_of(std::span<const T> values) {
    return {reinterpret_cast<const std::uint8_t*>(values.data()), values.size_bytes()};
}

std::span<const std::uint8_t> as_bytes_of(std::string_view text) {
    return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

/// CRC-32 of `bytes` continued from `crc`. crc32_z takes a size_t length, so sections above
/// 4 GiB need no splitting.
std::uint32_t update_crc(std::uint32_t crc, std::span<const std::uint8_t> bytes) {
    // zlib returns the initial value for a null buffer, which an empty span may have.
    if (bytes.empty()) return crc;
    return static_cast<std::uint32_t>(crc32_z(crc, bytes.data(), bytes.size()));
}

/// A file descriptor closed on destruction.
class file_descriptor {
public:
    explicit file_descriptor(int fd) : fd_(fd) {}
    file_descriptor(const file_descriptor&) = delete;
    file_descriptor& operator=(const file_descriptor&) = delete;
    ~file_descriptor() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const { return fd_; }
    /// Closes the descriptor and returns false when close reports an error, such as a
    /// delayed write failure.
    bool close() {
        const int fd = std::exchange(fd_, -1);
        return ::close(fd) == 0;
    }

private:
    int fd_;
};

/// Writes the sections of an index to a file descriptor, tracking the offset and the CRC.
class section_writer {
public:
    section_writer(int fd, const std::string& path) : fd_(fd), path_(path) {}

    void write(std::span<const std::uint8_t> bytes, bool checksummed = true) {
        if (checksummed) crc_ = update_crc(crc_, bytes);
        const std::uint8_t* data = bytes.data();
        std::size_t left = bytes.size();
        while (left > 0) {
            const ssize_t written = ::write(fd_, data, left);
            if (written < 0) {
                if (errno == EINTR) continue;
                throw index_file_error("cannot write index file " + path_ + ": " +
                                       system_error_text());
            }
            data += written;
            left -= static_cast<std::size_t>(written);
        }
        offset_ += bytes.size();
    }

    void pad_to(std::size_t offset) {
        static constexpr std::array<std::uint8_t, section_alignment> zeros{};
        write(std::span<const std::uint8_t>(zeros.data(), offset - offset_));
    }

    std::size_t offset() const { return offset_; }
    std::uint32_t crc() const { return crc_; }

private:
    int fd_;
    const std::string& path_;
    std::size_t offset_ = 0;
    std::uint32_t crc_ = 0;
};

/// A read-only mapping of a whole file, unmapped on destruction.
class file_mapping {
public:
    file_mapping(void* address, std::size_t size) : address_(address), size_(size) {}
    file_mapping(const file_mapping&) = delete;
    file_mapping& operator=(const file_mapping&) = delete;
    ~file_mapping() { ::munmap(address_, size_); }

    std::span<const std::uint8_t> bytes() const {
        return {static_cast<const std::uint8_t*>(address_), size_};
    }

private:
    void* address_;
    std::size_t size_;
};

/// Reads the sections of a mapped index file, checking each against the file's bounds.
class section_reader {
public:
    section_reader(std::span<const std::uint8_t> file, const std::string& path)
        : file_(file), path_(path) {}

    [[noreturn]] void reject(const std::string& problem) const {
        throw index_file_error("index file " + path_ + " " + problem + ": rebuild it with " +
                               index_command(path_));
    }

    std::span<const std::uint8_t> bytes(std::size_t index) const {
        section_entry entry;
        std::memcpy(&entry, file_.data() + header_bytes + index * sizeof(entry), sizeof(entry));
        const std::size_t table_end = header_bytes + table_bytes;
        if (entry.offset < table_end || entry.offset % section_alignment != 0 ||
            entry.offset > file_.size() || entry.size > file_.size() - entry.offset) {
            reject("is corrupted: section " + std::to_string(index) + " lies outside the file");
        }
        return file_.subspan(entry.offset, entry.size);
    }

    /// Returns section `index` as an array of T, which the section's alignment allows.
    template <typename T>
    std::span<const T> array(std::size_t index) const {
        const std::span<const std::uint8_t> raw = bytes(index);
        if (raw.size() % sizeof(T) != 0) {
            reject("is corrupted: section " + std::to_string(index) + " has a partial entry");
        }
        return {reinterpret_cast<const T*>(raw.data()), raw.size() / sizeof(T)};
    }

private:
    std::span<const std::uint8_t> file_;
    const std::string& path_;
};

/// Checks the header of a loaded file: magic, byte order, size, checksum and version. The
/// checksum comes before the version, so that a damaged version field reads as corruption
/// rather than as a file of another release.
void check_header(std::span<const std::uint8_t> file, const section_reader& reader,
                  const std::string& path) {
    if (file.size() < header_bytes ||
        std::memcmp(file.data(), file_magic.data(), file_magic.size()) != 0) {
        throw index_file_error("index file " + path +
                               " is not a tgsearch index file (its first bytes are not "
                               "\"TGSINDEX\")" +
                               corpus_hint(file));
    }
    file_header header;
    std::memcpy(&header, file.data(), sizeof(header));
    if (header.byte_order == swapped_byte_order_mark) {
        reader.reject("was written on a machine with another byte order");
    }
    if (header.byte_order != byte_order_mark) {
        reader.reject("is corrupted: its byte-order mark is invalid");
    }
    if (header.file_size != file.size()) {
        reader.reject("is truncated or has extra bytes: it has " + std::to_string(file.size()) +
                      " bytes, its header says " + std::to_string(header.file_size));
    }
    std::uint32_t crc = update_crc(0, file.first(crc_offset));
    crc = update_crc(crc, file.subspan(crc_offset + sizeof(header.crc)));
    if (crc != header.crc) {
        reader.reject("is corrupted: its CRC-32 checksum does not match its contents");
    }
    if (header.version != index_file_version) {
        reader.reject("has format version " + std::to_string(header.version) +
                      ", but this tgsearch reads version " + std::to_string(index_file_version));
    }
    if (header.sections != section_count || file.size() < header_bytes + table_bytes) {
        reader.reject("is corrupted: its section table is invalid");
    }
}

/// Returns true when `offsets` starts at 0, never decreases and ends at `total`.
template <typename T>
bool covers(std::span<const T> offsets, std::size_t total) {
    if (offsets.empty() || offsets.front() != 0 || offsets.back() != total) return false;
    return std::is_sorted(offsets.begin(), offsets.end());
}

bool is_finite_at_least(double value, double minimum) {
    return std::isfinite(value) && value >= minimum;
}

/// Checks the BM25 parameters and document lengths, so that every score is a finite number:
/// NaN scores would break the ordering that ranking and sorting rely on.
void check_scoring(const section_reader& reader, const file_parameters& stored,
                   std::span<const float> length_norm) {
    if (!is_finite_at_least(stored.k1, 0.0) || stored.k1 == 0.0f ||
        !is_finite_at_least(stored.b, 0.0) || stored.b > 1.0f ||
        !is_finite_at_least(stored.title_boost, 0.0) || stored.title_boost == 0.0f ||
        !is_finite_at_least(stored.average_length, 0.0)) {
        reader.reject("is corrupted: its BM25 parameters are out of range");
    }
    for (std::size_t doc = 0; doc < length_norm.size(); ++doc) {
        if (!is_finite_at_least(length_norm[doc], 0.0)) {
            reader.reject("is corrupted: the length of document " + std::to_string(doc) +
                          " is not a finite non-negative number");
        }
    }
}

/// Checks that the terms are valid UTF-8, sorted and unique: prefix search and typo correction
/// search the dictionary by bisection.
void check_terms(const section_reader& reader, std::string_view text,
                 std::span<const std::uint32_t> offsets) {
    std::string_view previous;
    for (std::size_t term = 0; term + 1 < offsets.size(); ++term) {
        const std::string_view current =
            text.substr(offsets[term], offsets[term + 1] - offsets[term]);
        if (!simdjson::validate_utf8(current.data(), current.size())) {
            reader.reject("is corrupted: term " + std::to_string(term) + " is not valid UTF-8");
        }
        if (term > 0 && !(previous < current)) {
            reader.reject("is corrupted: term " + std::to_string(term) +
                          " does not sort after the term before it");
        }
        previous = current;
    }
}

/// Decodes every posting list, which lie back to back in term order and fill the stream up to
/// its padding, and checks each against the document count (see check_posting_list).
void check_postings(const section_reader& reader, std::span<const std::uint8_t> stream,
                    std::span<const std::uint32_t> posting_offset,
                    std::span<const std::uint32_t> doc_frequency, std::uint64_t document_count) {
    if (stream.size() < detail::posting_stream_padding) {
        reader.reject("is corrupted: its posting stream is too short");
    }
    const std::size_t stream_end = stream.size() - detail::posting_stream_padding;
    std::size_t next = 0;
    for (std::size_t term = 0; term < posting_offset.size(); ++term) {
        const std::string list = "the posting list of term " + std::to_string(term);
        if (posting_offset[term] != next) {
            reader.reject("is corrupted: " + list + " does not start where the one before ends");
        }
        if (doc_frequency[term] == 0 || doc_frequency[term] > document_count) {
            reader.reject("is corrupted: " + list + " has a document frequency of " +
                          std::to_string(doc_frequency[term]) + ", outside 1 to " +
                          std::to_string(document_count));
        }
        try {
            next = detail::check_posting_list(stream, stream_end, posting_offset[term],
                                              doc_frequency[term],
                                              static_cast<std::uint32_t>(document_count));
        } catch (const std::invalid_argument& error) {
            reader.reject("is corrupted: in " + list + ", " + error.what());
        }
    }
    if (next != stream_end) {
        reader.reject("is corrupted: its posting stream has " + std::to_string(stream_end - next) +
                      " bytes after the last posting list");
    }
}

/// Fills `docs` and `data` from the sections of a checked file. Checks that the sections agree
/// with each other and decodes every document record and posting list, so that no lookup of a
/// term or document reads outside the file or meets a value the query code does not expect.
void read_sections(const section_reader& reader, detail::document_store& docs,
                   detail::index_data& data) {
    const std::span<const file_parameters> parameters =
        reader.array<file_parameters>(parameters_section);
    if (parameters.size() != 1) reader.reject("is corrupted: its parameters are missing");
    const file_parameters& stored = parameters.front();

    const std::span<const std::uint64_t> starts =
        reader.array<std::uint64_t>(document_starts_section);
    const std::span<const std::uint8_t> records = reader.bytes(document_bytes_section);
    if (starts.size() != stored.document_count + 1 ||
        stored.document_count > std::numeric_limits<std::uint32_t>::max() ||
        !covers(starts, records.size())) {
        reader.reject("is corrupted: its document offsets do not match its documents");
    }
    docs = detail::document_store(
        std::string_view(reinterpret_cast<const char*>(records.data()), records.size()), starts);

    const std::span<const std::uint8_t> term_text = reader.bytes(term_text_section);
    const auto term_offsets = reader.array<std::uint32_t>(term_offsets_section);
    const auto doc_frequency = reader.array<std::uint32_t>(doc_frequency_section);
    const auto posting_offset = reader.array<std::uint32_t>(posting_offsets_section);
    const std::span<const std::uint8_t> stream = reader.bytes(posting_stream_section);
    const auto length_norm = reader.array<float>(length_norm_section);
    if (term_offsets.size() != stored.term_count + 1 || !covers(term_offsets, term_text.size()) ||
        doc_frequency.size() != stored.term_count || posting_offset.size() != stored.term_count) {
        reader.reject("is corrupted: its dictionary does not match its term count");
    }
    if (length_norm.size() != stored.document_count) {
        reader.reject("is corrupted: its document lengths do not match its documents");
    }
    check_scoring(reader, stored, length_norm);
    check_terms(reader,
                std::string_view(reinterpret_cast<const char*>(term_text.data()), term_text.size()),
                term_offsets);
    check_postings(reader, stream, posting_offset, doc_frequency, stored.document_count);

    data.params = bm25_params{stored.k1, stored.b, stored.title_boost};
    data.average_length = stored.average_length;
    data.document_count = stored.document_count;
    data.term_text.assign(reinterpret_cast<const char*>(term_text.data()), term_text.size());
    data.term_offsets.assign(term_offsets.begin(), term_offsets.end());
    data.doc_frequency.assign(doc_frequency.begin(), doc_frequency.end());
    data.build_term_lookup();
    data.posting_stream = stream;
    data.posting_offset = posting_offset;
    data.length_norm = length_norm;
}

}  // namespace

void write_index_file(const search_index& index, const std::string& path) {
    if (index.impl_->replaceable) {
        throw std::invalid_argument("write_index_file needs an index, not a replaceable handle");
    }
    const detail::document_store& docs = index.impl_->docs;
    const detail::index_data& data = index.impl_->data;

    file_parameters parameters{};
    parameters.k1 = data.params.k1;
    parameters.b = data.params.b;
    parameters.title_boost = data.params.title_boost;
    parameters.average_length = data.average_length;
    parameters.document_count = docs.size();
    parameters.term_count = data.term_count();

    std::array<std::span<const std::uint8_t>, section_count> contents;
    contents[parameters_section] = as_bytes_of(std::span<const file_parameters>(&parameters, 1));
    contents[document_bytes_section] = as_bytes_of(docs.bytes());
    contents[document_starts_section] = as_bytes_of(docs.starts());
    contents[term_text_section] = as_bytes_of(std::string_view(data.term_text));
    contents[term_offsets_section] = as_bytes_of(std::span<const std::uint32_t>(data.term_offsets));
    contents[doc_frequency_section] =
        as_bytes_of(std::span<const std::uint32_t>(data.doc_frequency));
    contents[posting_stream_section] = data.posting_stream;
    contents[posting_offsets_section] = as_bytes_of(data.posting_offset);
    contents[length_norm_section] = as_bytes_of(data.length_norm);

    std::array<section_entry, section_count> table{};
    std::size_t offset = align_up(header_bytes + table_bytes);
    for (std::size_t i = 0; i < section_count; ++i) {
        table[i] = section_entry{offset, contents[i].size()};
        offset = align_up(offset + contents[i].size());
    }
    const std::size_t file_size = table[section_count - 1].offset + contents.back().size();

    file_header header{};
    header.magic = file_magic;
    header.version = index_file_version;
    header.byte_order = byte_order_mark;
    header.file_size = file_size;
    header.sections = section_count;

    const std::string temporary = path + ".tmp";
    file_descriptor file(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (file.get() < 0) {
        throw index_file_error("cannot create index file " + temporary + ": " +
                               system_error_text() +
                               "; check that its folder exists and is "
                               "writable");
    }
    try {
        // The CRC field sits inside the header, so the header is written with it zeroed and
        // rewritten once the checksum of everything else is known.
        const auto header_view = as_bytes_of(std::span<const file_header>(&header, 1));
        section_writer writer(file.get(), temporary);
        writer.write(header_view.first(crc_offset));
        writer.write(header_view.subspan(crc_offset, sizeof(header.crc)), false);
        writer.write(header_view.subspan(crc_offset + sizeof(header.crc)));
        writer.write(as_bytes_of(std::span<const section_entry>(table)));
        for (std::size_t i = 0; i < section_count; ++i) {
            writer.pad_to(table[i].offset);
            writer.write(contents[i]);
        }
        header.crc = writer.crc();
        if (::pwrite(file.get(), &header.crc, sizeof(header.crc), crc_offset) !=
            static_cast<ssize_t>(sizeof(header.crc))) {
            throw index_file_error("cannot write index file " + temporary + ": " +
                                   system_error_text());
        }
        if (::fsync(file.get()) != 0 || !file.close()) {
            throw index_file_error("cannot write index file " + temporary + ": " +
                                   system_error_text());
        }
        if (::rename(temporary.c_str(), path.c_str()) != 0) {
            throw index_file_error("cannot rename " + temporary + " to " + path + ": " +
                                   system_error_text());
        }
    } catch (...) {
        ::unlink(temporary.c_str());
        throw;
    }
    // Syncing the folder makes the rename itself survive a power loss. A failure here leaves a
    // complete file in place, so it is not reported.
    std::filesystem::path folder = std::filesystem::path(path).parent_path();
    if (folder.empty()) folder = ".";
    file_descriptor directory(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (directory.get() >= 0) ::fsync(directory.get());
}

std::shared_ptr<const search_index> load_index_file(const std::string& path) {
    file_descriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (file.get() < 0) {
        throw index_file_error("cannot open index file " + path + ": " + system_error_text() +
                               "; build one with " + index_command(path));
    }
    struct stat info {};
    if (::fstat(file.get(), &info) != 0) {
        throw index_file_error("cannot read index file " + path + ": " + system_error_text());
    }
    if (S_ISDIR(info.st_mode)) {
        throw index_file_error("index file " + path +
                               " is a folder; to serve a folder of documents, pass it with "
                               "--corpus instead of --index");
    }
    if (!S_ISREG(info.st_mode)) {
        throw index_file_error("index file " + path + " is not a regular file");
    }
    const auto size = static_cast<std::size_t>(info.st_size);
    if (size < header_bytes) {
        section_reader({}, path).reject("is truncated: it has only " + std::to_string(size) +
                                        " bytes");
    }
    // The file is copied into private memory instead of being mapped. A mapping would share
    // the page cache with the file, so an administrator who copies a new index over the served
    // one in place (cp, shell redirection) would truncate pages under the running index and
    // end the process with SIGBUS. Copying costs one read of the file, which the checksum
    // needs anyway.
    void* address =
        ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (address == MAP_FAILED) {
        throw index_file_error("cannot allocate " + std::to_string(size) +
                               " bytes for index file " + path + ": " + system_error_text());
    }
    auto mapping = std::make_shared<const file_mapping>(address, size);
    auto* destination = static_cast<std::uint8_t*>(address);
    for (std::size_t done = 0; done < size;) {
        const ssize_t got = ::read(file.get(), destination + done, size - done);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            throw index_file_error("cannot read index file " + path + ": " + system_error_text());
        }
        if (got == 0) {
            section_reader({}, path).reject("is truncated: it shrank to " + std::to_string(done) +
                                            " bytes while it was read");
        }
        done += static_cast<std::size_t>(got);
    }
    ::mprotect(address, size, PROT_READ);
    const std::span<const std::uint8_t> bytes = mapping->bytes();
    const section_reader reader(bytes, path);
    check_header(bytes, reader, path);

    std::shared_ptr<search_index> index(new search_index());
    try {
        read_sections(reader, index->impl_->docs, index->impl_->data);
    } catch (const std::invalid_argument& error) {
        reader.reject(std::string("is corrupted: ") + error.what());
    }
    index->impl_->storage = std::move(mapping);
    index->impl_->storage_bytes = size;
    return index;
}

}  // namespace tgsearch
