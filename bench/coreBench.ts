/**
 * In-process micro-benchmark of the mutation core (tinybench): time per `mutateObject()` against
 * `JSON.parse` of the same object's JSON, for StatefulSets grown from the seed (1, 10, 60
 * containers; up to 1,000 env entries), and the growth exponent of the core's time in the size.
 *
 *   node bench/coreBench.ts [--quick]     (also run by `npm run bench`)
 */
import { Bench } from 'tinybench';
import { mutateObject } from '../src/core/mutateObject.ts';
import { scaledStatefulSets, type ScaledObject } from './requests.ts';
import { logLogSlope, round } from './stats.ts';

export interface CoreSize {
  key: string;
  series: ScaledObject['series'];
  containers: number;
  envEntries: number;
  jsonBytes: number;
  decision: string;
  patchOps: number;
  /** Median time per call, microseconds. */
  parseUs: number;
  mutateUs: number;
  mutationOverParse: number;
}

export interface CoreResult {
  sizes: CoreSize[];
  /** On the seed StatefulSet itself (1 container, its own env): the figure the target is about. */
  mutationOverParse: number;
  /** The largest ratio over all sizes. */
  maxMutationOverParse: number;
  /**
   * Largest least-squares log-log slope of mutation time against JSON size over the two series
   * (each includes the seed as its smallest point); 1 is linear.
   */
  growthExponent: number;
  growthExponentBySeries: Record<ScaledObject['series'], number>;
  /** Slope between each series' two largest points: where a superlinear term would show first. */
  topSegmentExponent: Record<ScaledObject['series'], number>;
  /** The same for `JSON.parse`, as a yardstick of what "linear" measures like here. */
  parseGrowthExponent: number;
  timePerTaskMs: number;
}

const BASE = { defaults: {}, namespaceAnnotations: {} };

export async function runCoreBench(options: { quick: boolean }): Promise<CoreResult> {
  const objects = scaledStatefulSets();
  const timePerTaskMs = options.quick ? 150 : 1500;
  const bench = new Bench({
    time: timePerTaskMs,
    warmupTime: options.quick ? 50 : 300,
    iterations: 20,
    warmupIterations: 10,
  });
  let sink: unknown;
  for (const o of objects) {
    bench.add(`parse ${o.key}`, () => {
      sink = JSON.parse(o.json);
    });
    bench.add(`mutate ${o.key}`, () => {
      sink = mutateObject({ ...BASE, object: o.object });
    });
  }
  await bench.run();
  if (sink === undefined) throw new Error('benchmark produced nothing');

  const medianUs = (name: string): number => {
    const task = bench.getTask(name);
    const result = task?.result;
    if (!result || result.state !== 'completed') throw new Error(`core bench: ${name} did not complete`);
    return result.latency.p50 * 1000;
  };
  const sizes: CoreSize[] = objects.map((o) => {
    const result = mutateObject({ ...BASE, object: o.object });
    const parseUs = medianUs(`parse ${o.key}`);
    const mutateUs = medianUs(`mutate ${o.key}`);
    return {
      key: o.key,
      series: o.series,
      containers: o.containers,
      envEntries: o.envEntries,
      jsonBytes: Buffer.byteLength(o.json),
      decision: result.decision,
      patchOps: result.patch.length,
      parseUs: round(parseUs, 2),
      mutateUs: round(mutateUs, 2),
      mutationOverParse: round(mutateUs / parseUs, 3),
    };
  });

  const seed = sizes.find((s) => s.key === 'c1');
  if (!seed) throw new Error('core bench: no seed size');
  const seriesPoints = (
    series: ScaledObject['series'],
    y: (s: CoreSize) => number,
  ): { x: number; y: number }[] =>
    sizes.filter((s) => s.series === series || s === seed).map((s) => ({ x: s.jsonBytes, y: y(s) }));
  const topSegment = (series: ScaledObject['series']): number =>
    logLogSlope(
      seriesPoints(series, (s) => s.mutateUs)
        .sort((a, b) => a.x - b.x)
        .slice(-2),
    );
  const bySeries = {
    containers: round(logLogSlope(seriesPoints('containers', (s) => s.mutateUs)), 3),
    env: round(logLogSlope(seriesPoints('env', (s) => s.mutateUs)), 3),
  };
  return {
    sizes,
    mutationOverParse: seed.mutationOverParse,
    maxMutationOverParse: Math.max(...sizes.map((s) => s.mutationOverParse)),
    growthExponent: Math.max(bySeries.containers, bySeries.env),
    growthExponentBySeries: bySeries,
    topSegmentExponent: { containers: round(topSegment('containers'), 3), env: round(topSegment('env'), 3) },
    parseGrowthExponent: round(logLogSlope(sizes.map((s) => ({ x: s.jsonBytes, y: s.parseUs }))), 3),
    timePerTaskMs,
  };
}

if (import.meta.main) {
  const result = await runCoreBench({ quick: process.argv.includes('--quick') });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
