/**
 * A client-node informer stops on a list or watch error. These helpers restart it with a capped
 * backoff and report each completed listing, so the caches built on informers (namespaces, the
 * node-address map) keep serving what they had meanwhile and catch up after.
 */
import type { Informer, KubernetesObject } from '@kubernetes/client-node';
import type { Log } from './log.ts';

/** Backoff of a failed watch or write: doubled per failure, capped. */
export const FIRST_RETRY_MS = 1_000;
export const MAX_RETRY_MS = 30_000;

/**
 * Starts `informer` and keeps it running until `stopped()`. `synced` runs after each listing
 * that succeeded (start() resolves after the list also when it failed: its error callback ran).
 */
export async function keepInformerRunning<T extends KubernetesObject>(
  informer: Informer<T>,
  what: string,
  log: Log,
  stopped: () => boolean,
  synced: () => void,
): Promise<void> {
  let retryMs = FIRST_RETRY_MS;
  let errors = 0;
  informer.on('error', (error: unknown) => {
    errors += 1;
    if (stopped()) return;
    log.warn(
      `${what} watch failed (retrying in ${String(retryMs)} ms): ${error instanceof Error ? error.message : String(error)}`,
    );
    setTimeout(() => {
      if (!stopped()) void start();
    }, retryMs).unref();
    retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
  });
  const start = async (): Promise<void> => {
    const before = errors;
    await informer.start();
    if (errors === before && !stopped()) {
      retryMs = FIRST_RETRY_MS;
      synced();
    }
  };
  await start();
}
