/**
 * Node layouts for the `address-type` / `advertised-hosts` effect tests: the node-address
 * ConfigMap the pods mount is written here by hand, in the documented `Type=address` lines, not by
 * the core, and each case says which host each broker must advertise.
 */
import { NODE_ADDRESS_MAP } from '../../src/core/nodeAddresses.ts';
import type { Addressing } from './exposureEffect.ts';

/** Node 0 has an ExternalIP; node 1 only a Hostname besides its InternalIP; node 2 everything. */
export const NODE_ENTRIES: Record<string, string> = {
  'node-0': 'InternalIP=10.0.0.10\nExternalIP=203.0.113.10\nHostname=node-0\n',
  'node-1': 'InternalIP=10.0.0.11\nHostname=node-1.lab.example\n',
  'node-2':
    'Hostname=node-2\nInternalIP=10.0.0.12\nExternalDNS=node-2.public.example\nExternalIP=203.0.113.12\n',
};
export const NODE_MAP = { kind: 'ConfigMap', metadata: { name: NODE_ADDRESS_MAP }, data: NODE_ENTRIES };
const nodeName = (ordinal: number): string => `node-${String(ordinal % 3)}`;
const pick = (hosts: string[], ordinal: number, fallback = ''): string => hosts[ordinal % 3] ?? fallback;

export const EXTERNAL_IP: Addressing = {
  settings: { 'address-type': 'ExternalIP' },
  extraObjects: [NODE_MAP],
  nodeName,
  // ExternalIP, else Strimzi's order: ExternalDNS, ExternalIP, Hostname, InternalDNS, InternalIP.
  expectedHost: (ordinal) => pick(['203.0.113.10', 'node-1.lab.example', '203.0.113.12'], ordinal),
};

export const HOSTNAME_WITH_OVERRIDE: Addressing = {
  settings: { 'address-type': 'Hostname', 'advertised-hosts': '1=kafka-1.example.com' },
  extraObjects: [NODE_MAP],
  nodeName,
  expectedHost: (ordinal) => pick(['node-0', 'kafka-1.example.com', 'node-2'], ordinal),
};

export const OVERRIDES_ONLY: Addressing = {
  settings: { 'advertised-hosts': '0=b0.example.com,2=198.51.100.200' },
  extraObjects: [],
  nodeName,
  expectedHost: (ordinal, hostIP) => pick(['b0.example.com', hostIP, '198.51.100.200'], ordinal, hostIP),
};

export const ADDRESSING_CASES: [string, Addressing][] = [
  ['address-type ExternalIP (falling back on a node without one)', EXTERNAL_IP],
  ['address-type Hostname with an override for broker 1', HOSTNAME_WITH_OVERRIDE],
  ['advertised-hosts alone (the others keep status.hostIP)', OVERRIDES_ONLY],
];
