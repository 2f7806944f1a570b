#pragma once
// A STREAM-triad-style probe of main-memory bandwidth.
#include "thread-pool.h"

namespace rlm {

/**
 * a[i] = b[i] + s * c[i] over three float arrays of `mb` MiB each (far beyond cache), split
 * over the pool's threads; the best of `runs` passes, in GB/s (1e9 bytes, counting the
 * two reads and the one write of each element, as STREAM does).
 */
double measure_bandwidth(ThreadPool& pool, int mb = 128, int runs = 4);

}  // namespace rlm
