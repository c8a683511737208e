/**
 * The retry delay of everything the server does against the API server (watches, the node-address
 * map's writes, the self-managed certificates' loop): doubled per failure, capped, reset by a
 * success. One policy, so a cluster-wide outage is retried at the same pace everywhere.
 */
const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 30_000;

export class Backoff {
  #nextMs = FIRST_RETRY_MS;

  /** The delay before the next attempt, after a failure. */
  next(): number {
    const delay = this.#nextMs;
    this.#nextMs = Math.min(this.#nextMs * 2, MAX_RETRY_MS);
    return delay;
  }

  /** The delay the next failure will wait (for messages). */
  get pendingMs(): number {
    return this.#nextMs;
  }

  reset(): void {
    this.#nextMs = FIRST_RETRY_MS;
  }
}
