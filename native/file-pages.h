#pragma once
// The live file mappings of mapFile (mmap.cc), and giving back the pages of a part of one.
#include <cstddef>

namespace rlm {

/**
 * Drops from this process the whole pages of [p, p + n) when they lie in a live mapping of
 * mapFile (a weight matrix the runner repacked: its original need not stay resident beside
 * the copy). Read again, they fault back in from the file. Returns the bytes released.
 */
size_t release_file_pages(const void* p, size_t n);

/** mapFile's bookkeeping: a mapping made, and one about to be unmapped. */
void note_mapping(void* addr, size_t len);
void forget_mapping(void* addr);

}  // namespace rlm
