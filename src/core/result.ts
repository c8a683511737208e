import type { Operation } from 'fast-json-patch';
import type { Exposure } from './wiring/wiring.ts';

export type Decision = 'mutated' | 'unchanged' | 'skipped' | 'denied' | 'error';

/** Machine-readable reasons, as they appear in audit lines and `explain`. */
export type Reason =
  | 'exposed'
  | 'already-mutated'
  | 'already-exposed'
  | 'unsupported-wiring'
  | 'not-a-broker'
  | 'not-kafka'
  | 'not-client-service'
  | 'unsupported-kind'
  | 'invalid-object'
  | 'over-limit'
  | 'opted-out'
  | 'invalid-config'
  | 'release-unreadable'
  | 'node-port-taken'
  | 'node-port-misrouted'
  | 'internal-error';

export interface MutationResult {
  decision: Decision;
  reason: Reason;
  /** One human sentence; for `denied` it is the message the API server shows. */
  message: string;
  patch: Operation[];
  /** What the webhook guarantees on the object (empty unless exposed). */
  changes: string[];
  /** How the broker will be reached, for Kafka StatefulSets that are exposed. */
  exposure?: Exposure;
  /** The node port an exposed (or already mutated) object claims. */
  nodePort?: number;
}

export function outcome(
  decision: Exclude<Decision, 'mutated'>,
  reason: Reason,
  message: string,
  extra: Partial<MutationResult> = {},
): MutationResult {
  return { decision, reason, message, patch: [], changes: [], ...extra };
}

/** `mutated` with a patch, or `unchanged` when everything was already in place. */
export function exposedResult(
  patch: Operation[],
  changes: string[],
  message: string,
  nodePort: number,
  exposure?: Exposure,
): MutationResult {
  const claim = { nodePort, ...(exposure ? { exposure } : {}) };
  return patch.length > 0
    ? { decision: 'mutated', reason: 'exposed', message, patch, changes, ...claim }
    : {
        decision: 'unchanged',
        reason: 'already-mutated',
        message: `already mutated: ${message}`,
        patch,
        changes,
        ...claim,
      };
}

/**
 * A Kafka object the webhook would have exposed but could not: the user must hear about it (an
 * admission warning, a line on `mutate`'s stderr), or a release comes up unreachable in silence.
 */
export function isUnexposedKafka(result: { decision: Decision; reason: string }): boolean {
  return (
    result.decision === 'error' || result.reason === 'unsupported-wiring' || result.reason === 'over-limit'
  );
}
