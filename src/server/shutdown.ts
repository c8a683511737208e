/**
 * SPEC §6 "SIGTERM drains in-flight requests before exit". The order matters:
 *   1. not ready — `/readyz` fails, so Kubernetes takes the pod out of the Service's endpoints;
 *   2. HTTP/1.1 answers carry `Connection: close`, and keep-alive connections are given until they
 *      are quiet (no request for a moment) to leave by themselves (`trackKeepAlive`);
 *   3. stop accepting connections; HTTP/2 clients get GOAWAY (they open new streams elsewhere,
 *      streams already sent are answered);
 *   4. wait for in-flight requests, at most `timeoutMs`; whatever is still open then is cut, so a
 *      stuck client cannot hold the pod past its termination grace period.
 */
import type { Server, Socket } from 'node:net';
import type { Log } from './log.ts';

/** Every socket of `server` still open, to cut at the deadline. */
export function trackSockets(server: Server): Set<Socket> {
  const sockets = new Set<Socket>();
  // 'connection' fires for the TCP socket under TLS too: destroying it ends the TLS session.
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return sockets;
}

/**
 * HTTP/1.1 keep-alive connections, and whether each is between requests. Closing one the moment
 * shutdown begins races the client's next request on it (a reset the client cannot tell from a
 * crash); after SIGTERM every answer carries `Connection: close`, so a busy client leaves by
 * itself, and only a connection quiet for a while is closed.
 */
export interface KeepAliveTracker {
  /** Resolves once every HTTP/1.1 connection is closed or between requests for `idleMs`. */
  quiet: (idleMs: number, timeoutMs: number) => Promise<void>;
}

export function trackKeepAlive(server: Server): KeepAliveTracker {
  const state = new Map<Socket, { busy: number; since: number }>();
  server.on(
    'request',
    (
      request: { httpVersionMajor: number; socket: Socket },
      response: { once: (e: 'close', f: () => void) => void },
    ) => {
      if (request.httpVersionMajor !== 1) return;
      const socket = request.socket;
      let entry = state.get(socket);
      if (!entry) {
        entry = { busy: 0, since: performance.now() };
        state.set(socket, entry);
        socket.once('close', () => state.delete(socket));
      }
      const tracked = entry;
      tracked.busy += 1;
      response.once('close', () => {
        tracked.busy -= 1;
        tracked.since = performance.now();
      });
    },
  );
  return {
    quiet: async (idleMs, timeoutMs) => {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const now = performance.now();
        const settled = [...state.values()].every((e) => e.busy === 0 && now - e.since >= idleMs);
        if (settled || now >= deadline) return;
        await new Promise((resolve) => setTimeout(resolve, Math.min(idleMs, 50)));
      }
    },
  };
}

export interface DrainResult {
  drained: boolean;
  /** Connections still open at the deadline and cut. */
  cut: number;
  durationMs: number;
}

/**
 * Closes the listener gracefully (`close` waits for in-flight requests) and cuts what is left
 * after `timeoutMs`.
 */
export async function drain(
  close: () => Promise<void>,
  sockets: Set<Socket>,
  timeoutMs: number,
): Promise<DrainResult> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      resolve('timeout');
    }, timeoutMs);
  });
  const outcome = await Promise.race([close().then(() => 'closed' as const), deadline]);
  clearTimeout(timer);
  const cut = outcome === 'timeout' ? sockets.size : 0;
  if (outcome === 'timeout') for (const socket of sockets) socket.destroy();
  return { drained: outcome === 'closed', cut, durationMs: Math.round(performance.now() - started) };
}

/**
 * SIGTERM and SIGINT run `shutdown` once and exit 0 when it is done; a second signal exits at
 * once (the operator insists).
 */
export function exitOnSignals(
  shutdown: () => Promise<void>,
  log: Log,
  exit: (code: number) => void = (code) => process.exit(code),
): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn(`${signal} again: exiting without waiting`);
      exit(1);
      return;
    }
    stopping = true;
    log.info(`${signal}: draining`);
    shutdown().then(
      () => {
        exit(0);
      },
      (error: unknown) => {
        log.error(`shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
        exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
