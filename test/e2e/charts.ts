/**
 * The chart corpus as the end-to-end run installs it: every chart in ../shared/charts, unmodified,
 * with its default values except where noted, and what the run expects of it.
 *
 * Values beyond the defaults, all of them the chart's own:
 * - bitnami 12–22 default to one broker; `replicaCount=3` gives the three the story is about.
 * - cp-kafka and incubator/kafka vendor a ZooKeeper subchart whose PodDisruptionBudget is
 *   `policy/v1beta1` with no value to turn it off; that API is gone since Kubernetes 1.25, so
 *   `helm install` would fail on 1.36. Their own values disable the bundled ZooKeeper and point the
 *   brokers at an external one (`*.invalid`: nothing runs, kwok starts no containers).
 *
 * The variants of SPEC §7 (../shared/charts-rendered/README.md) are installed too: bitnami 24/32
 * with dedicated controller and broker StatefulSets, and bitnami 14/32 with the chart's own
 * per-broker NodePort external access, which the webhook must leave alone (`already-exposed`).
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { CHARTS_DIR, INCOMING_CHARTS_DIR } from '../support/corpus.ts';

export type Family = 'env' | 'init-rendered file' | 'command' | 'start-script-render';

export interface ChartCase {
  /** Directory name in ../shared/charts (or `root`). */
  dir: string;
  /** Where `dir` is, when not ../shared/charts (the incoming charts). */
  root?: string;
  /** A variant's name from ../shared/charts-rendered/README.md; none for the defaults. */
  variant?: string;
  family: Family;
  /** `exposed`: the webhook exposes the brokers; `already-exposed`: the chart does, we stay out. */
  expect: 'exposed' | 'already-exposed';
  /** `--set` flags of every install (see above); empty means pure defaults. */
  values: string[];
  /** The broker StatefulSets of release `kafka` (those the webhook exposes), with their replica counts. */
  brokers: { name: string; replicas: number }[];
  /** Other StatefulSets of the release the webhook must leave alone (ZooKeeper aside). */
  others?: { name: string; replicas: number }[];
  /** The release's client Service. */
  clientService: string;
  /** A value the chart offers that changes nothing but an annotation (`--set-string`). */
  harmlessValue: string;
  /** Run upgrade / rollback / uninstall (one chart per wiring family; the rest install + uninstall). */
  lifecycle: boolean;
  /** Install with Helm 4 (server-side apply) instead of Helm 3. */
  helm4?: boolean;
}

export const RELEASE = 'kafka';

const bitnamiEnv = (version: string, lifecycle = false): ChartCase => ({
  dir: `bitnami-kafka-${version}`,
  family: 'env',
  expect: 'exposed',
  values: ['replicaCount=3'],
  brokers: [{ name: 'kafka', replicas: 3 }],
  clientService: 'kafka',
  harmlessValue: 'podAnnotations.e2e-upgrade=1',
  lifecycle,
});

const bitnamiFile = (version: string, lifecycle = false): ChartCase => ({
  dir: `bitnami-kafka-${version}`,
  family: 'init-rendered file',
  expect: 'exposed',
  values: [],
  brokers: [{ name: 'kafka-controller', replicas: 3 }],
  clientService: 'kafka',
  harmlessValue: 'controller.podAnnotations.e2e-upgrade=1',
  lifecycle,
});

export const CHARTS: ChartCase[] = [
  bitnamiEnv('12.9.5'),
  bitnamiEnv('14.8.1'),
  bitnamiEnv('20.1.1'),
  bitnamiEnv('21.4.6', true),
  bitnamiEnv('22.1.6'),
  bitnamiFile('24.0.14'),
  bitnamiFile('26.11.4'),
  bitnamiFile('30.1.8'),
  bitnamiFile('32.4.4', true),
  {
    dir: 'cp-helm-charts-cp-kafka-0.6.1',
    family: 'command',
    expect: 'exposed',
    values: ['cp-zookeeper.enabled=false', 'cp-zookeeper.url=zookeeper.invalid:2181'],
    brokers: [{ name: 'kafka-cp-kafka', replicas: 3 }],
    clientService: 'kafka-cp-kafka',
    harmlessValue: 'podAnnotations.e2e-upgrade=1',
    lifecycle: true,
  },
  {
    dir: 'helm-charts-incubator-kafka-0.21.5',
    family: 'command',
    expect: 'exposed',
    values: ['zookeeper.enabled=false', 'zookeeper.url=zookeeper.invalid'],
    brokers: [{ name: 'kafka', replicas: 3 }],
    clientService: 'kafka',
    harmlessValue: 'podAnnotations.e2e-upgrade=1',
    lifecycle: true,
  },
  {
    dir: 'cloudpirates-helm-charts-kafka-0.1.4',
    family: 'command',
    expect: 'exposed',
    values: [],
    brokers: [{ name: 'kafka', replicas: 3 }],
    clientService: 'kafka',
    harmlessValue: 'commonAnnotations.e2e-upgrade=1',
    lifecycle: true,
  },
];

const dedicated = (version: string): ChartCase => ({
  ...bitnamiFile(version),
  variant: 'dedicated',
  values: ['controller.controllerOnly=true', 'broker.replicaCount=3'],
  brokers: [{ name: 'kafka-broker', replicas: 3 }],
  others: [{ name: 'kafka-controller', replicas: 3 }],
});

/**
 * The story's own values (../shared/incoming/charts-rendered/bitnami-kafka-12.9.5_seed-outside.yaml):
 * a user-defined OUTSIDE listener on 9094 advertising one fixed address. The client Service is
 * created before the StatefulSet, and must still be aimed at OUTSIDE's port.
 */
const seedOutside = (version: string, syntax: 'string' | 'list', lifecycle = false): ChartCase => {
  // 12.x takes the lists as one comma-separated string, 21.x as YAML lists.
  const list = (entries: string[]): string =>
    syntax === 'list' ? `{${entries.join(',')}}` : entries.join('\\,');
  return {
    ...bitnamiEnv(version, lifecycle),
    variant: 'seed-outside',
    values: [
      'replicaCount=3',
      `listeners=${list(['INTERNAL://:9093', 'CLIENT://:9092', 'OUTSIDE://:9094'])}`,
      `advertisedListeners=${list([
        'INTERNAL://$(MY_POD_NAME).kafka-headless:9093',
        'CLIENT://$(MY_POD_NAME).kafka-headless:9092',
        'OUTSIDE://1.1.1.1:9094',
      ])}`,
      'listenerSecurityProtocolMap=INTERNAL:PLAINTEXT\\,CLIENT:PLAINTEXT\\,OUTSIDE:PLAINTEXT',
    ],
  };
};

/** bitnami `externalAccess` in each of its forms: the chart exposes every broker itself. */
const ownExternalAccess = (version: string, form: string, values: string[]): ChartCase => ({
  ...bitnamiEnv(version),
  variant: `ext${form}`,
  expect: 'already-exposed',
  values: ['replicaCount=3', 'externalAccess.enabled=true', ...values],
});

export const VARIANTS: ChartCase[] = [
  seedOutside('12.9.5', 'string'),
  seedOutside('21.4.6', 'list'),
  {
    ...bitnamiEnv('14.8.1'),
    variant: 'extNodePort_useHostIPs',
    expect: 'already-exposed',
    values: [
      'replicaCount=3',
      'externalAccess.enabled=true',
      'externalAccess.service.type=NodePort',
      'externalAccess.service.useHostIPs=true',
      'externalAccess.service.nodePorts={31980,31981,31982}',
    ],
  },
  ownExternalAccess('12.9.5', 'LB_fixedIPs', [
    'externalAccess.service.type=LoadBalancer',
    'externalAccess.service.loadBalancerIPs={1.1.1.1,1.1.1.2,1.1.1.3}',
  ]),
  ownExternalAccess('22.1.6', 'ClusterIP_domain', [
    'externalAccess.service.type=ClusterIP',
    'externalAccess.service.domain=kafka.example',
  ]),
  dedicated('24.0.14'),
  dedicated('32.4.4'),
  {
    ...bitnamiFile('32.4.4'),
    variant: 'extNodePort_useHostIPs',
    expect: 'already-exposed',
    values: [
      'externalAccess.enabled=true',
      'externalAccess.controller.service.type=NodePort',
      'externalAccess.controller.service.useHostIPs=true',
      'externalAccess.controller.service.nodePorts={31980,31981,31982}',
    ],
  },
];

/**
 * HelmForge's chart on the official apache/kafka image (../shared/incoming): its start script
 * renders server.properties in /tmp and execs kafka-server-start.sh. Single broker, split
 * controllers and brokers (controllers left alone), and three combined broker+controllers.
 */
const helmForge = (
  variant: string | undefined,
  values: string[],
  brokers: ChartCase['brokers'],
  others?: ChartCase['brokers'],
): ChartCase => ({
  dir: 'helmforge-charts-kafka-1.3.14',
  root: INCOMING_CHARTS_DIR,
  ...(variant === undefined ? {} : { variant }),
  family: 'start-script-render',
  expect: 'exposed',
  values,
  brokers,
  ...(others ? { others } : {}),
  clientService: 'kafka-kafka',
  harmlessValue: 'podAnnotations.e2e-upgrade=1',
  lifecycle: variant === undefined,
});

export const INCOMING: ChartCase[] = [
  helmForge(undefined, [], [{ name: 'kafka-kafka', replicas: 1 }]),
  helmForge(
    'cluster',
    ['architecture=cluster'],
    [{ name: 'kafka-kafka-broker', replicas: 3 }],
    [{ name: 'kafka-kafka-controller', replicas: 3 }],
  ),
  helmForge(
    'combined',
    ['architecture=cluster', 'cluster.brokers.replicaCount=0'],
    [{ name: 'kafka-kafka-controller', replicas: 3 }],
  ),
];

/**
 * Every case again with Helm 4, which installs with server-side apply: an upgrade fails on a field
 * another manager owns. The lifecycle (no-op upgrade, `--set-string` upgrade, rollback) runs for one
 * chart per wiring family and for the story's values.
 */
const HELM4_LIFECYCLE = [
  'bitnami-kafka-12.9.5_seed-outside',
  'bitnami-kafka-32.4.4',
  'cp-helm-charts-cp-kafka-0.6.1',
  'helmforge-charts-kafka-1.3.14',
];

export const HELM4_CASES: ChartCase[] = [...CHARTS, ...VARIANTS, ...INCOMING].map((c) => ({
  ...c,
  variant: c.variant === undefined ? 'helm4' : `${c.variant}_helm4`,
  helm4: true,
  lifecycle: HELM4_LIFECYCLE.includes(caseName(c)),
}));

/** `bitnami-kafka-32.4.4` or `bitnami-kafka-32.4.4_dedicated`, as ../shared/charts-rendered names them. */
export function caseName(c: ChartCase): string {
  return c.variant === undefined ? c.dir : `${c.dir}_${c.variant}`;
}

/** `--set a=b --set c=d`. */
export function setFlags(values: string[]): string[] {
  return values.flatMap((v) => ['--set', v]);
}

export function chartPath(c: ChartCase): string {
  return path.join(c.root ?? CHARTS_DIR, c.dir);
}

/**
 * The corpus must be there and be exactly the charts above: a chart added to ../shared/charts
 * without an entry here would otherwise go untested.
 */
export function checkCorpus(): void {
  if (!existsSync(CHARTS_DIR)) {
    throw new Error(
      `chart corpus not found at ${CHARTS_DIR}: put the shared folder beside this repository (or set SHARED_DIR)`,
    );
  }
  const present = readdirSync(CHARTS_DIR, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const known = CHARTS.map((c) => c.dir).sort();
  const unknown = present.filter((d) => !known.includes(d));
  const missing = known.filter((d) => !present.includes(d));
  if (unknown.length > 0 || missing.length > 0) {
    throw new Error(
      `charts in ${CHARTS_DIR} differ from test/e2e/charts.ts: not covered ${JSON.stringify(unknown)}, missing ${JSON.stringify(missing)}`,
    );
  }
}
