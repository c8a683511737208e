/**
 * The ConfigMaps of a release, by name: the scripts and configuration files its pods mount. A
 * StatefulSet says only which ConfigMap a volume holds; what the broker runs is in the ConfigMap.
 * `mutate` and the webhook's release view (Helm's record, or the namespace) supply them.
 */
import { isRecord, type Volume, type VolumeMount } from './kubeTypes.ts';

export type ConfigMaps = ReadonlyMap<string, Readonly<Record<string, string>>>;

export const NO_CONFIG_MAPS: ConfigMaps = new Map();

export function configMapsOf(objects: unknown[]): ConfigMaps {
  const found = new Map<string, Record<string, string>>();
  for (const object of objects) {
    if (!isRecord(object) || object.kind !== 'ConfigMap' || !isRecord(object.metadata)) continue;
    const { name } = object.metadata;
    if (typeof name !== 'string' || !isRecord(object.data)) continue;
    const data: Record<string, string> = {};
    for (const [key, value] of Object.entries(object.data)) if (typeof value === 'string') data[key] = value;
    found.set(name, data);
  }
  return found;
}

/** `path` relative to what `mount` mounts: the mounted file itself (`subPath`), or inside its directory. */
function relativeTo(mount: VolumeMount, path: string): string | undefined {
  const base = mount.mountPath.replace(/\/+$/, '');
  if (mount.subPath) return path === base ? mount.subPath : undefined;
  return path.startsWith(`${base}/`) ? path.slice(base.length + 1) : undefined;
}

/** A file of a ConfigMap volume: its key in the ConfigMap and its path inside the volume. */
export interface ConfigMapFile {
  key: string;
  path: string;
}

/**
 * The ConfigMap file a container path names, through `mount` of `volume`, if it names one. A
 * volume with `items` holds only those keys, each at its path (which may be nested, as a KRaft
 * `kraft/broker.properties`); without, every key is a file of its own name at the top.
 */
export function configMapFileAt(
  mount: VolumeMount,
  volume: Volume | undefined,
  path: string,
): ConfigMapFile | undefined {
  const relative = relativeTo(mount, path);
  if (relative === undefined) return undefined;
  const items = volume?.configMap?.items;
  if (items) {
    const wanted = relative.replace(/^\.\//, '');
    return items.find((item) => item.path.replace(/^\.\//, '') === wanted);
  }
  // A ConfigMap's keys are flat: a nested path is not one of them.
  return relative.includes('/') ? undefined : { key: relative, path: relative };
}
