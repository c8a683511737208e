/**
 * The bench's inputs, read at run time from ../shared/charts-rendered (never copied here): the four
 * AdmissionReviews of the HTTP request mix, and the scaled StatefulSets of the core micro-benchmark.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastJsonPatch from 'fast-json-patch';
import { parseAllDocuments } from 'yaml';
import { mutateObject } from '../src/core/mutateObject.ts';

export const SHARED_DIR =
  process.env.SHARED_DIR ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../shared');
export const RENDERED_DIR = join(SHARED_DIR, 'charts-rendered');

/** The seed: bitnami/kafka 12.9.5 with `replicaCount=3` (env family, ZooKeeper mode). */
export const SEED_RENDER = 'bitnami-kafka-12.9.5_replicas3.yaml';
/** bitnami/kafka 32.4.4 defaults (init-rendered file family, KRaft). */
export const KRAFT_RENDER = 'bitnami-kafka-32.4.4.default.yaml';

export type JsonObject = Record<string, unknown>;

interface Named {
  kind?: unknown;
  metadata?: { name?: unknown };
}

/** Why the bench cannot run, said once and clearly, or the objects of one render. */
export function readRender(file: string): JsonObject[] {
  const path = join(RENDERED_DIR, file);
  if (!existsSync(path)) {
    throw new Error(
      `chart render ${path} not found: the bench reads ../shared/charts-rendered beside this repository (SHARED_DIR=/path overrides it)`,
    );
  }
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((d) => d.toJS() as unknown)
    .filter((o): o is JsonObject => typeof o === 'object' && o !== null && !Array.isArray(o));
}

export function pick(objects: JsonObject[], kind: string, name: string, file: string): JsonObject {
  const found = objects.find((o) => {
    const named = o as Named;
    return named.kind === kind && named.metadata?.name === name;
  });
  if (!found) throw new Error(`${file}: no ${kind} ${name}`);
  return found;
}

/** The object as the webhook's own core would leave it: what the cluster holds after admission. */
export function mutatedCopy(object: JsonObject): JsonObject {
  const result = mutateObject({ object, defaults: {}, namespaceAnnotations: {} });
  if (result.patch.length === 0) return structuredClone(object);
  return fastJsonPatch.applyPatch(structuredClone(object), result.patch, true, false).newDocument;
}

export interface Scenario {
  /** Short, stable key used in results. */
  key: string;
  title: string;
  /** The decision the webhook must answer with (checked once per server before load). */
  expectedDecision: 'mutated' | 'skipped';
  /** The AdmissionReview, serialised once; the load generator sends these bytes unchanged. */
  body: string;
  uid: string;
}

function review(
  key: string,
  object: JsonObject,
  operation: 'CREATE' | 'UPDATE',
  oldObject?: JsonObject,
): { uid: string; body: string } {
  const named = object as Named;
  const kind = typeof named.kind === 'string' ? named.kind : '';
  const name = typeof named.metadata?.name === 'string' ? named.metadata.name : '';
  const uid = `bench-${key}-00000000-0000-4000-8000-000000000000`;
  const body = JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: kind === 'StatefulSet' ? 'apps' : '', version: 'v1', kind },
      resource: {
        group: kind === 'StatefulSet' ? 'apps' : '',
        version: 'v1',
        resource: `${kind.toLowerCase()}s`,
      },
      requestKind: { group: kind === 'StatefulSet' ? 'apps' : '', version: 'v1', kind },
      name,
      // An opted-in namespace: the API server's namespaceSelector already let the request through.
      namespace: 'kafka',
      operation,
      userInfo: { username: 'system:serviceaccount:kube-system:helm', groups: ['system:serviceaccounts'] },
      object,
      ...(oldObject ? { oldObject } : {}),
      dryRun: false,
      options: {
        apiVersion: 'meta.k8s.io/v1',
        kind: operation === 'CREATE' ? 'CreateOptions' : 'UpdateOptions',
      },
    },
  });
  return { uid, body };
}

/** The four requests of the mix (issue 6 §2), in the order the combined scenario cycles them. */
export function admissionScenarios(): Scenario[] {
  const seed = readRender(SEED_RENDER);
  const kraft = readRender(KRAFT_RENDER);
  const seedSts = pick(seed, 'StatefulSet', 'my-kafka', SEED_RENDER);
  const controller = pick(kraft, 'StatefulSet', 'my-kafka-controller', KRAFT_RENDER);
  const clientService = pick(seed, 'Service', 'my-kafka', SEED_RENDER);
  const zookeeper = pick(seed, 'StatefulSet', 'my-kafka-zookeeper', SEED_RENDER);
  return [
    {
      key: 'stsCreate',
      title: 'seed Kafka StatefulSet, CREATE (bitnami 12.9.5 replicas=3)',
      expectedDecision: 'mutated',
      ...review('stsCreate', seedSts, 'CREATE'),
    },
    {
      // helm upgrade: the new render arrives as `object`; the cluster's copy, already mutated, as
      // `oldObject`.
      key: 'stsUpdate',
      title: 'controller StatefulSet, UPDATE with oldObject (bitnami 32.4.4)',
      expectedDecision: 'mutated',
      ...review('stsUpdate', controller, 'UPDATE', mutatedCopy(controller)),
    },
    {
      key: 'svcCreate',
      title: 'client Service my-kafka, CREATE (bitnami 12.9.5)',
      expectedDecision: 'mutated',
      ...review('svcCreate', clientService, 'CREATE'),
    },
    {
      key: 'otherSts',
      title: 'ZooKeeper StatefulSet in the opted-in namespace (not Kafka)',
      expectedDecision: 'skipped',
      ...review('otherSts', zookeeper, 'CREATE'),
    },
  ];
}

/** The seed's Kafka StatefulSet, for the core micro-benchmark. */
export function seedStatefulSet(): JsonObject {
  return pick(readRender(SEED_RENDER), 'StatefulSet', 'my-kafka', SEED_RENDER);
}

interface SeedShape {
  spec: { template: { spec: { containers: JsonObject[] } } };
}

function containersOf(sts: JsonObject): JsonObject[] {
  return (sts as unknown as SeedShape).spec.template.spec.containers;
}

export interface ScaledObject {
  key: string;
  series: 'containers' | 'env';
  containers: number;
  envEntries: number;
  object: JsonObject;
  json: string;
}

function scaled(key: string, series: ScaledObject['series'], object: JsonObject): ScaledObject {
  const containers = containersOf(object);
  const envEntries = containers.reduce((n, c) => n + (Array.isArray(c.env) ? c.env.length : 0), 0);
  return { key, series, containers: containers.length, envEntries, object, json: JSON.stringify(object) };
}

/**
 * Objects of growing size, made from the seed StatefulSet:
 * - `containers`: 1, 10, 60 containers — the seed's broker first, then copies of it renamed
 *   `sidecar-N`, each keeping its first 9 env entries (so 60 containers hold 565 env entries). 60,
 *   not 100: the core reads at most 64 containers (SPEC §6) and admits a larger pod unchanged, so
 *   100 containers measured the limit check, not the mutation;
 * - `env`: the broker alone with 100 and 1,000 env entries — generated `KAFKA_CFG_EXTRA_N` entries
 *   appended after the chart's own, where bitnami's `extraEnvVars` go.
 */
export function scaledStatefulSets(seed: JsonObject = seedStatefulSet()): ScaledObject[] {
  const withContainers = (n: number): JsonObject => {
    const sts = structuredClone(seed);
    const [broker] = containersOf(sts);
    if (!broker) throw new Error('seed StatefulSet has no container');
    const list = containersOf(sts);
    for (let i = 1; i < n; i += 1) {
      const copy = structuredClone(broker);
      copy.name = `sidecar-${i}`;
      copy.env = Array.isArray(broker.env) ? (broker.env as unknown[]).slice(0, 9) : [];
      list.push(copy);
    }
    return sts;
  };
  const withEnv = (n: number): JsonObject => {
    const sts = structuredClone(seed);
    const [broker] = containersOf(sts);
    if (!broker || !Array.isArray(broker.env)) throw new Error('seed StatefulSet has no env');
    const env = broker.env as unknown[];
    for (let i = env.length; i < n; i += 1) env.push({ name: `KAFKA_CFG_EXTRA_${i}`, value: `value-${i}` });
    return sts;
  };
  return [
    scaled('c1', 'containers', withContainers(1)),
    scaled('c10', 'containers', withContainers(10)),
    scaled('c60', 'containers', withContainers(60)),
    scaled('e100', 'env', withEnv(100)),
    scaled('e1000', 'env', withEnv(1000)),
  ];
}
