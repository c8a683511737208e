/**
 * SPEC §3 idempotence on randomised inputs: admitting an already-mutated object yields an empty
 * patch, whatever the chart, values and configuration; and arbitrary input never makes the core
 * throw.
 */
import fc from 'fast-check';
import fastJsonPatch from 'fast-json-patch';
import t from 'tap';
import { mutateObject } from '../../src/core/mutateObject.ts';
import type { KubeObject, StatefulSet } from '../../src/core/kubeTypes.ts';
import { corpusMissing, renderedCharts } from '../support/corpus.ts';
import { envStatefulSet } from '../support/fixtures.ts';

const DECISIONS = ['mutated', 'unchanged', 'skipped', 'denied', 'error'];

const missing = corpusMissing();
const corpusObjects = renderedCharts()
  .flatMap((c) => c.objects)
  .filter((o): o is KubeObject => ['StatefulSet', 'Service'].includes((o as KubeObject | null)?.kind ?? ''));
const seeds: KubeObject[] = [
  ...corpusObjects,
  envStatefulSet('INTERNAL://$(MY_POD_NAME).h:9093,CLIENT://$(MY_POD_NAME).h:9092,OUTSIDE://1.1.1.1:9094'),
  // Only the inter-broker listener advertised: EXTERNAL is added.
  envStatefulSet('INTERNAL://$(MY_POD_NAME).h:9093'),
];

const config = fc.record(
  {
    'node-port': fc.integer({ min: 30000, max: 32767 }).map(String),
    'node-selector': fc.constantFrom('', 'runapp=kafka', 'runapp=kafka,zone=a'),
    listener: fc.constantFrom('auto', 'CLIENT', 'EXTERNAL', 'OUTSIDE', 'INTERNAL', 'PLAINTEXT'),
    'anti-affinity': fc.constantFrom('required', 'preferred', 'none'),
  },
  { requiredKeys: [] },
);

/** Variations a user's values or another controller could make to a chart's object. */
const variation = fc.record({
  replicas: fc.integer({ min: 1, max: 7 }),
  shuffleEnv: fc.boolean(),
  dropAffinity: fc.boolean(),
  nodeSelector: fc.option(
    fc.dictionary(fc.constantFrom('runapp', 'zone', 'disk'), fc.constantFrom('kafka', 'a', 'ssd')),
  ),
  dropAnnotations: fc.boolean(),
});

type Variation = typeof variation extends fc.Arbitrary<infer V> ? V : never;

function vary(object: KubeObject, v: Variation): KubeObject {
  const copy = structuredClone(object);
  if (v.dropAnnotations && copy.metadata) delete copy.metadata.annotations;
  if (copy.kind !== 'StatefulSet') return copy;
  const sts = copy as StatefulSet;
  sts.spec.replicas = v.replicas;
  const pod = sts.spec.template.spec;
  if (v.dropAffinity) delete pod.affinity;
  if (v.nodeSelector) pod.nodeSelector = v.nodeSelector;
  if (v.shuffleEnv) for (const c of pod.containers) c.env?.reverse();
  return sts;
}

t.test('a second admission of any mutated object yields an empty patch', { skip: missing }, (t) => {
  fc.assert(
    fc.property(fc.constantFrom(...seeds), variation, config, config, (seed, v, flags, namespace) => {
      const object = vary(seed, v);
      const namespaceAnnotations = Object.fromEntries(
        Object.entries(namespace).map(([k, value]) => [`kafka-nodeport-injector/${k}`, value]),
      );
      const first = mutateObject({ object, defaults: flags, namespaceAnnotations });
      if (!DECISIONS.includes(first.decision)) return false;
      if (first.decision === 'error') throw new Error(first.message);
      const mutated = fastJsonPatch.applyPatch(structuredClone(object), first.patch, true, false).newDocument;
      const second = mutateObject({ object: mutated, defaults: flags, namespaceAnnotations });
      if (second.patch.length !== 0) throw new Error(`not idempotent: ${JSON.stringify(second.patch)}`);
      return second.decision !== 'mutated';
    }),
    { numRuns: 400 },
  );
  t.pass('400 randomised objects');
  t.end();
});

t.test('arbitrary input never trips the core: always a decision with a reason', (t) => {
  const kubeish = fc.record(
    {
      kind: fc.constantFrom('StatefulSet', 'Service', 'Pod', 42),
      metadata: fc.anything(),
      spec: fc.oneof(
        fc.anything(),
        fc.record({ template: fc.record({ spec: fc.record({ containers: fc.array(fc.anything()) }) }) }),
        fc.record({ selector: fc.dictionary(fc.string(), fc.string()), ports: fc.array(fc.anything()) }),
      ),
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(fc.oneof(fc.anything(), kubeish), (object) => {
      const result = mutateObject({ object });
      if (result.decision === 'error') throw new Error(`the core tripped over its input: ${result.message}`);
      return DECISIONS.includes(result.decision) && result.reason.length > 0;
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 arbitrary inputs');
  t.end();
});
