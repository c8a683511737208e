/**
 * Downward-API env the rewritten listener refers to (SPEC §3.1). Kubernetes expands `$(VAR)` in
 * an env value only from entries defined earlier in the same list, so placement matters there;
 * in command and args any entry will do.
 */
import type { Container, EnvVar } from './kubeTypes.ts';
import { pointer, type PatchBuilder } from './patchBuilder.ts';

export const HOST_IP_ENV = 'MY_HOST_IP';
export const HOST_IP_REFERENCE = `$(${HOST_IP_ENV})`;

export function hostIpEnvVar(): EnvVar {
  // apiVersion is what the API server would default; writing it keeps stored objects equal to ours.
  return { name: HOST_IP_ENV, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.hostIP' } } };
}

export type EnsureEnvResult = { ok: true } | { ok: false; message: string };

/**
 * Makes `MY_HOST_IP` available to the container at `containerPath`, defined before the env entry
 * at `firstUse` when given (else appended). An existing definition is reused, never duplicated.
 */
export function ensureHostIpEnv<T extends object>(
  builder: PatchBuilder<T>,
  containerPath: (string | number)[],
  container: Container,
  firstUse?: number,
): EnsureEnvResult {
  const env = container.env;
  const existing = env?.findIndex((e) => e.name === HOST_IP_ENV) ?? -1;
  if (existing >= 0) {
    if (firstUse !== undefined && existing > firstUse) {
      return {
        ok: false,
        message: `${HOST_IP_ENV} is defined after its first use in container ${container.name}`,
      };
    }
    return { ok: true };
  }
  if (firstUse === undefined) appendEnvVar(builder, containerPath, container, hostIpEnvVar());
  else builder.add(pointer(...containerPath, 'env', firstUse), hostIpEnvVar());
  return { ok: true };
}

/** Appends one entry to a container's env, creating the list when the chart has none. */
export function appendEnvVar<T extends object>(
  builder: PatchBuilder<T>,
  containerPath: (string | number)[],
  container: Container,
  entry: EnvVar,
): void {
  if (container.env) builder.add(pointer(...containerPath, 'env', '-'), entry);
  else builder.add(pointer(...containerPath, 'env'), [entry]);
}
