// Kubernetes container environment, computed the way the kubelet does it
// (pkg/kubelet/kubelet_pods.go makeEnvironmentVariables + third_party/forked/golang/expansion):
//
//  * envFrom first (ConfigMaps / Secrets given in the facts), then env entries in order;
//  * an entry's `value` is expanded with $(VAR) references to variables defined EARLIER in the same
//    container (envFrom included) — never later ones;
//  * `$$` is an escaped `$`; an unresolved `$(VAR)` is left exactly as written; `$x` (no parenthesis)
//    and an unterminated `$(` are copied as they are;
//  * valueFrom.fieldRef uses the downward API (metadata.name/namespace/uid/labels/annotations,
//    spec.nodeName/serviceAccountName, status.hostIP/hostIPs/podIP/podIPs), configMapKeyRef /
//    secretKeyRef look the key up in the facts; a later entry with the same name wins;
//  * command and args are expanded with the final environment (any order).
// Service-link variables (enableServiceLinks) are not generated: no bitnami KAFKA_CFG_* name can
// come from them for the releases used here.
//
// Pure module: no I/O.

export interface EnvVarSource {
  fieldRef?: { fieldPath: string; apiVersion?: string };
  configMapKeyRef?: { name: string; key: string; optional?: boolean };
  secretKeyRef?: { name: string; key: string; optional?: boolean };
  resourceFieldRef?: { resource: string; containerName?: string };
}

export interface EnvVar {
  name: string;
  value?: string | null;
  valueFrom?: EnvVarSource;
}

export interface EnvFromSource {
  prefix?: string;
  configMapRef?: { name: string; optional?: boolean };
  secretRef?: { name: string; optional?: boolean };
}

export interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
}

/** What the API server / kubelet know about the pod when the container starts. */
export interface PodFacts {
  name: string;
  namespace: string;
  uid?: string;
  nodeName: string;
  hostIP: string;
  podIP: string;
  serviceAccountName?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** ConfigMap name -> data (for configMapKeyRef / envFrom). */
  configMaps?: Record<string, Record<string, string>>;
  /** Secret name -> decoded data (for secretKeyRef / envFrom). */
  secrets?: Record<string, Record<string, string>>;
}

export interface ContainerRuntime {
  /** Final environment, in definition order (a redefined name keeps its first position). */
  env: Map<string, string>;
  command: string[];
  args: string[];
}

/** Kubernetes' $(VAR) expansion (k8s.io/kubernetes/third_party/forked/golang/expansion.Expand). */
export function expand(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  let checkpoint = 0;
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] === '$' && cursor + 1 < input.length) {
      out += input.slice(checkpoint, cursor);
      const rest = input.slice(cursor + 1);
      let advance = 1;
      if (rest[0] === '$') {
        out += '$';
      } else if (rest[0] === '(') {
        const close = rest.indexOf(')', 1);
        if (close === -1) {
          out += '$(';
        } else {
          const name = rest.slice(1, close);
          const value = lookup(name);
          out += value ?? `$(${name})`;
          advance = close + 1;
        }
      } else {
        out += '$' + (rest[0] ?? '');
      }
      cursor += advance;
      checkpoint = cursor + 1;
    }
  }
  return out + input.slice(checkpoint);
}

function fieldRefValue(fieldPath: string, pod: PodFacts): string {
  const labelOrAnnotation = /^metadata\.(labels|annotations)\['([^']+)'\]$/.exec(fieldPath);
  if (labelOrAnnotation) {
    const source = labelOrAnnotation[1] === 'labels' ? pod.labels : pod.annotations;
    return source?.[labelOrAnnotation[2] ?? ''] ?? '';
  }
  switch (fieldPath) {
    case 'metadata.name':
      return pod.name;
    case 'metadata.namespace':
      return pod.namespace;
    case 'metadata.uid':
      return pod.uid ?? `uid-${pod.name}`;
    case 'spec.nodeName':
      return pod.nodeName;
    case 'spec.serviceAccountName':
      return pod.serviceAccountName ?? 'default';
    case 'status.hostIP':
    case 'status.hostIPs':
      return pod.hostIP;
    case 'status.podIP':
    case 'status.podIPs':
      return pod.podIP;
    default:
      throw new Error(`unsupported downward API fieldPath ${fieldPath}`);
  }
}

function keyRef(
  kind: 'ConfigMap' | 'Secret',
  ref: { name: string; key: string; optional?: boolean },
  store: Record<string, Record<string, string>> | undefined,
): string | undefined {
  const value = store?.[ref.name]?.[ref.key];
  if (value === undefined && ref.optional !== true) {
    throw new Error(`${kind} ${ref.name} key ${ref.key} not found (the pod would not start)`);
  }
  return value;
}

/** The container's environment and expanded command/args, as the kubelet would start it. */
export function containerRuntime(container: Container, pod: PodFacts): ContainerRuntime {
  const env = new Map<string, string>();
  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    const ref = from.configMapRef ?? from.secretRef;
    if (!ref) continue;
    const store = from.configMapRef ? pod.configMaps : pod.secrets;
    const data = store?.[ref.name];
    if (!data) {
      if (ref.optional === true) continue;
      throw new Error(`envFrom ${ref.name} not found (the pod would not start)`);
    }
    for (const [k, v] of Object.entries(data)) env.set(prefix + k, v);
  }
  for (const entry of container.env ?? []) {
    let value: string | undefined;
    if (entry.valueFrom) {
      const from = entry.valueFrom;
      if (from.fieldRef) value = fieldRefValue(from.fieldRef.fieldPath, pod);
      else if (from.configMapKeyRef) value = keyRef('ConfigMap', from.configMapKeyRef, pod.configMaps);
      else if (from.secretKeyRef) value = keyRef('Secret', from.secretKeyRef, pod.secrets);
      else if (from.resourceFieldRef) throw new Error(`resourceFieldRef (${entry.name}) is not emulated`);
      if (value === undefined) continue; // optional reference that is absent: variable not set
    } else {
      // Only variables defined so far are visible: `env` is the "defined so far" map.
      value = expand(entry.value ?? '', (name) => env.get(name));
    }
    env.set(entry.name, value);
  }
  const lookup = (name: string): string | undefined => env.get(name);
  return {
    env,
    command: (container.command ?? []).map((c) => expand(c, lookup)),
    args: (container.args ?? []).map((a) => expand(a, lookup)),
  };
}
