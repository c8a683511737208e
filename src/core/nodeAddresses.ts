/**
 * Node addresses a broker can advertise (SPEC §2 `address-type`). The downward API only exposes
 * `status.hostIP` (the node's InternalIP), so for any other type the webhook keeps a ConfigMap of
 * node name → addresses in each opted-in namespace, and the broker reads its node's entry at
 * start. This module is that ConfigMap's content and the choice among a node's addresses.
 */
import { NODE_ADDRESS_TYPES, type NodeAddressType } from './config.ts';

/** The ConfigMap the webhook writes in every opted-in namespace. */
export const NODE_ADDRESS_MAP = 'kafka-nodeport-injector-node-addresses';
/** Where mutated pods mount it: one file per node, named after the node. */
export const NODE_ADDRESS_MOUNT = '/etc/kafka-nodeport-injector/node-addresses';

export interface NodeAddress {
  type: string;
  address: string;
}

export interface NodeAddresses {
  name: string;
  addresses: NodeAddress[];
}

/** The preferred type first, then Strimzi's order: ExternalDNS, ExternalIP, Hostname, InternalDNS, InternalIP. */
export function fallbackOrder(preferred: NodeAddressType): NodeAddressType[] {
  return [preferred, ...NODE_ADDRESS_TYPES.filter((type) => type !== preferred)];
}

/** The address a broker on this node advertises: the first of the node's addresses in fallback order. */
export function pickNodeAddress(
  addresses: readonly NodeAddress[],
  preferred: NodeAddressType,
): { type: NodeAddressType; address: string } | undefined {
  for (const type of fallbackOrder(preferred)) {
    const found = addresses.find((a) => a.type === type && a.address !== '');
    if (found) return { type, address: found.address };
  }
  return undefined;
}

const isKnownType = (type: string): type is NodeAddressType =>
  (NODE_ADDRESS_TYPES as readonly string[]).includes(type);

/** A ConfigMap key is `[-._a-zA-Z0-9]+`; node names are DNS subdomains, so always valid. */
const CONFIG_MAP_KEY = /^[-._a-zA-Z0-9]{1,253}$/;
/** An address is written into a file that a shell reads line by line: no line breaks, no `=`. */
const SAFE_ADDRESS = /^[A-Za-z0-9.:_-]{1,253}$/;

/**
 * The ConfigMap's data: per node, one `Type=address` line per address, in the node's own order
 * (the first of a type wins). Deterministic, so every replica writes the same bytes.
 */
export function nodeAddressMapData(nodes: readonly NodeAddresses[]): Record<string, string> {
  const data: Record<string, string> = {};
  for (const node of [...nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (!CONFIG_MAP_KEY.test(node.name)) continue;
    const lines = node.addresses
      .filter((a) => isKnownType(a.type) && SAFE_ADDRESS.test(a.address))
      .map((a) => `${a.type}=${a.address}\n`);
    data[node.name] = lines.join('');
  }
  return data;
}

/** Parses one node's entry back (for `explain` and tests). */
export function parseNodeAddressEntry(entry: string): NodeAddress[] {
  return entry
    .split('\n')
    .filter((line) => line.includes('='))
    .map((line) => ({ type: line.slice(0, line.indexOf('=')), address: line.slice(line.indexOf('=') + 1) }));
}
