/** `explain`: per object, the decision, its reason, the patch and each broker's advertised listener. */
import { formatAddress } from '../core/advertisedListeners.ts';
import { STATUS_ANNOTATION } from '../core/config.ts';
import { isRecord, type KubeObject } from '../core/kubeTypes.ts';
import { applyResult, type ManifestDocument } from './manifests.ts';

export interface BrokerEndpoint {
  ordinal: number;
  hostIP: string;
  advertised: string;
}

export interface Explanation {
  kind: string;
  namespace?: string;
  name: string;
  decision: string;
  reason: string;
  message: string;
  changes: string[];
  patch: ManifestDocument['result']['patch'];
  brokers?: BrokerEndpoint[];
}

/** The address settings the mutated object records in its status annotation. */
function recordedAddressing(document: ManifestDocument): {
  addressType: string;
  hosts: Record<string, string>;
} {
  const mutated = applyResult(document);
  const text =
    isRecord(mutated) && isRecord(mutated.metadata) && isRecord(mutated.metadata.annotations)
      ? mutated.metadata.annotations[STATUS_ANNOTATION]
      : undefined;
  const status: unknown = typeof text === 'string' ? JSON.parse(text) : {};
  const record = isRecord(status) ? status : {};
  return {
    addressType: typeof record.addressType === 'string' ? record.addressType : 'InternalIP',
    hosts: isRecord(record.advertisedHosts) ? (record.advertisedHosts as Record<string, string>) : {},
  };
}

/**
 * What broker `ordinal` advertises once it starts: its override, else its node's address of the
 * recorded type (`--host-ip` gives the nodes' addresses; without it a placeholder says which).
 */
export function brokerEndpoints(document: ManifestDocument, hostIPs: string[]): BrokerEndpoint[] | undefined {
  const exposure = document.result.exposure;
  if (!exposure || !isRecord(document.object) || !isRecord(document.object.spec)) return undefined;
  const replicas = typeof document.object.spec.replicas === 'number' ? document.object.spec.replicas : 1;
  const port = exposure.advertised.slice(exposure.advertised.lastIndexOf(':') + 1);
  const { addressType, hosts } = recordedAddressing(document);
  const nodeAddress = addressType === 'InternalIP' ? 'hostIP' : `${addressType} of the node`;
  return Array.from({ length: replicas }, (_, ordinal) => {
    const hostIP = hosts[String(ordinal)] ?? hostIPs[ordinal] ?? `<${nodeAddress} of pod ${String(ordinal)}>`;
    return { ordinal, hostIP, advertised: `${exposure.listener}://${formatAddress(hostIP, port)}` };
  });
}

export function explain(documents: ManifestDocument[], hostIPs: string[]): Explanation[] {
  return documents
    .filter((d) => isRecord(d.object))
    .map((d) => {
      const object = d.object as KubeObject;
      const brokers = brokerEndpoints(d, hostIPs);
      return {
        kind: object.kind ?? '?',
        ...(object.metadata?.namespace ? { namespace: object.metadata.namespace } : {}),
        name: object.metadata?.name ?? '?',
        decision: d.result.decision,
        reason: d.result.reason,
        message: d.result.message,
        changes: d.result.changes,
        patch: d.result.patch,
        ...(brokers ? { brokers } : {}),
      };
    });
}

export function formatExplanations(explanations: Explanation[]): string {
  return explanations
    .map((e) => {
      const lines = [
        `${e.kind} ${e.namespace ? `${e.namespace}/` : ''}${e.name}: ${e.decision} (${e.reason})`,
        `  ${e.message}`,
      ];
      for (const b of e.brokers ?? [])
        lines.push(`  broker ${String(b.ordinal)} on ${b.hostIP}: ${b.advertised}`);
      for (const op of e.patch) {
        lines.push(`  ${op.op} ${op.path}${'value' in op ? ` ${JSON.stringify(op.value)}` : ''}`);
      }
      return lines.join('\n');
    })
    .join('\n\n');
}
