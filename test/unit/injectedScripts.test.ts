/**
 * The shell the webhook injects, executed for real: the init container that edits the rendered
 * server.properties (bitnami 24+) and the command wrapper for setup scripts that export the
 * advertised listeners themselves (bitnami 12–22 with externalAccess).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import t from 'tap';
import { INIT_SCRIPT } from '../../src/core/wiring/initFileWiring.ts';
import { wrapperScript } from '../../src/core/wiring/scriptExportWiring.ts';
import { ANNOTATION_PREFIX } from '../../src/core/config.ts';
import { mutateObject } from '../../src/core/mutateObject.ts';
import type { StatefulSet } from '../../src/core/kubeTypes.ts';
import { envStatefulSet } from '../support/fixtures.ts';

const RENDERED = `listeners=CLIENT://:9092,INTERNAL://:9094,CONTROLLER://:9093
advertised.listeners=CLIENT://kafka-controller-1.kafka-controller-headless.ns.svc.cluster.local:9092,INTERNAL://kafka-controller-1.kafka-controller-headless.ns.svc.cluster.local:9094
listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,INTERNAL:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
`;

function runInit(
  hostIP: string,
  listener = '',
  properties = RENDERED,
): { status: number | null; file: string; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'init-'));
  try {
    const file = join(dir, 'server.properties');
    writeFileSync(file, properties);
    const result = spawnSync('/bin/sh', ['-c', INIT_SCRIPT], {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH,
        MY_HOST_IP: hostIP,
        INJECTOR_LISTENER: listener,
        INJECTOR_LISTENER_PORT: '9092',
        INJECTOR_NODE_PORT: '31980',
        INJECTOR_CONFIG_FILE: file,
      },
    });
    return { status: result.status, file: readFileSync(file, 'utf8'), stderr: result.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

t.test(
  'init container: the listener bound to the client port advertises <hostIP>:31980, nothing else changes',
  (t) => {
    const { status, file } = runInit('10.1.2.3');
    t.equal(status, 0);
    t.equal(
      file,
      RENDERED.replace(
        'CLIENT://kafka-controller-1.kafka-controller-headless.ns.svc.cluster.local:9092',
        'CLIENT://10.1.2.3:31980',
      ),
    );
    t.equal(
      runInit('10.1.2.3', '', file).file,
      file,
      'running it twice (a restarted pod) changes nothing more',
    );
    t.end();
  },
);

t.test('init container: an IPv6 node address is advertised in brackets', (t) => {
  t.match(runInit('fd00:1::7').file, 'advertised.listeners=CLIENT://[fd00:1::7]:31980,INTERNAL://');
  t.end();
});

t.test('init container: a named listener is rewritten even when it is not first', (t) => {
  const file = runInit('10.1.2.3', 'INTERNAL').file;
  t.match(
    file,
    /advertised\.listeners=CLIENT:\/\/kafka-controller-1\S+:9092,INTERNAL:\/\/10\.1\.2\.3:31980\n/,
  );
  t.end();
});

t.test('init container: a file without the listener fails loudly instead of starting unexposed', (t) => {
  const { status, stderr } = runInit('10.1.2.3', '', 'listeners=CLIENT://:9092\n');
  t.equal(status, 1);
  t.match(stderr, /kafka-nodeport-injector: no advertised listener CLIENT/);
  t.end();
});

t.test("command wrapper: the setup script's own export is rewritten just before Kafka starts", (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wrap-'));
  try {
    const entrypoint = join(dir, 'entrypoint.sh');
    writeFileSync(entrypoint, '#!/bin/sh\nprintf "%s|%s" "$KAFKA_CFG_ADVERTISED_LISTENERS" "$1"\n');
    chmodSync(entrypoint, 0o755);
    const setup = join(dir, 'setup.sh');
    writeFileSync(
      setup,
      [
        '#!/bin/bash',
        'ID="${MY_POD_NAME#kafka-}"',
        'export KAFKA_CFG_ADVERTISED_LISTENERS="INTERNAL://${MY_POD_NAME}.h:9093,CLIENT://${MY_POD_NAME}.h:9092,EXTERNAL://1.1.1.1:$((9094 + ID))"',
        `exec ${entrypoint} /run.sh`,
      ].join('\n'),
    );
    chmodSync(setup, 0o755);
    for (const [hostIP, expected] of [
      ['10.0.0.2', 'INTERNAL://kafka-2.h:9093,CLIENT://kafka-2.h:9092,EXTERNAL://10.0.0.2:31980|/run.sh'],
      ['fd00::2', 'INTERNAL://kafka-2.h:9093,CLIENT://kafka-2.h:9092,EXTERNAL://[fd00::2]:31980|/run.sh'],
    ]) {
      const result = spawnSync('/bin/bash', ['-c', wrapperScript('EXTERNAL', 31980), setup], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH, MY_POD_NAME: 'kafka-2', MY_HOST_IP: hostIP },
      });
      t.equal(result.stdout, expected, `node ${hostIP ?? ''}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  t.end();
});

t.test(
  "script-export wiring: externalAccess is the chart's own exposure; a listener the user names is rewritten, once",
  (t) => {
    const sts: StatefulSet = envStatefulSet('');
    const container = sts.spec.template.spec.containers[0];
    if (!container?.env) throw new Error('fixture');
    container.env = container.env.filter((e) => e.name !== 'KAFKA_CFG_ADVERTISED_LISTENERS');
    container.env[2] = {
      name: 'KAFKA_CFG_LISTENERS',
      value: 'INTERNAL://:9093,CLIENT://:9092,EXTERNAL://:9094',
    };
    for (const listener of ['auto', 'EXTERNAL']) {
      const own = mutateObject({
        object: sts,
        namespaceAnnotations: { [`${ANNOTATION_PREFIX}listener`]: listener },
      });
      t.equal(own.reason, 'already-exposed', `listener ${listener}: left to the chart`);
      t.same(own.patch, []);
    }
    const client = { [`${ANNOTATION_PREFIX}listener`]: 'CLIENT' };
    const first = mutateObject({ object: sts, namespaceAnnotations: client });
    t.equal(first.exposure?.family, 'script-export');
    t.equal(first.exposure?.containerPort, 9092);
    const command = first.patch.find((op) => op.path.endsWith('/command'));
    t.ok(
      command &&
        'value' in command &&
        Array.isArray(command.value) &&
        command.value.at(-1) === '/scripts/setup.sh',
    );
    const wrapped = fastJsonPatch.applyPatch(structuredClone(sts), first.patch, false, false).newDocument;
    t.same(mutateObject({ object: wrapped, namespaceAnnotations: client }).patch, [], 'idempotent');

    const withHostIp = structuredClone(sts);
    withHostIp.spec.template.spec.containers[0]?.env?.push({
      name: 'HOST_IP',
      valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } },
    });
    t.equal(
      mutateObject({ object: withHostIp }).reason,
      'already-exposed',
      "the chart's NodePort externalAccess is left alone",
    );
    t.end();
  },
);
