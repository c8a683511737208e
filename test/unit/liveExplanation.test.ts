/** `explain --kubeconfig`'s core (src/core/liveExplanation.ts) on a namespace's stored objects. */
import t from 'tap';
import { stringify } from 'yaml';
import { applyResult, mutateManifests } from '../../src/cli/manifests.ts';
import { explainLive, formatLiveExplanation, type LiveView } from '../../src/core/liveExplanation.ts';
import { envStatefulSet } from '../support/fixtures.ts';
import { NODE_MAP } from '../support/nodeAddressing.ts';

const settings = { 'address-type': 'ExternalIP', 'advertised-hosts': '2=kafka-2.example.com' };
const original = envStatefulSet('CLIENT://kafka-0.kafka-headless:9092');
const [document] = mutateManifests(`---\n${stringify(original)}`, {
  defaults: settings,
  namespaceAnnotations: {},
});
if (!document) throw new Error('no document');
const stored = applyResult(document);
// The pods carry the stored template's labels (the broker-group label included).
const podLabels = (stored as typeof original).spec.template.metadata?.labels ?? {};

function view(labels: Record<string, string>, objects: unknown[]): LiveView {
  return {
    namespace: { name: 'kafka', labels, annotations: {} },
    objects,
    pods: [
      { name: 'kafka-0', labels: podLabels, nodeName: 'node-0', hostIP: '10.0.0.10' },
      { name: 'kafka-1', labels: podLabels, nodeName: 'node-1', hostIP: '10.0.0.11' },
      { name: 'kafka-2', labels: podLabels, nodeName: 'node-2', hostIP: '10.0.0.12' },
      { name: 'kafka-3', labels: podLabels },
      { name: 'kafka-0-backup', labels: podLabels, nodeName: 'node-0' },
    ],
    protectedNamespaces: ['kube-system'],
  };
}

t.test('per broker pod: its node, what it advertises and why; the bootstrap list', (t) => {
  const live = explainLive(
    view({ 'kafka-nodeport-injector/inject': 'enabled' }, [stored, NODE_MAP]),
    settings,
  );
  t.equal(live.called, true);
  const [sts] = live.objects;
  t.equal(sts?.mutated, true);
  t.same(sts?.pendingChanges, [], 'up to date');
  t.same(
    sts?.brokers?.map((b) => [b.pod, b.node, b.advertised, b.source]),
    [
      ['kafka-0', 'node-0', 'CLIENT://203.0.113.10:31980', 'ExternalIP'],
      ['kafka-1', 'node-1', 'CLIENT://node-1.lab.example:31980', 'Hostname (node node-1 has no ExternalIP)'],
      ['kafka-2', 'node-2', 'CLIENT://kafka-2.example.com:31980', 'override (advertised-hosts)'],
      ['kafka-3', undefined, undefined, 'not scheduled yet'],
    ],
  );
  t.same(sts?.bootstrap, ['203.0.113.10:31980', 'node-1.lab.example:31980', 'kafka-2.example.com:31980']);
  t.match(
    formatLiveExplanation(live),
    /pod kafka-1 on node-1: CLIENT:\/\/node-1\.lab\.example:31980 \[Hostname/,
  );
  t.end();
});

t.test('without the map a broker waits; a namespace that did not opt in is named as the reason', (t) => {
  const noMap = explainLive(view({ 'kafka-nodeport-injector/inject': 'enabled' }, [stored]), settings);
  t.match(
    noMap.objects[0]?.brokers?.[0]?.source,
    /node node-0 is not in ConfigMap kafka-nodeport-injector-node-addresses/,
  );
  const notIn = explainLive(view({}, [original]), settings);
  t.equal(notIn.called, false);
  t.match(notIn.optIn, /has not opted in: label kafka-nodeport-injector\/inject=enabled is missing/);
  t.equal(notIn.objects[0]?.mutated, false);
  t.match(formatLiveExplanation(notIn), /the webhook is not called/);
  t.end();
});

t.test(
  "the webhook's grant in the namespace: said when missing, with the command; quiet when not opted in",
  (t) => {
    const webhook = { namespace: 'kni', serviceAccount: 'webhook' };
    const optedIn = { 'kafka-nodeport-injector/inject': 'enabled' };
    const missing = explainLive({ ...view(optedIn, [stored]), grant: { granted: false, webhook } }, settings);
    t.equal(missing.grant?.granted, false);
    t.match(
      missing.grant?.message,
      /cannot read Helm release records, StatefulSets and ConfigMaps in namespace kafka/,
    );
    t.equal(
      missing.grant?.command,
      'kubectl -n kafka create rolebinding kafka-nodeport-injector --clusterrole=kafka-nodeport-injector-release-reader --serviceaccount=kni:webhook',
    );
    t.match(formatLiveExplanation(missing), /\n {2}kubectl -n kafka create rolebinding/);
    const unknown = explainLive(
      { ...view(optedIn, [stored]), grant: { granted: undefined, webhook } },
      settings,
    );
    t.match(unknown.grant?.message, /could not ask/);
    t.ok(unknown.grant?.command, 'the command, in case');
    const granted = explainLive({ ...view(optedIn, [stored]), grant: { granted: true, webhook } }, settings);
    t.same(granted.grant?.command, undefined);
    const notIn = explainLive({ ...view({}, [stored]), grant: { granted: false, webhook } }, settings);
    t.equal(notIn.grant, undefined, 'a namespace that did not opt in needs no grant');
    t.end();
  },
);
