// libFuzzer entry point for the getUpdates parser. The checks live in update_parser_target.hpp,
// which the unit tests also run on the seed corpus.

#include "tests/fuzz/update_parser_target.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    tgsearch::fuzz::run_update_parser(data, size);
    return 0;
}
