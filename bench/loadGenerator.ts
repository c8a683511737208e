/**
 * The load process: autocannon over HTTP/1.1 keep-alive TLS, one job at a time, driven by `run.ts`
 * over an IPC channel so the process (and its JIT) stays warm across rounds and costs no start-up.
 *
 * autocannon's own latency histogram keeps whole milliseconds, too coarse for sub-millisecond
 * answers, so every response's time (hrtime, in ms with fractions) is kept here and percentiles
 * are computed from the exact samples.
 */
import autocannon from 'autocannon';

export interface LoadJob {
  id: number;
  url: string;
  /** AdmissionReview bodies; each connection sends them in turn (a mix), or the one body. */
  bodies: string[];
  connections: number;
  durationSec: number;
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
      send({ type: 'result', result: await runJob(job) });
    } catch (error) {
      send({ type: 'failed', id: job.id, error: error instanceof Error ? error.message : String(error) });
    }
  });
});
process.on('disconnect', () => process.exit(0));
