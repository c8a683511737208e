// Obtaining the mutated release: the project's own CLI (`kafka-nodeport-injector mutate -f FILE
// --node-selector runapp=kafka`, multi-document YAML in, YAML out) — the thing under test.
//
// mutateByHand() is a test-only stand-in with the mutation the SPEC describes for bitnami 12-22, used
// only when KNI_KAFKA_MUTATOR=hand (to check this harness while the CLI is unavailable). The test
// reports which one was used.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  cloneObjects,
  clientService,
  kafkaContainer,
  kafkaStatefulSet,
  parseManifests,
  type K8sObject,
} from './chart.ts';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(REPO_ROOT, 'bin', 'kafka-nodeport-injector');

export interface Mutated {
  objects: K8sObject[];
  via: string;
  /** the CLI's YAML output as text (absent for the hand-made stand-in) */
  text?: string;
}

export function mutateWithCli(file: string, nodeSelector: string): Mutated {
  if (!existsSync(CLI)) throw new Error(`${CLI} does not exist (the CLI is not built/committed yet)`);
  const args = ['mutate', '-f', file, '--node-selector', nodeSelector];
  const out = execFileSync(CLI, args, {
    encoding: 'utf8',
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { objects: parseManifests(out), via: `bin/kafka-nodeport-injector ${args.join(' ')}`, text: out };
}

/** Test-only stand-in (see above): the expected mutation, applied by hand. */
export function mutateByHand(input: K8sObject[], nodeSelector: string, nodePort = 31980): Mutated {
  const objects = cloneObjects(input);
  const sts = kafkaStatefulSet(objects);
  const c = kafkaContainer(sts);
  const env = c.env ?? [];
  const advIdx = env.findIndex((e) => e.name === 'KAFKA_CFG_ADVERTISED_LISTENERS');
  const adv = env[advIdx];
  if (!adv || adv.value == null) throw new Error('no KAFKA_CFG_ADVERTISED_LISTENERS value');
  adv.value = adv.value
    .split(',')
    .map((l) => (l.startsWith('CLIENT://') ? `CLIENT://$(MY_HOST_IP):${nodePort}` : l))
    .join(',');
  env.splice(advIdx, 0, { name: 'MY_HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } });
  const spec = sts.spec.template.spec;
  const selector = Object.fromEntries(nodeSelector.split(',').map((kv) => kv.split('=') as [string, string]));
  spec.nodeSelector = { ...(spec.nodeSelector ?? {}), ...selector };
  spec.affinity = {
    ...(spec.affinity ?? {}),
    podAntiAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [
        {
          labelSelector: { matchLabels: sts.spec.selector.matchLabels },
          topologyKey: 'kubernetes.io/hostname',
        },
      ],
    },
  };
  const svc = clientService(objects, sts);
  svc.spec.type = 'NodePort';
  svc.spec.externalTrafficPolicy = 'Local';
  for (const p of svc.spec.ports ?? []) if (p.targetPort === 'kafka-client') p.nodePort = nodePort;
  return { objects, via: 'mutateByHand (test-only stand-in, KNI_KAFKA_MUTATOR=hand)' };
}
