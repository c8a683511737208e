/**
 * Issue 23 class 6: without Helm (kubectl apply by kind, Argo CD) a client Service arrives before
 * its StatefulSet and nothing in view says which container port the brokers' exposed listener
 * binds. The first test shows the Service alone cannot be decided right: two releases with the
 * same Service need different ones. The rest show the way out, `listener-port` on the namespace,
 * making every order of admission agree with `mutate` from the objects alone.
 */
import t from 'tap';
import { mutateObject } from '../../src/core/mutateObject.ts';
import { claimRefusal } from '../../src/core/nodePortClaim.ts';
import { mutateRelease } from '../../src/core/release.ts';
import type { Service, StatefulSet } from '../../src/core/kubeTypes.ts';
import type { MutationResult } from '../../src/core/result.ts';
import { clientService, envStatefulSet } from '../support/fixtures.ts';
import fastJsonPatch from 'fast-json-patch';

/** The story's brokers: a user-defined OUTSIDE listener, bound on `outsidePort`. */
function brokers(outsidePort: number): StatefulSet {
  const sts = envStatefulSet(
    `INTERNAL://$(MY_POD_NAME).kafka-headless:9093,CLIENT://$(MY_POD_NAME).kafka-headless:9092,OUTSIDE://1.1.1.1:${String(outsidePort)}`,
  );
  const env = sts.spec.template.spec.containers[0]?.env ?? [];
  const listeners = env.find((e) => e.name === 'KAFKA_CFG_LISTENERS');
  if (listeners) listeners.value = `INTERNAL://:9093,CLIENT://:9092,OUTSIDE://:${String(outsidePort)}`;
  return sts;
}

const service = (): Service =>
  clientService([{ name: 'tcp-client', port: 9092, targetPort: 'kafka-client' }]);

function applied<T>(object: T, result: MutationResult): T {
  return fastJsonPatch.applyPatch(structuredClone(object), result.patch, true, false).newDocument;
}

/**
 * The webhook's answers, Services first: the Service decided with no broker in view (the cluster
 * holds none yet), stored; then the StatefulSet, its claim checked against the stored Service.
 */
function servicesFirst(sts: StatefulSet, namespaceAnnotations: Record<string, string>) {
  const options = { defaults: {}, namespaceAnnotations };
  const serviceResult = mutateObject({ object: service(), ...options });
  const storedService = applied(service(), serviceResult);
  const stsResult = mutateObject({ object: sts, ...options });
  const refusal = claimRefusal(sts, 'kafka', stsResult, [storedService]);
  return { serviceResult, stsResult, refusal };
}

t.test('the Service alone cannot be decided: two releases with the same Service need different ones', (t) => {
  const options = { defaults: {}, namespaceAnnotations: {} };
  const [, on9094] = mutateRelease([brokers(9094), service()], options);
  const [, on9095] = mutateRelease([brokers(9095), service()], options);
  t.not(JSON.stringify(on9094?.patch), JSON.stringify(on9095?.patch), 'mutate opens different Services');
  const added = (result: MutationResult | undefined): unknown =>
    result?.patch.find((op) => op.path === '/spec/ports/-');
  t.match(added(on9094), { value: { targetPort: 9094, nodePort: 31980 } });
  t.match(added(on9095), { value: { targetPort: 9095, nodePort: 31980 } });
  // Admitted first, the Service is one object: whatever it becomes, one of the two is misrouted.
  for (const port of [9094, 9095]) {
    const { refusal } = servicesFirst(brokers(port), {});
    t.equal(refusal?.reason, 'node-port-misrouted', `OUTSIDE on ${String(port)}: refused, not exposed`);
    t.match(refusal?.message, `kafka-nodeport-injector/listener-port=${String(port)}`, 'names the way out');
  }
  t.end();
});

t.test('listener-port on the namespace: Services first agrees with mutate of the whole release', (t) => {
  const annotations = { 'kafka-nodeport-injector/listener-port': '9094' };
  const whole = mutateRelease([brokers(9094), service()], {
    defaults: {},
    namespaceAnnotations: annotations,
  });
  const reversed = mutateRelease([service(), brokers(9094)], {
    defaults: {},
    namespaceAnnotations: annotations,
  });
  const { serviceResult, stsResult, refusal } = servicesFirst(brokers(9094), annotations);
  t.equal(refusal, undefined, 'the StatefulSet may claim the node port');
  t.equal(stsResult.decision, 'mutated');
  t.same(stsResult.patch, whole[0]?.patch, 'the StatefulSet as mutate makes it');
  t.same(serviceResult.patch, whole[1]?.patch, 'the Service as mutate makes it');
  t.same(reversed[0]?.patch, whole[1]?.patch, 'in either order of the input');
  const stored = applied(service(), serviceResult);
  const opened = stored.spec.ports?.find((p) => p.nodePort === 31980);
  t.match(opened, { targetPort: 9094 }, 'the node port reaches OUTSIDE');
  t.match(stored.spec.ports?.[0], { name: 'tcp-client', port: 9092, targetPort: 'kafka-client' });
  t.equal(stored.spec.ports?.[0]?.nodePort, undefined, 'the client port keeps routing where it did');
  // A second admission of each changes nothing.
  const again = mutateObject({ object: stored, defaults: {}, namespaceAnnotations: annotations });
  t.same(again.patch, []);
  t.end();
});

t.test('a listener-port the brokers do not bind: the StatefulSet is left unexposed, saying why', (t) => {
  const annotations = { 'kafka-nodeport-injector/listener-port': '9094' };
  const { stsResult } = servicesFirst(brokers(9095), annotations);
  t.equal(stsResult.decision, 'unchanged');
  t.equal(stsResult.reason, 'unsupported-wiring');
  t.same(stsResult.patch, [], 'nothing half-mutated');
  t.match(
    stsResult.message,
    /listener-port is 9094, but the exposed listener OUTSIDE binds container port 9095/,
  );
  const [, serviceInRelease] = mutateRelease([brokers(9095), service()], {
    defaults: {},
    namespaceAnnotations: annotations,
  });
  t.equal(serviceInRelease?.decision, 'unchanged', 'mutate opens no Service in front of them');
  t.end();
});

t.test('listener-port must be a port number', (t) => {
  const result = mutateObject({
    object: service(),
    namespaceAnnotations: { 'kafka-nodeport-injector/listener-port': 'outside' },
  });
  t.equal(result.decision, 'denied');
  t.match(result.message, /listener-port: "outside" \(from namespace annotation\) is not valid/);
  t.end();
});
