/**
 * SPEC §6 "SIGTERM drains in-flight requests before exit": on shutdown the server is not ready,
 * stops accepting connections, answers every request it already has (HTTP/2 and HTTP/1.1
 * keep-alive alike) and finishes within its bound even when a request never completes.
 */
import { Agent, request as httpsRequest } from 'node:https';
import t from 'tap';
import { mutateObject } from '../../src/core/mutateObject.ts';
import type { MutationInput } from '../../src/core/mutateObject.ts';
import type { MutationResult } from '../../src/core/result.ts';
import { h1Request, h2Request, h2Session, kafkaStatefulSet, review, type ClientResult } from './helpers.ts';
import { startTestServer } from './serverHelpers.ts';

/** A core that takes `ms` and tells how many calls are under way. */
function slowCore(ms: number): {
  mutate: (input: MutationInput) => Promise<MutationResult>;
  inFlight: () => number;
} {
  let inFlight = 0;
  return {
    inFlight: () => inFlight,
    mutate: async (input) => {
      inFlight += 1;
      // Unref'd: a core stuck on purpose must not keep the test process alive.
      await new Promise((resolve) => setTimeout(resolve, ms).unref());
      inFlight -= 1;
      return mutateObject(input);
    },
  };
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const started = performance.now();
  while (!condition()) {
    if (performance.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

t.test('shutdown answers every in-flight request (h2 and HTTP/1.1 keep-alive): 0 dropped', async (t) => {
  const core = slowCore(400);
  const { server, certificates, stop } = await startTestServer({ mutate: core.mutate });
  t.teardown(stop);
  const ca = certificates.ca.cert;
  const agent = new Agent({ keepAlive: true, maxSockets: 4, ca });
  t.teardown(() => {
    agent.destroy();
  });
  // Warm the keep-alive connections so the drained requests travel on reused sockets.
  await Promise.all([0, 1, 2, 3].map(() => h1Request(server.url, ca, { path: '/healthz', agent })));
  const session = await h2Session(server.url, ca);

  // 8 streams on one HTTP/2 session, 4 requests on the 4 warm keep-alive sockets: all at the server.
  const uids = Array.from({ length: 12 }, (_, i) => `drain-${i}`);
  const pending: Promise<ClientResult>[] = uids.map((uid, i) => {
    const body = JSON.stringify(review(kafkaStatefulSet(), { uid }));
    return i < 8
      ? h2Request(session, { method: 'POST', path: '/mutate', body })
      : h1Request(server.url, ca, { method: 'POST', path: '/mutate', body, agent });
  });
  await until(() => core.inFlight() === 12);

  const stopping = server.shutdown();
  const readiness = await server.app.inject({ url: '/readyz' });
  t.equal(readiness.statusCode, 503, 'not ready while draining');
  t.match(readiness.json(), { reasons: ['shutting down'] });

  const results = await Promise.allSettled(pending);
  const result = await stopping;
  const answered = results.flatMap((r) =>
    r.status === 'fulfilled' && r.value.status === 200 ? [r.value] : [],
  );
  const dropped = results.filter((r) => r.status === 'rejected').map((r) => String(r.reason));
  t.same(dropped, [], '0 dropped');
  t.same(
    answered.map((r) => (JSON.parse(r.body) as { response: { uid: string } }).response.uid).sort(),
    [...uids].sort(),
    'every request answered with its own uid',
  );
  t.equal(result.drained, true, `drained in ${result.durationMs} ms`);
  t.equal(result.cut, 0);
  session.destroy();

  const after = await h1Request(server.url, ca, { path: '/healthz' }).then(
    () => 'answered',
    (error: unknown) => (error as NodeJS.ErrnoException).code,
  );
  t.equal(after, 'ECONNREFUSED', 'no new connections after shutdown');
});

t.test('a request that never finishes cannot hold shutdown past its bound', async (t) => {
  const core = slowCore(60_000);
  const { server, certificates, stop } = await startTestServer({
    mutate: core.mutate,
    shutdownTimeoutMs: 300,
  });
  t.teardown(stop);
  const session = await h2Session(server.url, certificates.ca.cert);
  session.on('error', () => undefined);
  const stuck = h2Request(session, {
    method: 'POST',
    path: '/mutate',
    body: JSON.stringify(review(kafkaStatefulSet())),
  }).catch((error: unknown) => error);
  await until(() => core.inFlight() === 1);
  const started = performance.now();
  const result = await server.shutdown();
  const elapsed = performance.now() - started;
  t.equal(result.drained, false);
  t.equal(result.cut, 1, 'the stuck connection was cut');
  t.ok(elapsed < 1500, `returned after ${Math.round(elapsed)} ms (bound 300 ms)`);
  await stuck;
});

t.test('idle keep-alive connections do not delay shutdown', async (t) => {
  const { server, certificates, stop } = await startTestServer();
  t.teardown(stop);
  const ca = certificates.ca.cert;
  const agent = new Agent({ keepAlive: true, ca });
  t.teardown(() => {
    agent.destroy();
  });
  await h1Request(server.url, ca, { path: '/healthz', agent });
  const session = await h2Session(server.url, ca);
  await h2Request(session, { path: '/healthz' });
  const result = await server.shutdown();
  t.equal(result.drained, true);
  t.ok(result.durationMs < 1000, `idle HTTP/1.1 and HTTP/2 connections closed in ${result.durationMs} ms`);
  session.destroy();
});

t.test('during the shutdown delay the server is not ready but still answers new connections', async (t) => {
  const { server, certificates, stop } = await startTestServer({ shutdownDelayMs: 300 });
  t.teardown(stop);
  const ca = certificates.ca.cert;
  const stopping = server.shutdown();
  const ready = await h1Request(server.url, ca, { path: '/readyz' });
  t.equal(ready.status, 503, 'not ready');
  const body = JSON.stringify(review(kafkaStatefulSet(), { uid: 'late' }));
  const late = await h1Request(server.url, ca, { method: 'POST', path: '/mutate', body });
  t.equal(late.status, 200, 'a new connection is still served');
  const result = await stopping;
  t.ok(result.durationMs < 1000, `closed ${result.durationMs} ms after the delay`);
});

/** One POST on `agent`; a failure says whether it was sent on a connection already in use. */
function post(
  url: string,
  ca: string,
  agent: Agent,
  body: string,
): Promise<{ status: number } | { error: string; reused: boolean }> {
  return new Promise((resolve) => {
    const request = httpsRequest(
      new URL('/mutate', url),
      { method: 'POST', ca, agent, headers: { 'content-type': 'application/json' } },
      (response) => {
        response.resume();
        response.on('end', () => {
          resolve({ status: response.statusCode ?? 0 });
        });
      },
    );
    request.on('error', (error: NodeJS.ErrnoException) => {
      resolve({ error: error.code ?? error.message, reused: request.reusedSocket });
    });
    request.end(body);
  });
}

t.test('SIGTERM under HTTP/1.1 keep-alive load with default flags loses no request', async (t) => {
  const { server, certificates, stop } = await startTestServer();
  t.teardown(stop);
  const ca = certificates.ca.cert;
  const agent = new Agent({ keepAlive: true, maxSockets: 20, ca });
  t.teardown(() => {
    agent.destroy();
  });
  const body = JSON.stringify(review(kafkaStatefulSet(), { uid: 'load' }));
  let answered = 0;
  let refused = 0;
  const lost: string[] = [];
  let stopping = false;
  // 20 clients, each sending back to back on its keep-alive connection, as the API server does.
  // A failure on a new connection reached nobody (the client goes to another replica); one on a
  // connection the server had kept open is a request it accepted and dropped.
  const client = async (): Promise<void> => {
    for (;;) {
      const answer = await post(server.url, ca, agent, body);
      if ('status' in answer) {
        if (answer.status === 200) answered += 1;
        else lost.push(`HTTP ${String(answer.status)}`);
      } else if (stopping && !answer.reused) {
        refused += 1;
        return;
      } else {
        lost.push(`${answer.error} on a kept-alive connection`);
        if (stopping) return;
      }
    }
  };
  const clients = Array.from({ length: 20 }, () => client());
  await until(() => answered >= 200, 10_000);
  stopping = true;
  const result = await server.shutdown();
  await Promise.all(clients);
  t.same(lost, [], `${String(answered)} answered, ${String(refused)} refused at connect, none lost`);
  t.equal(refused, 20, 'every client was turned away at a new connection');
  t.equal(result.drained, true);
});
