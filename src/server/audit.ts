/**
 * SPEC §5 audit log: one JSON line per admission decision, to stdout or a file, and the same facts,
 * compact, as the response's `auditAnnotations` (the API server writes those into its own audit
 * log under `<webhook name>/<key>`).
 *
 * A record is built from named fields only — never from the object — so env values, Secret data
 * and whole objects cannot leak into it.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Decision } from '../core/result.ts';

export interface AuditRecord {
  time: string;
  uid: string;
  user: string;
  operation: string;
  kind: string;
  namespace: string;
  name: string;
  dryRun: boolean;
  decision: Decision;
  /** The core's reason, or the server's own when the request never reached the core. */
  reason: string;
  message: string;
  /** JSON Pointer of every patch operation, in patch order, without values. */
  patchPaths: string[];
  durationMs: number;
  /** What could not be read for want of the namespace's grant (`Helm release records`, …). */
  unread?: string[];
  /** The fields cut to their bound (SPEC §6: client-chosen fields are bounded), when any was. */
  truncated?: string[];
}

/**
 * Bounds of the fields a client chooses (characters; `patchPaths`: entries and characters each).
 * Kubernetes names are at most 253 characters, so real values are never cut; a record stays
 * under about 24 KiB whatever a client sends.
 */
export const AUDIT_FIELD_LIMITS = {
  uid: 128,
  user: 512,
  operation: 16,
  kind: 128,
  namespace: 253,
  name: 253,
  reason: 64,
  message: 512,
  patchPaths: 64,
  patchPath: 256,
} as const;

type BoundedField = 'uid' | 'user' | 'operation' | 'kind' | 'namespace' | 'name' | 'reason' | 'message';
const BOUNDED_FIELDS: BoundedField[] = [
  'uid',
  'user',
  'operation',
  'kind',
  'namespace',
  'name',
  'reason',
  'message',
];

/**
 * The record with every client-chosen field within its bound, and which were cut. `admit` builds
 * every record through it, once, so the log, the metrics and the sinks all see the bounded one.
 */
export function boundedRecord(record: AuditRecord): AuditRecord {
  const bounded: AuditRecord = { ...record };
  const cut: string[] = [];
  for (const field of BOUNDED_FIELDS) {
    const limit = AUDIT_FIELD_LIMITS[field];
    if (record[field].length > limit) {
      bounded[field] = truncate(record[field], limit);
      cut.push(field);
    }
  }
  const paths = record.patchPaths
    .slice(0, AUDIT_FIELD_LIMITS.patchPaths)
    .map((p) => truncate(p, AUDIT_FIELD_LIMITS.patchPath));
  if (record.patchPaths.length > paths.length || paths.some((p, i) => p !== record.patchPaths[i])) {
    bounded.patchPaths = paths;
    cut.push('patchPaths');
  }
  if (cut.length > 0) bounded.truncated = cut;
  return bounded;
}

/** Annotation values are kept short: the API server's audit event is not the place for detail. */
const MAX_ANNOTATION_VALUE = 1024;

/** At most `max` characters, an ellipsis marking the cut. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Keys are valid qualified names, so the API server accepts them after its `<webhook>/` prefix. */
export function auditAnnotations(
  record: Pick<AuditRecord, 'decision' | 'reason' | 'patchPaths'>,
): Record<string, string> {
  const annotations: Record<string, string> = { decision: record.decision, reason: record.reason };
  if (record.patchPaths.length > 0) {
    annotations['patch-paths'] = truncate([...new Set(record.patchPaths)].join(','), MAX_ANNOTATION_VALUE);
  }
  return annotations;
}

/** JSON leaves these raw, yet common line readers split on them: one record must stay one line. */
const LINE_SEPARATORS = /[\u0085\u2028\u2029]/g;

export function auditLine(record: AuditRecord): string {
  const json = JSON.stringify(record).replace(
    LINE_SEPARATORS,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return `${json}\n`;
}

export interface AuditSink {
  write(record: AuditRecord): void;
  /** Flushes what was written; the last call at shutdown. */
  close(): Promise<void>;
}

/** Lines go to `file` (appended) or, without one, to stdout — which then carries nothing else. */
export function createAuditSink(file: string | undefined, onError: (error: Error) => void): AuditSink {
  if (file === undefined) {
    // Lines decided in one turn of the event loop go out in one write: stdout to a file or pipe is
    // synchronous on Linux, one system call per write. At most that turn's lines wait, and
    // close() (shutdown) writes them before it resolves: none is lost.
    let pending = '';
    const flush = (): void => {
      const text = pending;
      pending = '';
      if (text !== '') process.stdout.write(text);
    };
    return {
      write: (record) => {
        if (pending === '') setImmediate(flush);
        pending += auditLine(record);
      },
      close: () => {
        flush();
        return new Promise((resolve) => {
          // An empty write's callback runs once what was written before it is out.
          process.stdout.write('', () => {
            resolve();
          });
        });
      },
    };
  }
  const stream: WriteStream = createWriteStream(file, { flags: 'a' });
  stream.on('error', onError);
  return {
    write: (record) => {
      stream.write(auditLine(record));
    },
    close: () =>
      new Promise((resolve) => {
        stream.end(resolve);
      }),
  };
}

/** In memory, for tests and for callers that forward records elsewhere. */
export function memoryAuditSink(): AuditSink & { records: AuditRecord[] } {
  const records: AuditRecord[] = [];
  return {
    records,
    write: (record) => {
      records.push(record);
    },
    close: () => Promise.resolve(),
  };
}
