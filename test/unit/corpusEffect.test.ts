/**
 * SPEC §3–4 on every render in ../shared/charts-rendered: judged by effect. Each broker pod is
 * started in simulation before and after mutation; the exposed listener must advertise
 * `<its hostIP>:<node-port>`, unique across brokers, every other listener unchanged, the client
 * Service must route the nodePort to that listener's bind port, and placement must pin one broker
 * per labelled node.
 */
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { mutateManifests, renderManifests } from '../../src/cli/manifests.ts';
import type { Service, StatefulSet } from '../../src/core/kubeTypes.ts';
import { corpusMissing, renderedCharts } from '../support/corpus.ts';
import { startBroker } from '../support/containerStart.ts';

const NODE_PORT = 31980;
const options = { defaults: { 'node-selector': 'runapp=kafka' }, namespaceAnnotations: {} };

interface Entry {
  name: string;
  address: string;
}

/** Independent of the core's parser: after the shell has run, entries hold no nested commas. */
function entries(list: string): Entry[] {
  return list
    .split(',')
    .filter((e) => e !== '')
    .map((e) => {
      const [name = '', address = ''] = e.split('://');
      return { name, address };
    });
}

function port(address: string): number {
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

const missing = corpusMissing();
if (missing) t.test('chart corpus', { skip: missing }, (t) => t.end());

for (const chart of renderedCharts()) {
  t.test(
    `${chart.name}: every broker advertises <its hostIP>:${String(NODE_PORT)} and is reachable through the client Service`,
    (t) => {
      const documents = mutateManifests(chart.text, options);
      const output = renderManifests(documents);
      const mutated = parseAllDocuments(output).map((d) => d.toJS() as unknown);
      t.equal(mutated.length, chart.objects.length, 'mutate keeps every document');

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
      if (chart.name.includes('extNodePort')) {
        t.equal(exposed.length, 0, "the chart's own externalAccess is left alone");
        for (const p of stsPairs.filter((p) => p.result.decision !== 'skipped'))
          t.equal(p.result.reason, 'already-exposed');
        t.equal(output, chart.text, 'output is the input, byte for byte');
        t.end();
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
          };
          const before = startBroker(chart.objects, original, ordinal, facts);
          const started = startBroker(mutated, after, ordinal, facts);
          const advertised = entries(started.advertised);
          const outside = advertised.filter((e) => e.address === `${facts.hostIP}:${String(NODE_PORT)}`);
          t.equal(
            outside.length,
            1,
            `broker ${String(ordinal)} advertises ${facts.hostIP}:${String(NODE_PORT)} on exactly one listener: ${started.advertised}`,
          );
          const name = outside[0]?.name ?? '';
          endpoints.add(outside[0]?.address ?? '');
          t.same(
            advertised.filter((e) => e.name !== name),
            entries(before.advertised).filter((e) => e.name !== name),
            `broker ${String(ordinal)}: every other listener unchanged`,
          );

          const bound = entries(started.listeners).find((e) => e.name === name);
          t.ok(bound, `listener ${name} is bound: ${started.listeners}`);
          const bindPort = port(bound?.address ?? '');
          const labels = after.spec.template.metadata?.labels ?? {};
          const services = kind<Service>(mutated, 'Service').filter(
            (s) => selects(s.spec.selector, labels) && s.spec.ports?.some((p) => p.nodePort === NODE_PORT),
          );
          t.equal(services.length, 1, 'one client Service opens the nodePort');
          const service = services[0];
          const servicePort = service?.spec.ports?.find((p) => p.nodePort === NODE_PORT);
          const target = servicePort?.targetPort ?? servicePort?.port;
          const namedPorts = after.spec.template.spec.containers.flatMap((c) => c.ports ?? []);
          const targetNumber =
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
              term.topologyKey === 'kubernetes.io/hostname' &&
              selects(term.labelSelector?.matchLabels, labels),
          ),
          'required anti-affinity on kubernetes.io/hostname selects the brokers themselves',
        );
      }
      t.end();
    },
  );

  t.test(`${chart.name}: a second mutate pass changes nothing`, (t) => {
    const once = renderManifests(mutateManifests(chart.text, options));
    const twice = mutateManifests(once, options);
    t.same(
      twice.flatMap((d) => d.result.patch),
      [],
      'empty patch on every object',
    );
    t.equal(renderManifests(twice), once, 'byte-for-byte the same output');
    t.end();
  });
}
