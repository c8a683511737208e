/**
 * SPEC §2 namespace annotations come from a watch-fed cache: ready only after its first full
 * listing, follows changes and deletions, keeps only `kafka-nodeport-injector/*` annotations.
 * A fake source stands in for the Kubernetes informer (real API tests live in test/e2e).
 */
import t from 'tap';
import { findKubeConfig } from '../../src/server/kubeConfig.ts';
import {
  NamespaceCache,
  namespaceAnnotationsOff,
  type NamespaceEvents,
} from '../../src/server/namespaceCache.ts';

function fakeCache(): { cache: NamespaceCache; events: () => NamespaceEvents; stopped: () => boolean } {
  let events: NamespaceEvents | undefined;
  let stopped = false;
  const cache = new NamespaceCache({
    description: 'fake',
    start: (e) => {
      events = e;
    },
    stop: () => {
      stopped = true;
      return Promise.resolve();
    },
  });
  cache.start();
  return {
    cache,
    events: () => {
      if (!events) throw new Error('not started');
      return events;
    },
    stopped: () => stopped,
  };
}

t.test('not ready until the first listing is in', (t) => {
  const { cache, events } = fakeCache();
  t.equal(cache.enabled, true);
  t.equal(cache.ready, false);
  events().upsert('kafka', { 'kafka-nodeport-injector/node-port': '31000' });
  t.equal(cache.ready, false);
  events().synced();
  t.equal(cache.ready, true);
  t.end();
});

t.test('follows changes and deletions, keeps only our annotations', (t) => {
  const { cache, events } = fakeCache();
  events().upsert('kafka', {
    'kafka-nodeport-injector/node-port': '31000',
    'kubectl.kubernetes.io/last-applied-configuration': '{"huge": true}',
  });
  t.same(cache.annotations('kafka'), { 'kafka-nodeport-injector/node-port': '31000' });
  events().upsert('kafka', { 'kafka-nodeport-injector/node-selector': 'runapp=kafka' });
  t.same(cache.annotations('kafka'), { 'kafka-nodeport-injector/node-selector': 'runapp=kafka' });
  events().upsert('kafka', { other: 'x' });
  t.equal(cache.annotations('kafka'), undefined, 'annotation removed from the namespace');
  events().upsert('kafka', { 'kafka-nodeport-injector/listener': 'EXTERNAL' });
  events().remove('kafka');
  t.equal(cache.annotations('kafka'), undefined, 'namespace deleted');
  t.equal(cache.annotations('never-seen'), undefined);
  t.end();
});

t.test('stop stops the source', async (t) => {
  const { cache, stopped } = fakeCache();
  await cache.stop();
  t.equal(stopped(), true);
});

t.test('without a cluster, namespace annotations are off and the server is ready', (t) => {
  t.equal(namespaceAnnotationsOff.enabled, false);
  t.equal(namespaceAnnotationsOff.ready, true);
  t.equal(namespaceAnnotationsOff.annotations('kafka'), undefined);
  t.end();
});

t.test('the cluster is found from --kubeconfig, KUBECONFIG, or the in-cluster service account', (t) => {
  const none = (): boolean => false;
  const all = (): boolean => true;
  t.same(findKubeConfig('/k', { KUBECONFIG: '/e' }, all), { kind: 'file', path: '/k' });
  t.same(findKubeConfig(undefined, { KUBECONFIG: '/e' }, all), { kind: 'env', value: '/e' });
  t.same(findKubeConfig(undefined, { KUBERNETES_SERVICE_HOST: '10.0.0.1' }, all), { kind: 'in-cluster' });
  t.equal(findKubeConfig(undefined, { KUBERNETES_SERVICE_HOST: '10.0.0.1' }, none), undefined, 'no token');
  t.equal(findKubeConfig(undefined, { HOME: '/home/x' }, all), undefined, '~/.kube/config is not used');
  t.end();
});
