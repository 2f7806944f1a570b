#!/usr/bin/env node
// Forward passes, KV copies and the disk tier's reads and writes share libuv's threadpool
// (4 threads by default): with more, a load never queues behind writes. Set before main.js
// loads, as the pool starts at its first use.
process.env.UV_THREADPOOL_SIZE ??= "16";
const { main } = await import("../dist/cli/main.js");
main(process.argv.slice(2));
