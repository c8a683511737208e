/**
 * The publisher's bookkeeping (src/server/nodeAddressPublisher.ts), fed directly: nothing before
 * the first complete Node listing, one write per namespace and content, removed nodes dropped,
 * excluded namespaces never written, a failed write retried. The writes to a real API server are
 * checked by test/e2e.
 */
import t from 'tap';
import { NodeAddressPublisher } from '../../src/server/nodeAddressPublisher.ts';
import type { Log } from '../../src/server/log.ts';

function recorder(failFirst = 0): {
  writes: [string, Record<string, string>][];
  apply: (ns: string, data: Record<string, string>) => Promise<void>;
} {
  const writes: [string, Record<string, string>][] = [];
  let failures = failFirst;
  return {
    writes,
    apply: (ns, data) => {
      if (failures > 0) {
        failures -= 1;
        return Promise.reject(new Error('forbidden'));
      }
      writes.push([ns, data]);
      return Promise.resolve();
    },
  };
}

const warnings: string[] = [];
const log: Log = { info: () => undefined, warn: (m) => warnings.push(m), error: () => undefined };

t.test('nothing is written before the node listing is complete; then each namespace once', async (t) => {
  const { writes, apply } = recorder();
  const publisher = new NodeAddressPublisher(apply, log, ['kube-system']);
  publisher.upsertNamespace('kafka');
  publisher.upsertNamespace('kube-system');
  publisher.upsertNode('node-a', [{ type: 'InternalIP', address: '10.0.0.1' }]);
  await publisher.settled();
  t.same(writes, [], 'no write from a partial listing');
  publisher.nodesSynced();
  await publisher.settled();
  t.same(writes, [['kafka', { 'node-a': 'InternalIP=10.0.0.1\n' }]]);
  publisher.upsertNode('node-a', [{ type: 'InternalIP', address: '10.0.0.1' }]);
  await publisher.settled();
  t.equal(writes.length, 1, 'the same content is not written again');
  publisher.upsertNamespace('team-b');
  publisher.upsertNode('node-b', [{ type: 'ExternalIP', address: '203.0.113.2' }]);
  publisher.removeNode('node-a');
  await publisher.settled();
  await publisher.settled();
  const last = writes.filter(([ns]) => ns === 'kafka').at(-1)?.[1];
  t.same(last, { 'node-b': 'ExternalIP=203.0.113.2\n' }, 'a removed node is dropped');
  t.same(writes.filter(([ns]) => ns === 'team-b').at(-1)?.[1], last, 'a new namespace gets the map');
  t.notOk(
    writes.some(([ns]) => ns === 'kube-system'),
    'excluded namespaces are never written',
  );
  publisher.stop();
});

t.test('a failed write is not forgotten: it is warned about and written on the next pass', async (t) => {
  const { writes, apply } = recorder(1);
  const publisher = new NodeAddressPublisher(apply, log, []);
  publisher.upsertNamespace('kafka');
  publisher.nodesSynced();
  await publisher.settled();
  t.same(writes, []);
  t.match(
    warnings.at(-1),
    /ConfigMap kafka\/kafka-nodeport-injector-node-addresses not written \(retrying in 1000 ms\): forbidden/,
  );
  // The same content again: what failed is still owed.
  publisher.upsertNamespace('kafka');
  await publisher.settled();
  t.same(writes, [['kafka', {}]]);
  publisher.stop();
});
