import t from 'tap';
import { NODE_ADDRESS_TYPES } from '../../src/core/config.ts';
import {
  fallbackOrder,
  nodeAddressMapData,
  parseNodeAddressEntry,
  pickNodeAddress,
} from '../../src/core/nodeAddresses.ts';

t.test("fallback order: the preferred type, then Strimzi's documented order", (t) => {
  t.same(fallbackOrder('ExternalIP'), ['ExternalIP', 'ExternalDNS', 'Hostname', 'InternalDNS', 'InternalIP']);
  t.same(fallbackOrder('InternalDNS'), [
    'InternalDNS',
    'ExternalDNS',
    'ExternalIP',
    'Hostname',
    'InternalIP',
  ]);
  for (const type of NODE_ADDRESS_TYPES) {
    t.equal(new Set(fallbackOrder(type)).size, NODE_ADDRESS_TYPES.length, `${type}: every type once`);
  }
  t.end();
});

t.test('a node lacking the preferred type falls back; the first address of a type wins', (t) => {
  const addresses = [
    { type: 'InternalIP', address: '10.0.0.1' },
    { type: 'Hostname', address: 'node-a' },
    { type: 'ExternalIP', address: '' },
  ];
  t.same(pickNodeAddress(addresses, 'ExternalIP'), { type: 'Hostname', address: 'node-a' });
  t.same(pickNodeAddress(addresses, 'InternalIP'), { type: 'InternalIP', address: '10.0.0.1' });
  t.same(
    pickNodeAddress(
      [
        ...addresses,
        { type: 'ExternalIP', address: '203.0.113.1' },
        { type: 'ExternalIP', address: '203.0.113.2' },
      ],
      'ExternalIP',
    ),
    { type: 'ExternalIP', address: '203.0.113.1' },
  );
  t.equal(pickNodeAddress([], 'Hostname'), undefined);
  t.end();
});

t.test(
  'the map: one entry per node, sorted, `Type=address` lines; unknown types and unsafe text left out',
  (t) => {
    const data = nodeAddressMapData([
      {
        name: 'node-b',
        addresses: [
          { type: 'InternalIP', address: '10.0.0.2' },
          { type: 'ExternalIP', address: '203.0.113.2' },
        ],
      },
      {
        name: 'node-a',
        addresses: [
          { type: 'Hostname', address: 'node-a' },
          { type: 'SomethingNew', address: 'x' },
          { type: 'ExternalDNS', address: 'evil\nExternalIP=1.2.3.4' },
          { type: 'InternalIP', address: 'fd00::a' },
        ],
      },
    ]);
    t.same(Object.keys(data), ['node-a', 'node-b']);
    t.equal(data['node-a'], 'Hostname=node-a\nInternalIP=fd00::a\n');
    t.equal(data['node-b'], 'InternalIP=10.0.0.2\nExternalIP=203.0.113.2\n');
    t.same(parseNodeAddressEntry(data['node-b'] ?? ''), [
      { type: 'InternalIP', address: '10.0.0.2' },
      { type: 'ExternalIP', address: '203.0.113.2' },
    ]);
    t.end();
  },
);
