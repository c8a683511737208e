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
    t.same(config, { nodePort: 31001, nodeSelector: {}, listener: 'OUTSIDE', antiAffinity: 'preferred' });
    t.same(resolveConfig([]), {
      nodePort: 31980,
      nodeSelector: {},
      listener: 'auto',
      antiAffinity: 'required',
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
