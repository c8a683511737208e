/**
 * `explain` against a live cluster (like `istioctl x check-inject`): from what a namespace holds,
 * why each StatefulSet and Service was (or was not) mutated, whether admitting it again would
 * change it, and per broker pod its node, the address it advertises now and the bootstrap list a
 * client should use. Pure: the CLI fetches the objects and prints the answer.
 */
import { formatAddress } from './advertisedListeners.ts';
import {
  configFromAnnotations,
  INJECT_LABEL,
  resolveConfig,
  STATUS_ANNOTATION,
  type RawConfig,
} from './config.ts';
import { isRecord, selectsLabels, type KubeObject } from './kubeTypes.ts';
import { NODE_ADDRESS_MAP, parseNodeAddressEntry, pickNodeAddress } from './nodeAddresses.ts';
import { grantCommand, missingGrantMessage, type WebhookIdentity } from './optInGrant.ts';
import { mutateRelease } from './release.ts';
import type { MutationResult } from './result.ts';

export interface LivePod {
  name: string;
  labels: Record<string, string>;
  nodeName?: string;
  hostIP?: string;
}

export interface LiveNamespace {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface LiveView {
  namespace: LiveNamespace;
  /** StatefulSets, Services and ConfigMaps of the namespace as stored. */
  objects: unknown[];
  pods: LivePod[];
  /** Namespaces the webhook never mutates (kube-system, …, its own). */
  protectedNamespaces: readonly string[];
  /**
   * Whether the webhook's ServiceAccount may read the namespace's release records (a
   * SubjectAccessReview), or undefined when that could not be asked; and who the webhook is.
   */
  grant?: { granted: boolean | undefined; webhook: WebhookIdentity };
}

export interface LiveBroker {
  pod: string;
  ordinal: number;
  node?: string;
  /** `LISTENER://host:port`, or undefined while the pod has no node (or its node no entry). */
  advertised?: string;
  /** Where the host comes from: `override`, the address type used, or why there is none yet. */
  source: string;
}

export interface LiveObject {
  kind: string;
  name: string;
  /** Whether the stored object carries our status annotation (it was mutated). */
  mutated: boolean;
  status?: Record<string, unknown>;
  /** The core's answer for the stored object now. */
  decision: string;
  reason: string;
  message: string;
  /** Paths admitting it again would change (empty: up to date). */
  pendingChanges: string[];
  brokers?: LiveBroker[];
  /** The addresses a client bootstraps from: every broker's advertised endpoint. */
  bootstrap?: string[];
}

export interface LiveExplanation {
  namespace: string;
  /** Why the webhook is (not) called for this namespace. */
  optIn: string;
  called: boolean;
  /** Whether the webhook may read the namespace's release records, StatefulSets and ConfigMaps. */
  grant?: { granted: boolean | undefined; message: string; command?: string };
  objects: LiveObject[];
}

/** What the grant means for the namespace, and the command when it is missing (optInGrant.ts). */
function grantOf(view: LiveView, called: boolean): LiveExplanation['grant'] {
  if (!view.grant || !called) return undefined;
  const { granted, webhook } = view.grant;
  const { name } = view.namespace;
  const command = grantCommand(name, webhook);
  if (granted === true)
    return {
      granted,
      message: `the webhook may read the release records, StatefulSets and ConfigMaps of ${name}`,
    };
  if (granted === false)
    return {
      granted,
      message: `${missingGrantMessage(name, 'Helm release records, StatefulSets and ConfigMaps')}; grant them with:`,
      command,
    };
  return {
    granted,
    message: `could not ask whether the webhook may read the release records of ${name} (creating a SubjectAccessReview was refused); if it may not, run:`,
    command,
  };
}

const kindOf = (o: unknown): string | undefined =>
  isRecord(o) && typeof o.kind === 'string' ? o.kind : undefined;

function optInOf(view: LiveView): { called: boolean; optIn: string } {
  const { name, labels } = view.namespace;
  if (view.protectedNamespaces.includes(name)) {
    return { called: false, optIn: `namespace ${name} is never mutated (system or the webhook's own)` };
  }
  if (labels[INJECT_LABEL] !== 'enabled') {
    return {
      called: false,
      optIn: `namespace ${name} has not opted in: label ${INJECT_LABEL}=enabled is missing${labels[INJECT_LABEL] ? ` (it is ${JSON.stringify(labels[INJECT_LABEL])})` : ''}`,
    };
  }
  const own = Object.entries(view.namespace.annotations).filter(([k]) =>
    k.startsWith('kafka-nodeport-injector/'),
  );
  return {
    called: true,
    optIn: `namespace ${name} opted in (label ${INJECT_LABEL}=enabled)${own.length > 0 ? `; its settings: ${own.map(([k, v]) => `${k.slice('kafka-nodeport-injector/'.length)}=${v}`).join(', ')}` : ''}`,
  };
}

function parseStatus(object: KubeObject): Record<string, unknown> | undefined {
  const text = object.metadata?.annotations?.[STATUS_ANNOTATION];
  if (text === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return isRecord(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** What each pod of a mutated broker StatefulSet advertises, from the map its pods read. */
function brokersOf(
  sts: KubeObject,
  status: Record<string, unknown>,
  view: LiveView,
  defaults: RawConfig,
): LiveBroker[] {
  const { spec: rawSpec } = sts as { spec?: unknown };
  const spec = isRecord(rawSpec) ? rawSpec : {};
  const template = isRecord(spec.template) && isRecord(spec.template.metadata) ? spec.template.metadata : {};
  const podLabels = isRecord(template.labels) ? (template.labels as Record<string, string>) : {};
  const name = sts.metadata?.name ?? '';
  const config = resolveConfig([
    { name: 'object annotation', values: configFromAnnotations(sts.metadata?.annotations) },
    { name: 'namespace annotation', values: configFromAnnotations(view.namespace.annotations) },
    { name: 'server', values: defaults },
  ]);
  const listener = typeof status.listener === 'string' ? status.listener : '?';
  const nodePort = typeof status.nodePort === 'number' ? status.nodePort : config.nodePort;
  const map = view.objects.find(
    (o): o is KubeObject & { data?: Record<string, string> } =>
      kindOf(o) === 'ConfigMap' && (o as KubeObject).metadata?.name === NODE_ADDRESS_MAP,
  );
  const ordinalOf = (pod: string): number => Number(pod.slice(name.length + 1));
  return view.pods
    .filter((p) => p.name.startsWith(`${name}-`) && /^\d+$/.test(p.name.slice(name.length + 1)))
    .filter((p) => selectsLabels(podLabels, p.labels))
    .sort((a, b) => ordinalOf(a.name) - ordinalOf(b.name))
    .map((pod) => {
      const ordinal = ordinalOf(pod.name);
      const base = { pod: pod.name, ordinal, ...(pod.nodeName ? { node: pod.nodeName } : {}) };
      const advertise = (host: string, source: string): LiveBroker => ({
        ...base,
        advertised: `${listener}://${formatAddress(host, nodePort)}`,
        source,
      });
      const override = config.advertisedHosts.get(ordinal);
      if (override !== undefined) return advertise(override, 'override (advertised-hosts)');
      if (!pod.nodeName) return { ...base, source: 'not scheduled yet' };
      if (config.addressType === 'InternalIP') {
        return pod.hostIP
          ? advertise(pod.hostIP, 'InternalIP (status.hostIP)')
          : { ...base, source: 'no hostIP yet' };
      }
      const entry = map?.data?.[pod.nodeName];
      if (entry === undefined) {
        return {
          ...base,
          source: `node ${pod.nodeName} is not in ConfigMap ${NODE_ADDRESS_MAP}: the broker waits, then fails`,
        };
      }
      const picked = pickNodeAddress(parseNodeAddressEntry(entry), config.addressType);
      if (!picked) return { ...base, source: `node ${pod.nodeName} has no address in ${NODE_ADDRESS_MAP}` };
      return advertise(
        picked.address,
        picked.type === config.addressType
          ? picked.type
          : `${picked.type} (node ${pod.nodeName} has no ${config.addressType})`,
      );
    });
}

export function explainLive(view: LiveView, defaults: RawConfig): LiveExplanation {
  const { called, optIn } = optInOf(view);
  const release = view.objects.filter((o) =>
    ['StatefulSet', 'Service', 'ConfigMap'].includes(kindOf(o) ?? ''),
  );
  const results = mutateRelease(release, { defaults, namespaceAnnotations: view.namespace.annotations });
  const objects: LiveObject[] = [];
  release.forEach((object, i) => {
    const kind = kindOf(object);
    if (kind !== 'StatefulSet' && kind !== 'Service') return;
    const result = results[i] as MutationResult;
    const k = object as KubeObject;
    const status = parseStatus(k);
    const brokers = kind === 'StatefulSet' && status ? brokersOf(k, status, view, defaults) : undefined;
    const bootstrap = brokers?.flatMap((b) =>
      b.advertised ? [b.advertised.replace(/^[^:]*:\/\//, '')] : [],
    );
    objects.push({
      kind,
      name: k.metadata?.name ?? '?',
      mutated: status !== undefined,
      ...(status ? { status } : {}),
      decision: result.decision,
      reason: result.reason,
      message: result.message,
      pendingChanges: result.patch.map((op) => op.path),
      ...(brokers ? { brokers } : {}),
      ...(bootstrap && bootstrap.length > 0 ? { bootstrap } : {}),
    });
  });
  const grant = grantOf(view, called);
  return { namespace: view.namespace.name, optIn, called, ...(grant ? { grant } : {}), objects };
}

export function formatLiveExplanation(e: LiveExplanation): string {
  const lines = [e.optIn];
  if (e.grant) lines.push(e.grant.message, ...(e.grant.command ? [`  ${e.grant.command}`] : []));
  for (const o of e.objects) {
    const head = `${o.kind} ${e.namespace}/${o.name}: ${o.mutated ? 'mutated' : 'not mutated'}`;
    if (o.mutated) {
      const s = o.status ?? {};
      const facts = ['family', 'listener', 'nodePort', 'addressType']
        .filter((key) => s[key] !== undefined)
        .map((key) => `${key} ${String(s[key])}`);
      lines.push(`${head} (${facts.join(', ')})`);
    } else {
      lines.push(head);
    }
    if (!e.called && !o.mutated) lines.push(`  the webhook is not called: ${e.optIn}`);
    else if (o.pendingChanges.length === 0) {
      lines.push(
        `  now: ${o.decision} (${o.reason}): ${o.message}${o.mutated ? '; admitting it again changes nothing' : ''}`,
      );
    } else {
      lines.push(
        `  now: ${o.decision} (${o.reason}): ${o.message}; the next admission (helm upgrade, kubectl apply) changes ${o.pendingChanges.join(', ')}`,
      );
    }
    for (const b of o.brokers ?? []) {
      lines.push(
        `  pod ${b.pod} on ${b.node ?? '(no node)'}: ${b.advertised ?? 'advertises nothing yet'} [${b.source}]`,
      );
    }
    if (o.bootstrap) lines.push(`  bootstrap: ${o.bootstrap.join(',')}`);
  }
  return lines.join('\n');
}
