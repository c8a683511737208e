/**
 * The webhook's path to the brokers: a real control plane whose kwok nodes carry the lab nodes'
 * addresses, the shipped webhook configuration and `serve`, and a real `helm install` into an
 * opted-in namespace. What comes back is what the API server stored and where the real scheduler
 * put each broker pod: the proof then runs Kafka from exactly that, not from `mutate`'s output.
 */
import { startCluster } from '../e2e/cluster.ts';
import { waitForBrokerPods } from '../e2e/brokerChecks.ts';
import { getObject, listObjects } from '../e2e/storedObjects.ts';
import { NODE_ADDRESS_MAP } from '../../src/core/nodeAddresses.ts';

export const ADDRESS_TYPE_ANNOTATION = 'kafka-nodeport-injector/address-type';
import {
  INJECT_LABEL,
  NODE_SELECTOR_ANNOTATION,
  createNamespace,
  registerWebhook,
  startWebhook,
} from '../e2e/webhookCluster.ts';
import { ensureBuilt } from '../e2e/webhookProcess.ts';
import type { K8sObject } from './chart.ts';
import type { LabHost } from './lab.ts';

export interface StoredRelease {
  /** StatefulSets, Services and ConfigMaps of the namespace as the API server stored them. */
  objects: K8sObject[];
  /** Each broker pod's node, as the scheduler bound it, and the hostIP kwok reported. */
  placements: { pod: string; node: string; hostIP: string }[];
  /** One line per admission of the release, for the log. */
  admissions: string[];
}

export interface InstallOptions {
  namespace: string;
  release: string;
  chartDir: string;
  helmArgs: string[];
  brokers: { name: string; replicas: number }[];
  nodeSelector: string;
  /** More `kafka-nodeport-injector/*` annotations on the namespace (address-type, …). */
  namespaceAnnotations?: Record<string, string>;
}

export async function installThroughWebhook(nodes: LabHost[], o: InstallOptions): Promise<StoredRelease> {
  await ensureBuilt();
  const cluster = await startCluster({
    nodes: nodes.map((n) => ({
      name: n.name,
      internalIP: n.ip,
      ...(n.externalIP ? { externalIP: n.externalIP } : {}),
      labels: n.labels,
    })),
    log: () => undefined,
  });
  let stopWebhook: (() => Promise<void>) | undefined;
  try {
    const { webhook, caPem } = await startWebhook(cluster);
    stopWebhook = () => webhook.stop();
    await registerWebhook(cluster, webhook, caPem);
    await createNamespace(cluster, o.namespace, INJECT_LABEL, {
      [NODE_SELECTOR_ANNOTATION]: o.nodeSelector,
      ...o.namespaceAnnotations,
    });
    const from = webhook.audit.length;
    await cluster.helmOk(['install', o.release, o.chartDir, '-n', o.namespace, ...o.helmArgs], {
      timeoutMs: 180_000,
    });
    const pods = await waitForBrokerPods(cluster, o.namespace, o.brokers);
    if (o.namespaceAnnotations?.[ADDRESS_TYPE_ANNOTATION] !== undefined) {
      // The webhook writes the node-address map when the namespace opts in; the pods read it.
      for (
        let tries = 0;
        !(await getObject(cluster, 'v1', 'ConfigMap', o.namespace, NODE_ADDRESS_MAP));
        tries++
      ) {
        if (tries > 200) throw new Error(`no ConfigMap ${NODE_ADDRESS_MAP} in ${o.namespace}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const objects: K8sObject[] = [];
    for (const [apiVersion, kind] of [
      ['apps/v1', 'StatefulSet'],
      ['v1', 'Service'],
      ['v1', 'ConfigMap'],
    ] as const) {
      objects.push(...((await listObjects(cluster, apiVersion, kind, o.namespace)) as K8sObject[]));
    }
    const admissions = webhook
      .since(from)
      .filter((a) => a.namespace === o.namespace)
      .map((a) => `${a.operation} ${a.kind} ${a.name}: ${a.decision} ${a.reason}`);
    return {
      objects,
      placements: pods.map((p) => ({ pod: p.name, node: p.nodeName, hostIP: p.hostIP })),
      admissions,
    };
  } finally {
    await stopWebhook?.();
    await cluster.stop();
  }
}
