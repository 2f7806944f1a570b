// `radixlm serve`'s KV-event flags, named after vLLM's --kv-events-config fields
// (endpoint, replay_endpoint, topic) and llm-d's token processor (block size, hash seed).
import type { Command } from "commander";
import { KvEventHub } from "../server/kv-events.js";
import { parseIntArg, UsageError } from "./errors.js";

export interface KvEventsFlagValues {
  kvEvents?: boolean;
  kvEventsEndpoint?: string;
  kvEventsReplayEndpoint?: string;
  kvEventsTopic: string;
  kvEventsBlockSize: string;
  kvEventsHashSeed?: string;
  kvEventsBuffer: string;
}

export function kvEventsFlags(c: Command): Command {
  return c
    .option("--kv-events", "record the radix cache's block events and stream them at GET /kv_events (server-sent events, for radixlm route)")
    .option("--kv-events-endpoint <addr>", "also publish them over ZeroMQ in vLLM's format, for llm-d: tcp://*:5557 binds, tcp://host:5557 connects (needs the optional zeromq package)")
    .option("--kv-events-replay-endpoint <addr>", "ZeroMQ ROUTER address that answers replay requests for missed batches (vLLM's replay_endpoint), e.g. tcp://*:5558")
    .option("--kv-events-topic <topic>", "first frame of every ZeroMQ message (llm-d reads kv@<pod>@<model>)", "")
    .option("--kv-events-block-size <n>", "tokens per published block (vLLM's block size; llm-d's blockSize)", "16")
    .option("--kv-events-hash-seed <seed>", "seed of the block hash chain: vLLM's PYTHONHASHSEED, llm-d's hashSeed (default: $PYTHONHASHSEED, else empty)")
    .option("--kv-events-buffer <n>", "batches kept for replay (vLLM's buffer_steps)", "10000");
}

/** The hub the flags ask for (its sockets open), or undefined when KV events are off. */
export async function kvEventHubFrom(o: KvEventsFlagValues): Promise<KvEventHub | undefined> {
  const zmqWanted = o.kvEventsEndpoint !== undefined;
  if (!o.kvEvents && !zmqWanted) {
    if (o.kvEventsReplayEndpoint !== undefined) throw new UsageError("--kv-events-replay-endpoint needs --kv-events-endpoint");
    return undefined;
  }
  if (o.kvEventsReplayEndpoint !== undefined && !zmqWanted) throw new UsageError("--kv-events-replay-endpoint needs --kv-events-endpoint");
  for (const [flag, v] of [["--kv-events-endpoint", o.kvEventsEndpoint], ["--kv-events-replay-endpoint", o.kvEventsReplayEndpoint]] as const) {
    if (v !== undefined && !/^(tcp|ipc|inproc):\/\/\S+$/.test(v)) throw new UsageError(`${flag} must be a ZeroMQ address (tcp://host:port, ipc://path), got "${v}"`);
  }
  const blockSize = parseIntArg("--kv-events-block-size", o.kvEventsBlockSize, 1);
  const bufferBatches = parseIntArg("--kv-events-buffer", o.kvEventsBuffer, 1);
  const hashSeed = o.kvEventsHashSeed ?? process.env.PYTHONHASHSEED ?? "";
  try {
    return await KvEventHub.create({
      blockSize, hashSeed, bufferBatches,
      ...(zmqWanted ? { zmq: { endpoint: o.kvEventsEndpoint!, topic: o.kvEventsTopic, ...(o.kvEventsReplayEndpoint !== undefined ? { replayEndpoint: o.kvEventsReplayEndpoint } : {}) } } : {}),
    });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}
