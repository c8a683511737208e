/**
 * SPEC §6 hostile clients get bounded cost: a held HTTP/2 stream is reset at the request deadline,
 * connections beyond the cap are refused, and a heap-limited `serve` under thousands of held
 * streams stays alive and answers an admission on the API server's connection.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { ClientHttp2Session, ClientHttp2Stream } from 'node:http2';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import t from 'tap';
import { MAX_CONCURRENT_STREAMS, MAX_CONNECTIONS } from '../../src/server/app.ts';
import { h2Request, h2Session, kafkaStatefulSet, review, servingUrl, tempDir } from './helpers.ts';
import { startTestServer } from './serverHelpers.ts';

/** A POST whose headers are sent and whose body never ends. */
function heldStream(session: ClientHttp2Session): ClientHttp2Stream {
  const stream = session.request({
    ':method': 'POST',
    ':path': '/mutate',
    'content-type': 'application/json',
  });
  stream.on('error', () => undefined);
  stream.write('{"apiVersion":');
  return stream;
}

const admissionBody = (uid: string): string => JSON.stringify(review(kafkaStatefulSet(), { uid }));

t.test(
  'a stream held open without its body is reset at the deadline; its connection still serves',
  async (t) => {
    const { server, certificates, stop } = await startTestServer({ requestDeadlineMs: 300 });
    t.teardown(stop);
    const session = await h2Session(server.url, certificates.ca.cert);
    t.teardown(() => {
      session.close();
    });
    const held = heldStream(session);
    const code = await new Promise<number>((resolve) =>
      held.once('close', () => {
        resolve(held.rstCode);
      }),
    );
    t.equal(code, 8, 'RST_STREAM CANCEL');
    const answer = await h2Request(session, {
      method: 'POST',
      path: '/mutate',
      body: admissionBody('after'),
    });
    t.equal(answer.status, 200);
  },
);

t.test(
  'a connection that only holds a stream gets GOAWAY once the stream is reset, then is closed',
  async (t) => {
    const { server, certificates, stop } = await startTestServer({
      requestDeadlineMs: 200,
      http2IdleTimeoutMs: 300,
    });
    t.teardown(stop);
    const session = await h2Session(server.url, certificates.ca.cert);
    session.on('error', () => undefined);
    let goaway = false;
    session.once('goaway', () => {
      goaway = true;
    });
    heldStream(session);
    await new Promise<void>((resolve) =>
      session.once('close', () => {
        resolve();
      }),
    );
    t.ok(goaway, 'GOAWAY before the close');
  },
);

t.test('an HTTP/1.1 request whose body never ends has its connection closed at the deadline', async (t) => {
  const { server, certificates, stop } = await startTestServer({ requestDeadlineMs: 300 });
  t.teardown(stop);
  const { hostname, port } = new URL(server.url);
  const started = performance.now();
  const closed = await new Promise<string>((resolve) => {
    const socket = tlsConnect(
      {
        host: hostname,
        port: Number(port),
        ca: [certificates.ca.cert],
        servername: 'localhost',
        ALPNProtocols: ['http/1.1'],
      },
      () => {
        socket.write(
          'POST /mutate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"apiVersion":',
        );
      },
    );
    socket.on('error', () => undefined);
    socket.on('close', () => {
      resolve('closed');
    });
  });
  t.equal(closed, 'closed');
  t.ok(performance.now() - started < 5000, 'closed by the deadline, not by an idle timeout');
});

t.test('connections beyond the cap are refused; those within it are served', async (t) => {
  const { server, certificates, stop } = await startTestServer({ maxConnections: 3 });
  t.teardown(stop);
  const sessions = await Promise.all([1, 2, 3].map(() => h2Session(server.url, certificates.ca.cert)));
  t.teardown(() => {
    for (const s of sessions) s.close();
  });
  const { hostname, port } = new URL(server.url);
  const fourth = await new Promise<string>((resolve) => {
    const socket = tlsConnect(
      { host: hostname, port: Number(port), ca: [certificates.ca.cert], servername: 'localhost' },
      () => {
        socket.destroy();
        resolve('connected');
      },
    );
    socket.on('error', (error: NodeJS.ErrnoException) => {
      resolve(error.code ?? error.message);
    });
    socket.on('close', () => {
      resolve('closed');
    });
  });
  t.not(fourth, 'connected', `the 4th connection is refused (${fourth})`);
  const [first] = sessions;
  if (!first) throw new Error('no session');
  t.equal((await h2Request(first, { path: '/healthz' })).status, 200, 'an open connection still serves');
});

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).href;
const ENTRY = `const { main } = await import(${JSON.stringify(MAIN)}); await main(['node', 'kafka-nodeport-injector', ...process.argv.slice(1)]);`;

t.test(
  `a heap-limited serve under ${String(MAX_CONNECTIONS + 6)} connections × ${String(4 * MAX_CONCURRENT_STREAMS)} held streams stays alive and answers the API server's connection`,
  async (t) => {
    const { dir, remove } = tempDir('hostile');
    t.teardown(remove);
    const env = { ...process.env };
    delete env.KUBECONFIG;
    delete env.KUBERNETES_SERVICE_HOST;
    // 96 MiB of heap stands in for the pod's memory limit.
    const child = spawn(
      process.execPath,
      [
        '--max-old-space-size=96',
        '--input-type=module',
        '-e',
        ENTRY,
        'serve',
        '--port',
        '0',
        '--metrics-port',
        '0',
      ],
      { cwd: dir, env },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.stdout.resume();
    let exited: number | null | undefined;
    child.on('exit', (code) => (exited = code));
    t.teardown(() => child.kill('SIGKILL'));
    const url = await servingUrl(child.stderr, () => stderr);
    const ca = await readFile(join(dir, 'certs', 'ca.crt'), 'utf8');
    const apiServer = await h2Session(url, ca);
    t.teardown(() => {
      apiServer.close();
    });

    const flood: ClientHttp2Session[] = [];
    t.teardown(() => {
      for (const s of flood) s.destroy();
    });
    let refused = 0;
    for (let i = 0; i < MAX_CONNECTIONS + 6; i++) {
      try {
        const session = await h2Session(url, ca);
        session.on('error', () => undefined);
        flood.push(session);
        // Four times what the server allows per connection: a hostile client ignores SETTINGS.
        for (let j = 0; j < 4 * MAX_CONCURRENT_STREAMS; j++) heldStream(session);
      } catch {
        refused += 1;
      }
    }
    t.ok(refused > 0, `${String(refused)} connections beyond the cap refused`);
    // Let the server take in every stream it accepts.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const answer = await h2Request(apiServer, {
      method: 'POST',
      path: '/mutate',
      body: admissionBody('api'),
    });
    t.equal(answer.status, 200, 'the admission is answered');
    t.match(answer.body, /"uid":"api"/);
    t.equal(exited, undefined, `serve is alive${exited === undefined ? '' : `: ${stderr.slice(-400)}`}`);
  },
);
