import t from 'tap';
import { configFromAnnotations, ConfigError, resolveConfig } from '../../src/core/config.ts';

const P = 'kafka-nodeport-injector/';

t.test(
  'resolution order: object annotation, then namespace annotation, then server flag, then default',
  (t) => {
    const config = resolveConfig([
      { name: 'object', values: configFromAnnotations({ [`${P}node-port`]: '31001' }) },
      {
        name: 'namespace',
        values: configFromAnnotations({ [`${P}node-port`]: '31002', [`${P}listener`]: 'outside' }),
      },
      { name: 'flag', values: { 'node-port': '31003', listener: 'client', 'anti-affinity': 'preferred' } },
    ]);
    t.same(config, {
      nodePort: 31001,
      nodeSelector: {},
      listener: 'OUTSIDE',
      antiAffinity: 'preferred',
      addressType: 'InternalIP',
      advertisedHosts: new Map(),
    });
    t.same(resolveConfig([]), {
      nodePort: 31980,
      nodeSelector: {},
      listener: 'auto',
      antiAffinity: 'required',
      addressType: 'InternalIP',
      advertisedHosts: new Map(),
    });
    t.end();
  },
);

t.test('node-selector takes k=v pairs, including prefixed keys', (t) => {
  const config = resolveConfig([
    { name: 'flag', values: { 'node-selector': 'runapp=kafka, example.com/pool=brokers' } },
  ]);
  t.same(config.nodeSelector, { runapp: 'kafka', 'example.com/pool': 'brokers' });
  t.end();
});

t.test(
  'a value that cannot be parsed is denied with the key, the value, its source and what is accepted',
  (t) => {
    const cases: [string, string, RegExp][] = [
      ['node-port', 'abc', /integer port number/],
      ['node-port', '70000', /integer port number/],
      ['node-selector', 'runapp', /label pairs/],
      ['node-selector', 'bad key=x', /label pairs/],
      ['listener', 'CLI-ENT', /"auto" or a Kafka listener name/],
      ['anti-affinity', 'sometimes', /"required", "preferred" or "none"/],
      ['address-type', 'PublicIP', /one of ExternalDNS, ExternalIP, Hostname, InternalDNS, InternalIP/],
      ['address-type', '', /one of ExternalDNS/],
      ['advertised-hosts', 'kafka-0.example.com', /pairs "<broker ordinal>=<DNS name or IP address>/],
      ['advertised-hosts', '0=a.example.com,0=b.example.com', /each ordinal once/],
      ['advertised-hosts', '-1=a.example.com', /broker ordinal/],
      ['advertised-hosts', '0=', /DNS name or IP address/],
      ['advertised-hosts', '0=$(reboot)', /DNS name or IP address/],
      ['advertised-hosts', "0=a.example.com';rm -rf /", /DNS name or IP address/],
      ['advertised-hosts', '0=under_score.example.com', /DNS name or IP address/],
      ['advertised-hosts', '0=999.1.1.1', /DNS name or IP address/],
    ];
    for (const [key, value, accepted] of cases) {
      const error = t.throws(() =>
        resolveConfig([{ name: 'namespace annotation', values: { [key]: value } }]),
      );
      t.ok(error instanceof ConfigError, `${key}=${value} is a ConfigError`);
      const message = error instanceof Error ? error.message : '';
      t.match(message, `${P}${key}`, 'names the key');
      t.match(message, JSON.stringify(value), 'names the value');
      t.match(message, 'namespace annotation', 'names the source');
      t.match(message, accepted, 'says what is accepted');
    }
    t.end();
  },
);

t.test('address-type is case-insensitive; advertised-hosts keeps hosts by ordinal, in order', (t) => {
  const config = resolveConfig([
    {
      name: 'flag',
      values: {
        'address-type': 'externalip',
        'advertised-hosts': ' 2=198.51.100.7, 0=Kafka-0.Example.com,1=fd00::1 ',
      },
    },
  ]);
  t.equal(config.addressType, 'ExternalIP');
  t.same(
    [...config.advertisedHosts],
    [
      [0, 'Kafka-0.Example.com'],
      [1, 'fd00::1'],
      [2, '198.51.100.7'],
    ],
  );
  t.end();
});
