/**
 * One admission request in, one answer and one audit record out. What the webhook decides is the
 * mutation core's business; this file only decides whether a request reaches the core at all,
 * gathers the core's inputs (namespace annotations, server defaults), and maps its result onto an
 * AdmissionResponse the way controller-runtime's `Allowed`/`Denied`/`Patched` do.
 *
 * Nothing here may throw past `admit`: whatever fails, the answer keeps the request's uid and
 * admits the object unchanged (SPEC §3: a bug must never block an install).
 */
import type { RawConfig } from '../core/config.ts';
import { isRecord, stringOr, type KubeObject, type StatefulSet } from '../core/kubeTypes.ts';
import { needsConfigMaps, type MutationInput } from '../core/mutateObject.ts';
import { claimRefusal } from '../core/nodePortClaim.ts';
import { grantCommand, missingGrantMessage, type WebhookIdentity } from '../core/optInGrant.ts';
import { decideBrokers, serviceContext, servicesOf } from '../core/release.ts';
import { isUnexposedKafka, type Decision, type MutationResult, type Reason } from '../core/result.ts';
import {
  deniedStatus,
  encodePatch,
  type AdmissionRequest,
  type AdmissionResponse,
} from './admissionReview.ts';
import { auditAnnotations, boundedRecord, truncate, type AuditRecord } from './audit.ts';
import { ReleaseUnavailable, type FoundRelease, type ReleaseLookup } from './kubeRelease.ts';
import { configMapsOf } from '../core/configMaps.ts';
import type { NamespaceAnnotationLookup } from './namespaceCache.ts';

/** SPEC §2: never mutated, whatever their labels say. */
export const SYSTEM_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease'] as const;

export interface AdmissionContext {
  /** Server flags: SPEC §2's third configuration source. */
  defaults: RawConfig;
  namespaces: NamespaceAnnotationLookup;
  /** System namespaces and the webhook's own. */
  protectedNamespaces: ReadonlySet<string>;
  /** The mutation core (`mutateObject`); tests substitute a slow or throwing one. */
  mutate: (input: MutationInput) => MutationResult | Promise<MutationResult>;
  /**
   * Optional: the release a Service belongs to (Helm's release record, else the cluster), so a
   * client Service follows its release's brokers. Throws `ReleaseUnavailable` only.
   */
  release?: ReleaseLookup;
  /** Optional: the Services that hold node ports, to refuse a node port another release holds. */
  nodePorts?: { readonly ready: boolean; holders(): unknown[] };
  /** Who the webhook is, for the command that grants it its reads (default: the manifests'). */
  identity?: WebhookIdentity;
}

export interface AdmissionOutcome {
  response: AdmissionResponse;
  record: AuditRecord;
}

/** Reasons the server gives on top of the core's. */
type ServerReason =
  'operation-not-mutated' | 'protected-namespace' | 'namespace-cache-not-ready' | 'service-cache-not-ready';

/** A decision made here or by the core; the server adds reasons of its own to the core's. */
interface Verdict {
  decision: Decision;
  reason: Reason | ServerReason;
  message: string;
  patch: MutationResult['patch'];
  /** What could not be read for want of the namespace's grant (the answer warns about it). */
  unread?: string[];
}

const WARNING_PREFIX = 'kafka-nodeport-injector';
/** The API server truncates longer warnings; keep ours whole. */
const MAX_WARNING = 256;

function skip(reason: ServerReason, message: string): Verdict {
  return { decision: 'skipped', reason, message, patch: [] };
}

function objectMeta(object: unknown): KubeObject['metadata'] {
  return isRecord(object) ? (object as KubeObject).metadata : undefined;
}

/** The request's namespace is authoritative: on CREATE the object itself often has none. */
function namespaceOf(request: AdmissionRequest): string {
  return request.namespace ?? objectMeta(request.object)?.namespace ?? '';
}

async function decide(request: AdmissionRequest, context: AdmissionContext): Promise<Verdict> {
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') {
    return skip('operation-not-mutated', `${request.operation} requests are never mutated`);
  }
  if (request.subResource) {
    return skip('operation-not-mutated', `subresource ${request.subResource} is never mutated`);
  }
  const namespace = namespaceOf(request);
  if (context.protectedNamespaces.has(namespace)) {
    return skip('protected-namespace', `namespace ${namespace} is never mutated`);
  }
  const { object } = request;
  const base: MutationInput = {
    object,
    namespaceAnnotations: context.namespaces.annotations(namespace),
    defaults: context.defaults,
  };
  let result = await context.mutate(base);
  // What could not be read for want of the namespace's grant, said on whatever the answer is.
  const unread = new Set<string>();
  const releaseOf = async (): Promise<FoundRelease | Verdict> => {
    try {
      const found = await (context.release as ReleaseLookup)(namespace, object);
      for (const what of found.unread ?? []) unread.add(what);
      return found;
    } catch (error) {
      if (!(error instanceof ReleaseUnavailable)) throw error;
      return {
        decision: 'denied',
        reason: 'release-unreadable',
        message: `${error.message}; retry`,
        patch: [],
      };
    }
  };
  if (context.release && needsConfigMaps(object, result)) {
    // A broker that runs a script from a ConfigMap is decided from that script: the release has it.
    const release = await releaseOf();
    if ('decision' in release) return release;
    const configMaps = configMapsOf(release.objects);
    if (configMaps.size > 0) result = await context.mutate({ ...base, configMaps });
  }
  if (context.release && isRecord(object) && object.kind === 'StatefulSet' && result.exposure) {
    // The chart's own per-broker Services, where the release has them, expose these brokers
    // already (a Helm install creates them before the StatefulSet; so does Argo CD's order).
    const release = await releaseOf();
    if ('decision' in release) return release;
    result = decideBrokers(object as unknown as StatefulSet, result, servicesOf(release.objects));
  }
  if (
    context.release &&
    isRecord(object) &&
    object.kind === 'Service' &&
    (result.decision === 'mutated' || result.reason === 'already-exposed')
  ) {
    // Only a Kafka Service we would change (or leave for the chart) costs an API call. Its answer
    // depends on the release's brokers: which port their exposed listener binds, or that they are
    // not exposed at all.
    const release = await releaseOf();
    if ('decision' in release) return release;
    const options = { defaults: context.defaults, namespaceAnnotations: base.namespaceAnnotations ?? {} };
    const brokerContext = serviceContext(object, release, options);
    if (Object.keys(brokerContext).length > 0) result = await context.mutate({ ...base, ...brokerContext });
  }
  return withUnread(settle(object, namespace, result, context), unread);
}

function withUnread(verdict: Verdict, unread: Set<string>): Verdict {
  return unread.size > 0 ? { ...verdict, unread: [...unread] } : verdict;
}

/**
 * The checks on a core result that need the cluster: the node port claim (the first object of a
 * release that claims a port another release holds is refused, and so is every later one, so
 * nothing of that release is stored mutated), and the caches a mutation relies on being loaded.
 */
function settle(
  object: unknown,
  namespace: string,
  result: MutationResult,
  context: AdmissionContext,
): Verdict {
  if (result.decision !== 'mutated') return result;
  // Before the first listings, a namespace annotation could not be honoured nor a claim checked:
  // admitting unchanged, with a warning, beats exposing on the wrong port or nodes.
  if (context.namespaces.enabled && !context.namespaces.ready) {
    return notReady('namespace-cache-not-ready', 'namespace annotations are not loaded yet');
  }
  if (result.nodePort !== undefined && context.nodePorts) {
    if (!context.nodePorts.ready)
      return notReady('service-cache-not-ready', 'the node ports Services hold are not loaded yet');
    const refusal = claimRefusal(object, namespace, result, context.nodePorts.holders());
    if (refusal) return { decision: 'denied', ...refusal, patch: [] };
  }
  return result;
}

function notReady(reason: ServerReason, what: string): Verdict {
  return {
    decision: 'error',
    reason,
    message: `${what}; admitted unchanged (re-apply once the webhook is ready)`,
    patch: [],
  };
}

/** The object as people name it: `StatefulSet my-kafka` (`generateName` when it has no name yet). */
function subject(request: AdmissionRequest): { kind: string; name: string } {
  const meta = objectMeta(request.object);
  const objectKind = isRecord(request.object) ? stringOr(request.object.kind) : '';
  return {
    kind: stringOr(request.kind?.kind) || objectKind,
    name: stringOr(request.name) || stringOr(meta?.name) || stringOr(meta?.generateName),
  };
}

/**
 * A Kafka object we could not expose is admitted, but the user deserves to hear about it; so
 * does a namespace that has not granted the webhook its reads: what was not read, and the command
 * (a line of its own, so it is never cut).
 */
function warningsFor(
  verdict: Verdict,
  who: { kind: string; name: string },
  namespace: string,
  identity: WebhookIdentity | undefined,
): string[] {
  const warnings: string[] = [];
  if (isUnexposedKafka(verdict))
    warnings.push(
      truncate(`${WARNING_PREFIX}: ${who.kind} ${who.name} not exposed: ${verdict.message}`, MAX_WARNING),
    );
  if (verdict.unread) {
    warnings.push(
      truncate(
        `${WARNING_PREFIX}: ${missingGrantMessage(namespace, verdict.unread.join(', '))}; grant them with:`,
        MAX_WARNING,
      ),
      truncate(grantCommand(namespace, identity), MAX_WARNING),
    );
  }
  return warnings;
}

function respond(uid: string, verdict: Verdict, warnings: string[]): AdmissionResponse {
  const annotations = auditAnnotations({
    decision: verdict.decision,
    reason: verdict.reason,
    patchPaths: verdict.patch.map((op) => op.path),
  });
  if (verdict.decision === 'denied') {
    return { uid, allowed: false, status: deniedStatus(verdict.message), auditAnnotations: annotations };
  }
  const response: AdmissionResponse = { uid, allowed: true, auditAnnotations: annotations };
  // patchType and patch only when there is something to change: an empty patch says nothing.
  if (verdict.patch.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = encodePatch(verdict.patch);
  }
  if (warnings.length > 0) response.warnings = warnings;
  return response;
}

export async function admit(request: AdmissionRequest, context: AdmissionContext): Promise<AdmissionOutcome> {
  const started = performance.now();
  const who = subject(request);
  let verdict: Verdict;
  try {
    verdict = await decide(request, context);
  } catch (error) {
    const message = `internal error: ${error instanceof Error ? error.message : String(error)}`;
    verdict = { decision: 'error', reason: 'internal-error', message, patch: [] };
  }
  const response = respond(
    request.uid,
    verdict,
    warningsFor(verdict, who, namespaceOf(request), context.identity),
  );
  const record: AuditRecord = boundedRecord({
    time: new Date().toISOString(),
    uid: request.uid,
    user: request.userInfo?.username ?? '',
    operation: request.operation,
    kind: who.kind,
    namespace: namespaceOf(request),
    name: who.name,
    dryRun: request.dryRun === true,
    decision: verdict.decision,
    reason: verdict.reason,
    message: verdict.message,
    patchPaths: verdict.patch.map((op) => op.path),
    durationMs: Math.round((performance.now() - started) * 1000) / 1000,
    ...(verdict.unread ? { unread: verdict.unread } : {}),
  });
  return { response, record };
}
