/**
 * The slices of Kubernetes objects the mutation core reads. Everything is optional because the
 * core must cope with whatever an AdmissionReview carries: a field the API server would default
 * may be absent, and a malformed object must be admitted unchanged rather than crash us.
 */

export interface ObjectMeta {
  name?: string | null;
  generateName?: string;
  namespace?: string | null;
  labels?: Record<string, string> | null;
  annotations?: Record<string, string> | null;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

export interface EnvVar {
  name: string;
  value?: string | null;
  valueFrom?: {
    fieldRef?: { apiVersion?: string; fieldPath: string };
    secretKeyRef?: { name?: string; key: string };
    configMapKeyRef?: { name?: string; key: string };
    resourceFieldRef?: { resource: string };
  };
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}

export interface VolumeMount {
  name: string;
  mountPath: string;
  subPath?: string | null;
  readOnly?: boolean;
}

export interface Container {
  name: string;
  image?: string | null;
  imagePullPolicy?: string;
  command?: string[] | null;
  args?: string[] | null;
  env?: EnvVar[] | null;
  ports?: ContainerPort[] | null;
  volumeMounts?: VolumeMount[] | null;
  securityContext?: Record<string, unknown>;
  resources?: Record<string, unknown>;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export interface PodAffinityTerm {
  labelSelector?: LabelSelector;
  topologyKey: string;
  namespaces?: string[];
}

export interface Affinity {
  podAntiAffinity?: {
    requiredDuringSchedulingIgnoredDuringExecution?: PodAffinityTerm[] | null;
    preferredDuringSchedulingIgnoredDuringExecution?:
      { weight: number; podAffinityTerm: PodAffinityTerm }[] | null;
  } | null;
  [other: string]: unknown;
}

export interface Volume {
  name: string;
  emptyDir?: Record<string, unknown>;
  /** `items` projects chosen keys to paths (possibly nested); without it every key is a file of its name. */
  configMap?: { name?: string | null; items?: { key: string; path: string }[] | null } | null;
  [source: string]: unknown;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[] | null;
  nodeSelector?: Record<string, string> | null;
  affinity?: Affinity | null;
  volumes?: Volume[] | null;
}

export interface StatefulSet extends KubeObject {
  kind: 'StatefulSet';
  spec: {
    replicas?: number;
    serviceName?: string;
    selector?: LabelSelector;
    template: { metadata?: ObjectMeta; spec: PodSpec };
  };
}

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  nodePort?: number | null;
  protocol?: string;
}

export interface Service extends KubeObject {
  kind: 'Service';
  spec: {
    type?: string | null;
    clusterIP?: string | null;
    externalTrafficPolicy?: string | null;
    selector?: Record<string, string> | null;
    ports?: ServicePort[] | null;
  };
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * `value` when it is a string, else `fallback`: for naming objects not yet shape-checked, whose
 * fields may be any JSON value, even `{"toString": {}}`, which a template literal would throw on.
 */
export function stringOr(value: unknown, fallback = ''): string {
  return typeof value === 'string' ? value : fallback;
}

/** A Service selector (or a matchLabels) selects pods whose labels hold every one of its pairs. */
export function selectsLabels(selector: Record<string, unknown>, labels: Record<string, unknown>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}
