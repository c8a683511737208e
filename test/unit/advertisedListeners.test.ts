import t from 'tap';
import {
  chooseListener,
  formatAddress,
  parseListeners,
  rewriteListener,
} from '../../src/core/advertisedListeners.ts';

t.test('parses hosts with $(VAR), ${VAR}, shell arithmetic ports and bracketed IPv6', (t) => {
  const list =
    'INTERNAL://$(MY_POD_NAME).k-headless.ns.svc.cluster.local:9093,EXTERNAL://${HOST_IP}:$((31090 + ${KAFKA_BROKER_ID})),V6://[fd00::1]:9094,BIND://:9092';
  t.same(
    parseListeners(list).map(({ name, host, port }) => ({ name, host, port })),
    [
      { name: 'INTERNAL', host: '$(MY_POD_NAME).k-headless.ns.svc.cluster.local', port: '9093' },
      { name: 'EXTERNAL', host: '${HOST_IP}', port: '$((31090 + ${KAFKA_BROKER_ID}))' },
      { name: 'V6', host: '[fd00::1]', port: '9094' },
      { name: 'BIND', host: '', port: '9092' },
    ],
  );
  t.end();
});

t.test('rewriting one listener leaves every other byte of the list as it was', (t) => {
  const list =
    'INTERNAL://$(MY_POD_NAME).x:9093, CLIENT://$(MY_POD_NAME).x:9092 ,EXTERNAL://${HOST_IP}:$((31090 + ${ID}))';
  t.equal(
    rewriteListener(list, 'CLIENT', '$(MY_HOST_IP):31980'),
    'INTERNAL://$(MY_POD_NAME).x:9093, CLIENT://$(MY_HOST_IP):31980 ,EXTERNAL://${HOST_IP}:$((31090 + ${ID}))',
  );
  t.equal(
    rewriteListener(list, 'EXTERNAL', '$(MY_HOST_IP):31980'),
    'INTERNAL://$(MY_POD_NAME).x:9093, CLIENT://$(MY_POD_NAME).x:9092 ,EXTERNAL://$(MY_HOST_IP):31980',
  );
  t.throws(() => rewriteListener(list, 'OUTSIDE', 'x:1'), /not found/);
  t.end();
});

t.test('IPv6 literals are bracketed; variables are left for the kubelet to expand', (t) => {
  t.equal(formatAddress('fd00::1', 31980), '[fd00::1]:31980');
  t.equal(formatAddress('[fd00::1]', 31980), '[fd00::1]:31980');
  t.equal(formatAddress('10.0.0.1', 31980), '10.0.0.1:31980');
  t.equal(formatAddress('$(MY_HOST_IP)', 31980), '$(MY_HOST_IP):31980');
  t.end();
});

t.test('auto picks the outside listener, then a fixed host, then CLIENT; never the inter-broker one', (t) => {
  const pick = (list: string, interBroker?: string, requested = 'auto'): string | undefined =>
    chooseListener(parseListeners(list), requested, interBroker)?.name;
  t.equal(pick('INTERNAL://a:1,CLIENT://b:2,EXTERNAL://c:3', 'INTERNAL'), 'EXTERNAL');
  t.equal(
    pick('INTERNAL://$(P).h:9093,CLIENT://$(P).h:9092,OUTSIDE://1.1.1.1:9094', 'INTERNAL'),
    'OUTSIDE',
    "the seed's fixed address",
  );
  t.equal(
    pick('INTERNAL://$(P).h:9093,LB://1.1.1.1:9094,CLIENT://$(P).h:9092', 'INTERNAL'),
    'LB',
    'one fixed host for every broker',
  );
  t.equal(pick('INTERNAL://$(P).h:9093,CLIENT://$(P).h:9092', 'INTERNAL'), 'CLIENT');
  t.equal(
    pick('PLAINTEXT://${POD_IP}:9092', 'PLAINTEXT'),
    undefined,
    'only the inter-broker listener: add EXTERNAL',
  );
  t.equal(
    pick('INTERNAL://kafka-0.fixed:9093,CLIENT://$(P).h:9092', 'INTERNAL'),
    'CLIENT',
    'a fixed inter-broker host is not the outside',
  );
  t.equal(
    pick('INTERNAL://a:1,CLIENT://b:2', 'INTERNAL', 'internal'),
    undefined,
    'an explicit inter-broker listener is refused',
  );
  t.equal(pick('INTERNAL://a:1,MINE://b:2', 'INTERNAL', 'MINE'), 'MINE');
  t.end();
});
