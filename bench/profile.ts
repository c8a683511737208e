/**
 * Summarises a V8 `.cpuprofile` (node --cpu-prof): self time per function and per module, so a
 * missed target is explained with figures.
 *
 *   node bench/profile.ts FILE.cpuprofile [--top 20]
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { round, table } from './stats.ts';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  where: string;
  selfMs: number;
  /** Of the busy time (all samples but `(idle)`). */
  percent: number;
  usPerRequest?: number;
}

export interface ProfileSummary {
  file: string;
  /** Only the last this many ms of the profile were counted (the load window), when set. */
  windowMs?: number;
  /** Requests answered in the window, when known: self time is then also given per request. */
  requests?: number;
  busyMs: number;
  idleMs: number;
  functions: SelfTime[];
  modules: SelfTime[];
}

/** Where a frame's code lives: our source, a package, Node itself, or V8's own buckets. */
export function moduleOf(url: string, root: string): string {
  if (url === '') return '(V8/native)';
  if (url.startsWith('node:')) return 'node: internals';
  const path = url.replace(/^file:\/\//, '');
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (pkg?.[1] !== undefined) return pkg[1];
  return relative(root, path);
}

export interface SummaryOptions {
  top?: number;
  /** Count only samples in the last `windowMs` of the profile (leaves start-up out). */
  windowMs?: number;
  requests?: number;
}

export function summariseProfile(file: string, root: string, options: SummaryOptions = {}): ProfileSummary {
  const top = options.top ?? 20;
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const from = options.windowMs === undefined ? -Infinity : profile.endTime - options.windowMs * 1000;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    // timeDeltas[i] is the time before sample i; it is attributed to that sample.
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (at < from) return;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  });
  const functions = new Map<string, { name: string; where: string; us: number }>();
  const modules = new Map<string, number>();
  let idleUs = 0;
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    if (frame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    busyUs += us;
    const module = frame.url === '' ? frame.functionName : moduleOf(frame.url, root);
    const where = frame.url === '' ? '' : `${moduleOf(frame.url, root)}:${frame.lineNumber + 1}`;
    const name = frame.functionName || '(anonymous)';
    const key = `${name}@${where}`;
    const entry = functions.get(key) ?? { name, where, us: 0 };
    entry.us += us;
    functions.set(key, entry);
    modules.set(module, (modules.get(module) ?? 0) + us);
  }
  const percent = (us: number): number => round((100 * us) / busyUs, 1);
  const perRequest = (us: number): { usPerRequest?: number } =>
    options.requests ? { usPerRequest: round(us / options.requests, 2) } : {};
  return {
    file,
    ...(options.windowMs === undefined ? {} : { windowMs: round(options.windowMs, 0) }),
    ...(options.requests === undefined ? {} : { requests: options.requests }),
    busyMs: round(busyUs / 1000, 1),
    idleMs: round(idleUs / 1000, 1),
    functions: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({
        name: f.name,
        where: f.where,
        selfMs: round(f.us / 1000, 1),
        percent: percent(f.us),
        ...perRequest(f.us),
      })),
    modules: [...modules.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({
        name,
        where: '',
        selfMs: round(us / 1000, 1),
        percent: percent(us),
        ...perRequest(us),
      })),
  };
}

/** Long V8 names (regular expressions) cut to fit a terminal. */
function short(name: string, max = 60): string {
  return name.length <= max ? name : `${name.slice(0, max - 1)}…`;
}

export function profileTables(summary: ProfileSummary): string {
  const us = (t: SelfTime): string | number => t.usPerRequest ?? '-';
  return [
    `${summary.file}: ${summary.busyMs} ms busy, ${summary.idleMs} ms idle` +
      (summary.windowMs === undefined ? '' : ` in the last ${summary.windowMs} ms (the load window)`) +
      (summary.requests === undefined ? '' : `, ${summary.requests} requests answered`),
    '',
    table(
      ['self %', 'self ms', 'us/req', 'function', 'where'],
      summary.functions.map((f) => [f.percent, f.selfMs, us(f), short(f.name), f.where]),
    ),
    '',
    table(
      ['self %', 'self ms', 'us/req', 'module'],
      summary.modules.map((m) => [m.percent, m.selfMs, us(m), short(m.name)]),
    ),
  ].join('\n');
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '20' }, 'window-ms': { type: 'string' } },
  });
  const [file] = positionals;
  if (file === undefined) {
    process.stderr.write('usage: node bench/profile.ts FILE.cpuprofile [--top N]\n');
    process.exit(2);
  }
  const summary = summariseProfile(file, process.cwd(), {
    top: Number(values.top),
    ...(values['window-ms'] === undefined ? {} : { windowMs: Number(values['window-ms']) }),
  });
  process.stdout.write(`${profileTables(summary)}\n`);
}
