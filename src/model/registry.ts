// Model families. A family is one file that exports ArchSpecs; adding one is adding it here.
import type { ArchSpec } from "./arch.js";
import { llamaFamily } from "./llama.js";
import { gemmaFamily } from "./gemma.js";
import { phi3Family } from "./phi3.js";

export type { ArchSpec, TensorSpec, WeightsExtent } from "./arch.js";

const families: readonly ArchSpec[] = [...llamaFamily, ...gemmaFamily, ...phi3Family];

export function archByName(name: string): ArchSpec | undefined {
  return families.find((f) => f.name === name);
}

export function archByHFArchitecture(name: string): ArchSpec | undefined {
  return families.find((f) => f.hfArchitectures.includes(name));
}

export function knownArchitectures(): string[] {
  return families.map((f) => f.name);
}
