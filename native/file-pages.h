#pragma once
// The file mappings of mmap.cc as the runner sees them (no N-API here).
#include <cstddef>

namespace rlm {

/**
 * Drops from this process the whole pages of [p, p + n) when they lie in a live mapping of
 * mapFile (a weight matrix the runner repacked: its original need not stay resident beside
 * the copy). Read again, they fault back in from the file. Returns the bytes released.
 */
size_t release_file_pages(const void* p, size_t n);

}  // namespace rlm
