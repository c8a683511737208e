/**
 * SPEC §3.4: a deterministic record of what the webhook guarantees on an object. No timestamps and
 * nothing random, so admitting the same object again yields the same bytes (and an empty patch).
 */
import { STATUS_ANNOTATION } from './config.ts';
import type { KubeObject } from './kubeTypes.ts';
import { pointer, type PatchBuilder } from './patchBuilder.ts';
import { VERSION } from '../version.ts';

export interface StatusRecord {
  nodePort: number;
  listener: string;
  family?: string;
  addressType: string;
  advertisedHosts: ReadonlyMap<number, string>;
  changes: string[];
}

export function statusValue(record: StatusRecord): string {
  // Fixed key order; `changes` sorted so the order steps ran in does not matter.
  return JSON.stringify({
    version: VERSION,
    nodePort: record.nodePort,
    listener: record.listener,
    ...(record.family ? { family: record.family } : {}),
    addressType: record.addressType,
    ...(record.advertisedHosts.size > 0
      ? { advertisedHosts: Object.fromEntries([...record.advertisedHosts].map(([o, h]) => [String(o), h])) }
      : {}),
    changes: [...record.changes].sort(),
  });
}

export function ensureStatusAnnotation<T extends KubeObject>(
  builder: PatchBuilder<T>,
  object: T,
  record: StatusRecord,
): void {
  const value = statusValue(record);
  const annotations = object.metadata?.annotations;
  if (!object.metadata) builder.add('/metadata', { annotations: { [STATUS_ANNOTATION]: value } });
  else if (!annotations) builder.add('/metadata/annotations', { [STATUS_ANNOTATION]: value });
  else if (annotations[STATUS_ANNOTATION] !== value)
    builder.add(pointer('metadata', 'annotations', STATUS_ANNOTATION), value);
}
