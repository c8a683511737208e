/**
 * The ConfigMaps of a release, by name: the scripts and configuration files its pods mount. A
 * StatefulSet says only which ConfigMap a volume holds; what the broker runs is in the ConfigMap.
 * `mutate` and the webhook's release view (Helm's record, or the namespace) supply them.
 */
import { isRecord, type VolumeMount } from './kubeTypes.ts';

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

/** The key a container path names in the ConfigMap volume mounted by `mount`, if it names one. */
export function keyUnder(mount: VolumeMount, path: string): string | undefined {
  const key = relativeTo(mount, path);
  // A ConfigMap's keys are flat: a nested path is not one of them.
  return key?.includes('/') === true ? undefined : key;
}
