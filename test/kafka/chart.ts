// Reading rendered Helm output (multi-document YAML) into the few typed shapes the proof needs.
import { readFileSync } from 'node:fs';
import { parseAllDocuments, stringify } from 'yaml';
import type { LabelSelector, PodAffinityTerm } from '../../src/core/kubeTypes.ts';
import type { Container } from './podEnv.ts';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
}

export type { LabelSelector, PodAffinityTerm } from '../../src/core/kubeTypes.ts';

export interface PodSpec {
  containers: (Container & { ports?: { name?: string; containerPort: number }[] })[];
  initContainers?: Container[];
  nodeSelector?: Record<string, string> | null;
  affinity?: {
    podAntiAffinity?: {
      requiredDuringSchedulingIgnoredDuringExecution?: PodAffinityTerm[] | null;
      preferredDuringSchedulingIgnoredDuringExecution?:
        { weight: number; podAffinityTerm: PodAffinityTerm }[] | null;
    } | null;
  } | null;
  volumes?: { name: string; configMap?: { name: string } }[] | null;
}

export interface StatefulSet extends K8sObject {
  kind: 'StatefulSet';
  spec: {
    replicas?: number;
    serviceName: string;
    podManagementPolicy?: string;
    selector: LabelSelector;
    template: { metadata?: { labels?: Record<string, string> }; spec: PodSpec };
  };
}

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  nodePort?: number | null;
  protocol?: string;
}

export interface Service extends K8sObject {
  kind: 'Service';
  spec: {
    type?: string;
    clusterIP?: string;
    externalTrafficPolicy?: string;
    selector?: Record<string, string>;
    ports?: ServicePort[];
  };
}

export interface ConfigMap extends K8sObject {
  kind: 'ConfigMap';
  data?: Record<string, string>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isK8sObject(v: unknown): v is K8sObject {
  return (
    isObject(v) &&
    typeof v.kind === 'string' &&
    typeof v.apiVersion === 'string' &&
    isObject(v.metadata) &&
    typeof v.metadata.name === 'string'
  );
}

/** YAML 1.2 by default (this test's own reading); '1.1' reads as Kubernetes and Helm do
 * (sigs.k8s.io/yaml: yes/no/on/off are booleans there). */
export function parseManifests(text: string, version: '1.1' | '1.2' = '1.2'): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text, { version })) {
    if (doc.errors.length > 0) throw new Error(`YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (!isK8sObject(value)) throw new Error('YAML document is not a Kubernetes object');
    out.push(value);
  }
  return out;
}

export function loadManifests(path: string): K8sObject[] {
  return parseManifests(readFileSync(path, 'utf8'));
}

export function toYaml(objects: K8sObject[]): string {
  return objects.map((o) => '---\n' + stringify(o)).join('');
}

export function statefulSets(objects: K8sObject[]): StatefulSet[] {
  return objects.filter(
    (o): o is StatefulSet => o.kind === 'StatefulSet' && isObject((o as StatefulSet).spec),
  );
}

export function services(objects: K8sObject[]): Service[] {
  return objects.filter((o): o is Service => o.kind === 'Service');
}

export function configMaps(objects: K8sObject[]): ConfigMap[] {
  return objects.filter((o): o is ConfigMap => o.kind === 'ConfigMap');
}

export function kafkaStatefulSet(objects: K8sObject[]): StatefulSet {
  const found = statefulSets(objects).filter(
    (s) => s.metadata.labels?.['app.kubernetes.io/name'] === 'kafka',
  );
  if (found.length !== 1 || !found[0])
    throw new Error(`expected one kafka StatefulSet, found ${found.length}`);
  return found[0];
}

export function zookeeperStatefulSet(objects: K8sObject[]): StatefulSet | undefined {
  return statefulSets(objects).find((s) => s.metadata.labels?.['app.kubernetes.io/name'] === 'zookeeper');
}

export function kafkaContainer(sts: StatefulSet): PodSpec['containers'][number] {
  const c =
    sts.spec.template.spec.containers.find((x) => x.name === 'kafka') ?? sts.spec.template.spec.containers[0];
  if (!c) throw new Error(`StatefulSet ${sts.metadata.name} has no containers`);
  return c;
}

/** The text of the script the container's command runs, from the ConfigMap volume mounted there. */
export function setupScript(objects: K8sObject[], sts: StatefulSet): string {
  const volumes = sts.spec.template.spec.volumes ?? [];
  const scriptsVolume = volumes.find((v) => v.configMap && /scripts/.test(v.configMap.name));
  const cmName = scriptsVolume?.configMap?.name;
  const cm = configMaps(objects).find((c) => c.metadata.name === cmName);
  const text = cm?.data?.['setup.sh'];
  if (text === undefined) throw new Error(`scripts ConfigMap ${String(cmName)} with setup.sh not found`);
  return text;
}

function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** The release's client Service: selects the kafka pods, not headless. */
export function clientService(objects: K8sObject[], sts: StatefulSet): Service {
  const podLabels = sts.spec.template.metadata?.labels ?? {};
  const found = services(objects).filter(
    (s) =>
      s.spec.clusterIP !== 'None' &&
      selects(s.spec.selector, podLabels) &&
      !/-external$/.test(s.metadata.name),
  );
  if (found.length !== 1 || !found[0]) throw new Error(`expected one client Service, found ${found.length}`);
  return found[0];
}

/** Container port number for a Service targetPort (number or port name). */
export function resolveTargetPort(
  sts: StatefulSet,
  target: number | string | undefined,
  fallback: number,
): number {
  if (target === undefined) return fallback;
  if (typeof target === 'number') return target;
  if (/^\d+$/.test(target)) return Number(target);
  for (const c of sts.spec.template.spec.containers) {
    const p = (c.ports ?? []).find((x) => x.name === target);
    if (p) return p.containerPort;
  }
  throw new Error(`targetPort ${target} matches no container port`);
}

export function cloneObjects<T>(value: T): T {
  return structuredClone(value);
}
