/**
 * SPEC §2: configuration keys, their parsing, and resolution order
 * (object annotation → namespace annotation → server flag → built-in default).
 */

export const ANNOTATION_PREFIX = 'kafka-nodeport-injector/';
export const STATUS_ANNOTATION = `${ANNOTATION_PREFIX}status`;
export const INJECT_LABEL = `${ANNOTATION_PREFIX}inject`;

export type AntiAffinityMode = 'required' | 'preferred' | 'none';

/** Node address types as in `Node.status.addresses`, in Strimzi's fallback order. */
export const NODE_ADDRESS_TYPES = [
  'ExternalDNS',
  'ExternalIP',
  'Hostname',
  'InternalDNS',
  'InternalIP',
] as const;
export type NodeAddressType = (typeof NODE_ADDRESS_TYPES)[number];

export interface InjectorConfig {
  nodePort: number;
  nodeSelector: Record<string, string>;
  /** A listener name, upper-cased, or `auto`. */
  listener: string;
  antiAffinity: AntiAffinityMode;
  /** Which node address brokers advertise; `InternalIP` is the downward API's `status.hostIP`. */
  addressType: NodeAddressType;
  /** Per-broker host overrides by StatefulSet ordinal (NAT, DNS per node). */
  advertisedHosts: ReadonlyMap<number, string>;
  /**
   * The container port the exposed listener binds, stated up front, or undefined to learn it from
   * the brokers. Without Helm a Service applied before its StatefulSet (Argo CD's order) cannot
   * learn it from anything in view; this lets the two agree from the objects alone.
   */
  listenerPort: number | undefined;
}

export const CONFIG_KEYS = [
  'node-port',
  'node-selector',
  'listener',
  'anti-affinity',
  'address-type',
  'advertised-hosts',
  'listener-port',
] as const;
export type ConfigKey = (typeof CONFIG_KEYS)[number];

/** Raw, unparsed values keyed by SPEC key, as found in one configuration source. */
export type RawConfig = Partial<Record<ConfigKey, string>>;

export const DEFAULT_RAW_CONFIG: Required<RawConfig> = {
  'node-port': '31980',
  'node-selector': '',
  listener: 'auto',
  'anti-affinity': 'required',
  'address-type': 'InternalIP',
  'advertised-hosts': '',
  'listener-port': '',
};

export class ConfigError extends Error {
  readonly key: ConfigKey;
  readonly value: string;
  constructor(key: ConfigKey, value: string, accepted: string, source: string) {
    super(
      `${ANNOTATION_PREFIX}${key}: ${JSON.stringify(value)} (from ${source}) is not valid: expected ${accepted}`,
    );
    this.name = 'ConfigError';
    this.key = key;
    this.value = value;
  }
}

const LABEL_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function isLabelKey(key: string): boolean {
  const slash = key.lastIndexOf('/');
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return false;
  return LABEL_NAME.test(name);
}

function isLabelValue(value: string): boolean {
  return value === '' || LABEL_NAME.test(value);
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$/;

/**
 * A host a client can resolve or dial: a DNS name or an IP address. Nothing else, because the host
 * is written into shell scripts that run in the broker pods.
 */
function isAdvertisableHost(host: string): boolean {
  if (host.length === 0 || host.length > 253) return false;
  if (IPV4.test(host) || IPV6.test(host)) return true;
  return DNS_SUBDOMAIN.test(host.toLowerCase()) && !/^[\d.]+$/.test(host);
}

function parsePort(raw: string): number | undefined {
  const trimmed = raw.trim();
  if (!/^\d+$/.test(trimmed)) return undefined;
  const port = Number(trimmed);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/** What `listener-port` holds when it is not set: learn the port from the brokers. */
const LEARNED = 'learned';

const PARSERS: { [K in ConfigKey]: { accepted: string; parse: (raw: string) => unknown } } = {
  'node-port': {
    accepted: 'an integer port number from 1 to 65535 (the cluster NodePort range, 30000-32767 by default)',
    parse: parsePort,
  },
  'listener-port': {
    accepted:
      'the container port (1-65535) the exposed listener binds, or empty to learn it from the brokers',
    parse: (raw) => (raw.trim() === '' ? LEARNED : parsePort(raw)),
  },
  'node-selector': {
    accepted: 'label pairs "key=value[,key=value]" (empty for none)',
    parse: (raw) => {
      const selector: Record<string, string> = {};
      for (const pair of raw.split(',')) {
        if (pair.trim() === '') continue;
        const eq = pair.indexOf('=');
        if (eq < 0) return undefined;
        const key = pair.slice(0, eq).trim();
        const value = pair.slice(eq + 1).trim();
        if (!isLabelKey(key) || !isLabelValue(value)) return undefined;
        selector[key] = value;
      }
      return selector;
    },
  },
  listener: {
    accepted: '"auto" or a Kafka listener name (letters, digits, underscore)',
    parse: (raw) => {
      const trimmed = raw.trim();
      if (trimmed.toLowerCase() === 'auto') return 'auto';
      return /^[A-Za-z][A-Za-z0-9_]*$/.test(trimmed) ? trimmed.toUpperCase() : undefined;
    },
  },
  'anti-affinity': {
    accepted: '"required", "preferred" or "none"',
    parse: (raw) => {
      const trimmed = raw.trim().toLowerCase();
      return ['required', 'preferred', 'none'].includes(trimmed) ? trimmed : undefined;
    },
  },
  'address-type': {
    accepted: `one of ${NODE_ADDRESS_TYPES.join(', ')}`,
    parse: (raw) => {
      const trimmed = raw.trim().toLowerCase();
      return NODE_ADDRESS_TYPES.find((type) => type.toLowerCase() === trimmed);
    },
  },
  'advertised-hosts': {
    accepted:
      'pairs "<broker ordinal>=<DNS name or IP address>[,…]", each ordinal once (empty for none), e.g. "0=kafka-0.example.com,1=kafka-1.example.com"',
    parse: (raw) => {
      const hosts = new Map<number, string>();
      for (const pair of raw.split(',')) {
        if (pair.trim() === '') continue;
        const eq = pair.indexOf('=');
        if (eq < 0) return undefined;
        const ordinal = pair.slice(0, eq).trim();
        const host = pair.slice(eq + 1).trim();
        if (!/^\d{1,6}$/.test(ordinal) || hosts.has(Number(ordinal)) || !isAdvertisableHost(host)) {
          return undefined;
        }
        hosts.set(Number(ordinal), host);
      }
      return new Map([...hosts].sort(([a], [b]) => a - b));
    },
  },
};

/** One place configuration comes from, highest priority first in `resolveConfig`. */
export interface ConfigSource {
  name: string;
  values: RawConfig;
}

/** Reads `kafka-nodeport-injector/<key>` annotations into a raw config. */
export function configFromAnnotations(annotations: Record<string, string> | null | undefined): RawConfig {
  const raw: RawConfig = {};
  if (!annotations) return raw;
  for (const key of CONFIG_KEYS) {
    const value = annotations[ANNOTATION_PREFIX + key];
    if (typeof value === 'string') raw[key] = value;
  }
  return raw;
}

/**
 * First source that sets a key wins; the built-in default comes last.
 * Throws ConfigError naming the key, the value, its source and what is accepted.
 */
export function resolveConfig(sources: ConfigSource[]): InjectorConfig {
  const pick = (key: ConfigKey): unknown => {
    for (const source of [...sources, { name: 'default', values: DEFAULT_RAW_CONFIG }]) {
      const raw = source.values[key];
      if (raw === undefined) continue;
      const parsed = PARSERS[key].parse(raw);
      if (parsed === undefined) throw new ConfigError(key, raw, PARSERS[key].accepted, source.name);
      return parsed;
    }
    throw new Error(`no default for ${key}`);
  };
  return {
    nodePort: pick('node-port') as number,
    nodeSelector: pick('node-selector') as Record<string, string>,
    listener: pick('listener') as string,
    antiAffinity: pick('anti-affinity') as AntiAffinityMode,
    addressType: pick('address-type') as NodeAddressType,
    advertisedHosts: pick('advertised-hosts') as ReadonlyMap<number, string>,
    listenerPort: ((port) => (port === LEARNED ? undefined : (port as number)))(pick('listener-port')),
  };
}

/** Validates one raw value (used by the CLI to reject bad flags up front). */
export function parseConfigValue(key: ConfigKey, raw: string, source: string): void {
  if (PARSERS[key].parse(raw) === undefined) throw new ConfigError(key, raw, PARSERS[key].accepted, source);
}
