/** Small statistics and text tables for the bench's report. */

export interface Spread {
  min: number;
  median: number;
  max: number;
}

export function median(values: number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? Number.NaN)
    : ((sorted[mid - 1] ?? Number.NaN) + (sorted[mid] ?? Number.NaN)) / 2;
}

export function spread(values: number[]): Spread {
  const kept = values.filter((v) => !Number.isNaN(v));
  return { min: Math.min(...kept), median: median(kept), max: Math.max(...kept) };
}

/** Least-squares slope of log(y) against log(x): 1 is linear growth, 2 quadratic. */
export function logLogSlope(points: { x: number; y: number }[]): number {
  const logs = points.map((p) => ({ x: Math.log(p.x), y: Math.log(p.y) }));
  const n = logs.length;
  if (n < 2) return Number.NaN;
  const mx = logs.reduce((s, p) => s + p.x, 0) / n;
  const my = logs.reduce((s, p) => s + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of logs) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return num / den;
}

export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** A fixed-width text table; numbers right-aligned. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[], numeric: boolean[]): string =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const numericCols = headers.map((_, i) => rows.some((r) => typeof r[i] === 'number'));
  return [
    line(headers, numericCols),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...cells.slice(1).map((r) => line(r, numericCols)),
  ].join('\n');
}

export function fmt(value: number): string {
  if (Number.isNaN(value)) return '-';
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toString();
  if (abs >= 100) return value.toFixed(1);
  if (abs >= 10) return value.toFixed(2);
  return value.toFixed(3);
}
