/** CLI flags shared by `mutate`, `explain` and `serve`: SPEC §2 server-level configuration. */
import { Option, type Command } from 'commander';
import { CONFIG_KEYS, parseConfigValue, type ConfigKey, type RawConfig } from '../core/config.ts';

export interface ConfigFlags {
  nodePort?: string;
  nodeSelector?: string;
  listener?: string;
  antiAffinity?: string;
  addressType?: string;
  advertisedHosts?: string;
  listenerPort?: string;
  namespaceAnnotations?: string[];
}

const FLAG_OF: Record<ConfigKey, keyof ConfigFlags> = {
  'node-port': 'nodePort',
  'node-selector': 'nodeSelector',
  listener: 'listener',
  'anti-affinity': 'antiAffinity',
  'address-type': 'addressType',
  'advertised-hosts': 'advertisedHosts',
  'listener-port': 'listenerPort',
};

const DESCRIPTIONS: Record<ConfigKey, string> = {
  'node-port': 'NodePort every broker advertises (default 31980)',
  'node-selector': "k=v[,k=v] merged into the brokers' nodeSelector",
  listener: 'listener to expose, or "auto" (default)',
  'anti-affinity': 'required | preferred | none (default required)',
  'address-type':
    'node address brokers advertise: InternalIP (default, status.hostIP) | ExternalIP | InternalDNS | ExternalDNS | Hostname',
  'advertised-hosts': 'per-broker host overrides "<ordinal>=<host>[,…]"',
  'listener-port':
    'container port the exposed listener binds, for Services applied before their brokers without Helm (default: learned from the brokers)',
};

/** Env names for serve in a container: KAFKA_NODEPORT_INJECTOR_NODE_PORT, … */
export function envName(key: ConfigKey): string {
  return `KAFKA_NODEPORT_INJECTOR_${key.toUpperCase().replaceAll('-', '_')}`;
}

export function addConfigOptions(command: Command): Command {
  for (const key of CONFIG_KEYS) {
    command.addOption(new Option(`--${key} <value>`, DESCRIPTIONS[key]).env(envName(key)));
  }
  return command;
}

export function addNamespaceAnnotationsOption(command: Command): Command {
  return command.option(
    '--namespace-annotations <key=value...>',
    'annotations of the target namespace, as the webhook would read them (repeatable)',
  );
}

/** Flags to a raw config, validated now so a typo fails before any input is read. */
export function rawConfigFromFlags(flags: ConfigFlags): RawConfig {
  const raw: RawConfig = {};
  for (const key of CONFIG_KEYS) {
    const value = flags[FLAG_OF[key]];
    if (typeof value !== 'string') continue;
    parseConfigValue(key, value, `--${key}`);
    raw[key] = value;
  }
  return raw;
}

export function parseAnnotationPairs(pairs: string[] | undefined): Record<string, string> {
  const annotations: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`--namespace-annotations: expected key=value, got ${JSON.stringify(pair)}`);
    annotations[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return annotations;
}
