/**
 * SPEC §3–4 judged by effect, on one rendered release. Each broker pod is started in simulation
 * (test/support/containerStart.ts) before and after `mutate`; the exposed listener must advertise
 * `<its hostIP>:<node-port>`, unique across brokers, every other listener unchanged, the client
 * Service must route the nodePort to that listener's bind port, and placement must pin one broker
 * per labelled node. Shared by the corpus test and the chart-variant test.
 */
import type { Test } from 'tap';
import { parseAllDocuments } from 'yaml';
import { mutateManifests, renderManifests } from '../../src/cli/manifests.ts';
import type { ContainerPort, Service, StatefulSet } from '../../src/core/kubeTypes.ts';
import { startBroker } from './containerStart.ts';

export const NODE_PORT = 31980;
export const MUTATE_OPTIONS = { defaults: { 'node-selector': 'runapp=kafka' }, namespaceAnnotations: {} };

/**
 * Which address each broker should advertise. By default its pod's hostIP; with other settings,
 * the host the test expects on broker `ordinal`'s node, given the node-address ConfigMap the pods
 * mount (written here by hand, in the documented format, not by the core).
 */
export interface Addressing {
  settings: Record<string, string>;
  extraObjects: unknown[];
  nodeName(ordinal: number): string;
  expectedHost(ordinal: number, hostIP: string): string;
}

export const HOST_IP_ADDRESSING: Addressing = {
  settings: {},
  extraObjects: [],
  nodeName: (ordinal) => `node-${String(ordinal)}`,
  expectedHost: (_ordinal, hostIP) => hostIP,
};

export interface ListenerEntry {
  name: string;
  address: string;
}

/** Independent of the core's parser: after the shell has run, entries hold no nested commas. */
export function listenerEntries(list: string): ListenerEntry[] {
  return list
    .split(',')
    .filter((e) => e !== '')
    .map((e) => {
      const [name = '', address = ''] = e.split('://');
      return { name, address };
    });
}

export function addressPort(address: string): number {
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

function kind<T>(objects: unknown[], k: string): T[] {
  return objects.filter((o) => (o as { kind?: string } | null)?.kind === k) as T[];
}

function selects(
  selector: Record<string, string> | null | undefined,
  labels: Record<string, string>,
): boolean {
  return (
    selector !== undefined && selector !== null && Object.entries(selector).every(([k, v]) => labels[k] === v)
  );
}

/**
 * `exposed`: at least one broker StatefulSet is exposed and works from outside;
 * `already-exposed`: the chart's own per-broker external access is left alone, byte for byte.
 */
export function checkExposureEffect(
  t: Test,
  text: string,
  objects: unknown[],
  expect: 'exposed' | 'already-exposed',
  addressing: Addressing = HOST_IP_ADDRESSING,
): void {
  const options = { ...MUTATE_OPTIONS, defaults: { ...MUTATE_OPTIONS.defaults, ...addressing.settings } };
  const documents = mutateManifests(text, options);
  const output = renderManifests(documents);
  const mutated = parseAllDocuments(output, { version: '1.1' }).map((d) => d.toJS() as unknown);
  t.equal(mutated.length, objects.length, 'mutate keeps every document');

  const stsPairs = documents
    .filter((d) => (d.object as { kind?: string } | null)?.kind === 'StatefulSet')
    .map(({ object, result }) => {
      const original = object as StatefulSet;
      const after = kind<StatefulSet>(mutated, 'StatefulSet').find(
        (s) => s.metadata?.name === original.metadata?.name,
      );
      return { original, after, result };
    });
  const exposed = stsPairs.filter((p) => p.result.decision === 'mutated');
  if (expect === 'already-exposed') {
    t.equal(exposed.length, 0, "the chart's own externalAccess is left alone");
    for (const p of stsPairs.filter((p) => p.result.decision !== 'skipped'))
      t.equal(p.result.reason, 'already-exposed');
    t.equal(output, text, 'output is the input, byte for byte');
    return;
  }
  t.ok(exposed.length > 0, 'at least one broker StatefulSet is exposed');

  for (const { original, after } of exposed) {
    if (!after) throw new Error('StatefulSet lost');
    const replicas = original.spec.replicas ?? 1;
    const endpoints = new Set<string>();
    for (let ordinal = 0; ordinal < replicas; ordinal++) {
      const facts = {
        namespace: 'kafka',
        hostIP: `198.51.100.${String(10 + ordinal)}`,
        podIP: `10.244.${String(ordinal)}.7`,
        nodeName: addressing.nodeName(ordinal),
      };
      const before = startBroker(objects, original, ordinal, facts);
      const started = startBroker([...mutated, ...addressing.extraObjects], after, ordinal, facts);
      const advertised = listenerEntries(started.advertised);
      const wanted = `${addressing.expectedHost(ordinal, facts.hostIP)}:${String(NODE_PORT)}`;
      const outside = advertised.filter((e) => e.address === wanted);
      t.equal(
        outside.length,
        1,
        `broker ${String(ordinal)} advertises ${wanted} on exactly one listener: ${started.advertised}`,
      );
      const name = outside[0]?.name ?? '';
      endpoints.add(outside[0]?.address ?? '');
      t.same(
        advertised.filter((e) => e.name !== name),
        listenerEntries(before.advertised).filter((e) => e.name !== name),
        `broker ${String(ordinal)}: every other listener unchanged`,
      );

      const bound = listenerEntries(started.listeners).find((e) => e.name === name);
      t.ok(bound, `listener ${name} is bound: ${started.listeners}`);
      const bindPort = addressPort(bound?.address ?? '');
      const labels: Record<string, string> = after.spec.template.metadata?.labels ?? {};
      const services: Service[] = kind<Service>(mutated, 'Service').filter(
        (s) => selects(s.spec.selector, labels) && s.spec.ports?.some((p) => p.nodePort === NODE_PORT),
      );
      t.equal(services.length, 1, 'one client Service opens the nodePort');
      const service = services[0];
      const servicePort = service?.spec.ports?.find((p) => p.nodePort === NODE_PORT);
      const target = servicePort?.targetPort ?? servicePort?.port;
      const namedPorts: ContainerPort[] = after.spec.template.spec.containers.flatMap((c) => c.ports ?? []);
      const targetNumber: number | undefined =
        typeof target === 'string' ? namedPorts.find((p) => p.name === target)?.containerPort : target;
      t.equal(targetNumber, bindPort, `the Service routes ${String(NODE_PORT)} to ${name}'s bind port`);
      t.equal(service?.spec.type, 'NodePort');
      t.equal(service?.spec.externalTrafficPolicy, 'Local', 'no second hop to another node');
    }
    t.equal(endpoints.size, replicas, 'advertised endpoints are unique across brokers');

    const podSpec = after.spec.template.spec;
    t.equal(podSpec.nodeSelector?.runapp, 'kafka', 'nodeSelector merged');
    const terms = podSpec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
    const labels = after.spec.template.metadata?.labels ?? {};
    t.ok(
      terms.some(
        (term) =>
          term.topologyKey === 'kubernetes.io/hostname' && selects(term.labelSelector?.matchLabels, labels),
      ),
      'required anti-affinity on kubernetes.io/hostname selects the brokers themselves',
    );
  }
}

/** A second `mutate` pass over the output changes nothing. */
export function checkSecondPassIsEmpty(t: Test, text: string, settings: Record<string, string> = {}): void {
  const options = { ...MUTATE_OPTIONS, defaults: { ...MUTATE_OPTIONS.defaults, ...settings } };
  const once = renderManifests(mutateManifests(text, options));
  const twice = mutateManifests(once, options);
  t.same(
    twice.flatMap((d) => d.result.patch),
    [],
    'empty patch on every object',
  );
  t.equal(renderManifests(twice), once, 'byte-for-byte the same output');
}
