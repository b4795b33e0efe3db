#include "app/sample_corpus.hpp"

#ifndef TGSEARCH_SAMPLE_CORPUS_PATH
#error "TGSEARCH_SAMPLE_CORPUS_PATH must name the sample corpus file to embed"
#endif

// The assembler copies the file into read-only data at build time, so the program needs no
// file beside it. The path is pasted inside assembler quotes, so it must not contain '"' or
// '\'. CMake lists the file in OBJECT_DEPENDS, which rebuilds this object when it changes, and
// ccache (checked with 4.7) does not cache sources that use .incbin, so no stale copy is reused.
// clang-format off
asm(".pushsection .rodata.tgsearch_sample_corpus, \"a\", @progbits\n"
    ".balign 16\n"
    ".globl tgsearch_sample_corpus_begin\n"
    ".hidden tgsearch_sample_corpus_begin\n"
    ".type tgsearch_sample_corpus_begin, @object\n"
    "tgsearch_sample_corpus_begin:\n"
    ".incbin \"" TGSEARCH_SAMPLE_CORPUS_PATH "\"\n"
    ".globl tgsearch_sample_corpus_end\n"
    ".hidden tgsearch_sample_corpus_end\n"
    "tgsearch_sample_corpus_end:\n"
    ".size tgsearch_sample_corpus_begin, tgsearch_sample_corpus_end - "
    "tgsearch_sample_corpus_begin\n"
    ".popsection\n");
// clang-format on

extern "C" const char tgsearch_sample_corpus_begin[];
extern "C" const char tgsearch_sample_corpus_end[];

namespace tgsearch {

std::string_view sample_corpus_gz() {
    return {tgsearch_sample_corpus_begin,
            static_cast<std::size_t>(tgsearch_sample_corpus_end - tgsearch_sample_corpus_begin)};
}

}  // namespace tgsearch
