/**
 * The chart corpus in ../shared, read at test time (never copied into this repository). Without
 * it, corpus tests are reported skipped with a clear message — and fail under CI.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

/** `../shared` beside the repository; SHARED_DIR overrides it (e.g. to check the missing case). */
export const SHARED_DIR =
  process.env.SHARED_DIR ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../../shared');
export const RENDERED_DIR = join(SHARED_DIR, 'charts-rendered');
export const CHARTS_DIR = join(SHARED_DIR, 'charts');
/** Inputs the corpus does not cover yet (a chart on the apache/kafka image, the story's values). */
export const INCOMING_RENDERED_DIR = join(SHARED_DIR, 'incoming', 'charts-rendered');
export const INCOMING_CHARTS_DIR = join(SHARED_DIR, 'incoming', 'charts');

export interface RenderedChart {
  name: string;
  path: string;
  text: string;
  objects: unknown[];
}

/** Why corpus tests cannot run, or undefined when they can. Under CI a missing corpus throws. */
export function corpusMissing(): string | undefined {
  if (existsSync(RENDERED_DIR)) return undefined;
  const message = `chart corpus not found at ${RENDERED_DIR}: put the shared folder beside this repository`;
  if (process.env.CI === 'true') throw new Error(`${message} (required when CI=true)`);
  return message;
}

function yamlFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((file) => join(dir, file));
}

/** The renders of ../shared/charts-rendered and of ../shared/incoming/charts-rendered. */
export function renderedCharts(): RenderedChart[] {
  if (corpusMissing() !== undefined) return [];
  return [...yamlFiles(RENDERED_DIR), ...yamlFiles(INCOMING_RENDERED_DIR)].map((path) => {
    const file = path.slice(path.lastIndexOf('/') + 1);
    const text = readFileSync(path, 'utf8');
    // YAML 1.1, as Kubernetes reads manifests (`0755` is octal).
    const objects = parseAllDocuments(text, { version: '1.1' }).map((d) => d.toJS() as unknown);
    return { name: file.replace(/\.yaml$/, ''), path, text, objects };
  });
}
