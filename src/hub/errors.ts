// A model reference that cannot be resolved or fetched: one line saying which and why.

export class HubError extends Error {
  override name = "HubError";
}
