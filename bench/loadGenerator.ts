/**
 * The load process: autocannon over HTTP/1.1 keep-alive TLS, or a closed loop on `node:http2` for
 * HTTP/2, one job at a time, driven by `run.ts` over an IPC channel so the process (and its JIT)
 * stays warm across rounds and costs no start-up.
 *
 * HTTP/2: autocannon speaks HTTP/1.1 only, h2load is not installed here, and no well-kept npm load
 * generator does closed-loop HTTP/2 (artillery's HTTP engine schedules arrivals, open loop). The
 * generator below is small: one TLS session (as the API server keeps one connection to a webhook
 * and multiplexes), `connections` streams in flight, each sending its next request when its answer
 * has arrived — the same closed loop as autocannon's connections.
 *
 * autocannon's own latency histogram keeps whole milliseconds, too coarse for sub-millisecond
 * answers, so every response's time (hrtime, in ms with fractions) is kept here and percentiles
 * are computed from the exact samples.
 */
import autocannon from 'autocannon';
import { connect, constants as h2 } from 'node:http2';

export interface LoadJob {
  id: number;
  url: string;
  /** AdmissionReview bodies; each connection sends them in turn (a mix), or the one body. */
  bodies: string[];
  /** HTTP/1.1: connections; HTTP/2: streams in flight on one session. */
  connections: number;
  durationSec: number;
  protocol?: 'http1' | 'http2';
}

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export interface LoadResult {
  id: number;
  requests: number;
  elapsedSec: number;
  rps: number;
  latencyMs: LatencySummary;
  errors: { total: number; socket: number; timeouts: number; non2xx: number };
  statusCodes: Record<string, number>;
  /** CPU the load process itself used during the job (user + system), for spotting a load-bound run. */
  loadCpuMs: number;
}

export type LoadMessage =
  { type: 'result'; result: LoadResult } | { type: 'failed'; id: number; error: string };

/** Nearest-rank percentile of ascending samples. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

class Samples {
  private data = new Float64Array(1 << 16);
  length = 0;
  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length] = value;
    this.length += 1;
  }
  sorted(): Float64Array {
    return this.data.slice(0, this.length).sort();
  }
}

function summarise(samples: Samples): LatencySummary {
  const sorted = samples.sorted();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    p999: percentile(sorted, 99.9),
    max: sorted.length > 0 ? (sorted[sorted.length - 1] ?? Number.NaN) : Number.NaN,
    mean: sorted.length > 0 ? sum / sorted.length : Number.NaN,
  };
}

function runJob(job: LoadJob): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const samples = new Samples();
    const statusCodes: Record<string, number> = {};
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const instance = autocannon(
      {
        url: job.url,
        // An IP is not a valid SNI name (RFC 6066); the certificate also names localhost.
        servername: 'localhost',
        connections: job.connections,
        pipelining: 1,
        duration: job.durationSec,
        timeout: 10,
        requests: job.bodies.map((body) => ({
          method: 'POST' as const,
          path: '/mutate',
          headers: { 'content-type': 'application/json' },
          body,
        })),
      },
      (error: unknown, result: autocannon.Result) => {
        if (error) {
          reject(error instanceof Error ? error : new Error(JSON.stringify(error)));
          return;
        }
        const elapsedSec = (performance.now() - started) / 1000;
        const cpu = process.cpuUsage(cpuBefore);
        const requests = samples.length;
        resolve({
          id: job.id,
          requests,
          elapsedSec,
          // Completed answers over the configured window: autocannon stops sending at `duration`
          // and the last in-flight answers arrive within a few milliseconds.
          rps: requests / job.durationSec,
          latencyMs: summarise(samples),
          errors: {
            total: result.errors + result.non2xx,
            socket: result.errors - result.timeouts,
            timeouts: result.timeouts,
            non2xx: result.non2xx,
          },
          statusCodes,
          loadCpuMs: (cpu.user + cpu.system) / 1000,
        });
      },
    );
    instance.on('response', (_client, statusCode: number, _bytes: number, responseTime: number) => {
      samples.push(responseTime);
      const key = String(statusCode);
      statusCodes[key] = (statusCodes[key] ?? 0) + 1;
    });
  });
}

/** Closed loop over one HTTP/2 session: `job.connections` streams in flight until the time is up. */
function runHttp2Job(job: LoadJob): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const samples = new Samples();
    const statusCodes: Record<string, number> = {};
    const errors = { total: 0, socket: 0, timeouts: 0, non2xx: 0 };
    const bodies = job.bodies.map((b) => Buffer.from(b));
    const session = connect(job.url, { servername: 'localhost', rejectUnauthorized: false });
    let failed: Error | undefined;
    session.on('error', (error) => {
      failed ??= error;
    });
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const endAt = started + job.durationSec * 1000;
    let active = 0;
    const finish = (): void => {
      const elapsedSec = (performance.now() - started) / 1000;
      const cpu = process.cpuUsage(cpuBefore);
      session.close();
      if (failed && samples.length === 0) {
        reject(failed);
        return;
      }
      if (failed) {
        errors.total += 1;
        errors.socket += 1;
      }
      resolve({
        id: job.id,
        requests: samples.length,
        elapsedSec,
        rps: samples.length / job.durationSec,
        latencyMs: summarise(samples),
        errors,
        statusCodes,
        loadCpuMs: (cpu.user + cpu.system) / 1000,
      });
    };
    const next = (worker: number, sent: number): void => {
      if (performance.now() >= endAt || failed !== undefined || session.destroyed) {
        active -= 1;
        if (active === 0) finish();
        return;
      }
      const body = bodies[(worker + sent) % bodies.length] ?? Buffer.alloc(0);
      const begin = process.hrtime.bigint();
      const stream = session.request({
        [h2.HTTP2_HEADER_METHOD]: 'POST',
        [h2.HTTP2_HEADER_PATH]: '/mutate',
        'content-type': 'application/json',
        'content-length': body.length,
      });
      stream.setTimeout(10_000, () => {
        errors.total += 1;
        errors.timeouts += 1;
        stream.close(h2.NGHTTP2_CANCEL);
      });
      let status = 0;
      stream.on('response', (headers) => {
        status = Number(headers[h2.HTTP2_HEADER_STATUS]);
      });
      stream.on('data', () => {
        // The answer's bytes are read and dropped; run.ts's preflight checks their content.
      });
      let done = false;
      const complete = (error?: Error): void => {
        if (done) return;
        done = true;
        if (error) {
          errors.total += 1;
          errors.socket += 1;
        } else {
          samples.push(Number(process.hrtime.bigint() - begin) / 1e6);
          const key = String(status);
          statusCodes[key] = (statusCodes[key] ?? 0) + 1;
          if (status < 200 || status > 299) {
            errors.total += 1;
            errors.non2xx += 1;
          }
        }
        next(worker, sent + 1);
      };
      stream.on('end', () => {
        complete();
      });
      stream.on('error', complete);
      stream.on('close', () => {
        if (!done) complete(new Error(`stream closed (code ${String(stream.rstCode)})`));
      });
      stream.end(body);
    };
    session.once('connect', () => {
      active = job.connections;
      for (let w = 0; w < job.connections; w++) next(w, 0);
    });
    session.once('close', () => {
      if (active === 0 && samples.length === 0 && failed) reject(failed);
    });
  });
}

function send(message: LoadMessage): void {
  process.send?.(message);
}

if (process.send === undefined) {
  process.stderr.write('loadGenerator: run by bench/run.ts over an IPC channel\n');
  process.exit(2);
}

let queue = Promise.resolve();
process.on('message', (job: LoadJob) => {
  queue = queue.then(async () => {
    try {
      const result = job.protocol === 'http2' ? await runHttp2Job(job) : await runJob(job);
      send({ type: 'result', result });
    } catch (error) {
      send({ type: 'failed', id: job.id, error: error instanceof Error ? error.message : String(error) });
    }
  });
});
process.on('disconnect', () => process.exit(0));
