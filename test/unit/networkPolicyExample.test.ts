/**
 * manifests/examples/networkpolicy.yaml must fit the shipped Deployment: it selects the webhook's
 * pods and names the container ports they listen on, or it would silently admit nothing (or all).
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { parse } from 'yaml';

const read = (path: string): unknown =>
  parse(readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8'));

interface Policy {
  metadata: { namespace: string };
  spec: {
    podSelector: { matchLabels: Record<string, string> };
    ingress: { ports: { port: number }[] }[];
  };
}
interface Deployment {
  spec: {
    template: {
      metadata: { labels: Record<string, string> };
      spec: { containers: { ports: { name: string; containerPort: number }[] }[] };
    };
  };
}

t.test('the NetworkPolicy example selects the webhook pods and their ports', (t) => {
  const policy = read('manifests/examples/networkpolicy.yaml') as Policy;
  const deployment = read('manifests/base/deployment.yaml') as Deployment;
  const namespace = read('manifests/base/namespace.yaml') as { metadata: { name: string } };
  t.equal(policy.metadata.namespace, namespace.metadata.name);
  const labels = deployment.spec.template.metadata.labels;
  for (const [key, value] of Object.entries(policy.spec.podSelector.matchLabels))
    t.equal(labels[key], value, key);
  const ports = deployment.spec.template.spec.containers.flatMap((c) => c.ports.map((p) => p.containerPort));
  t.same(
    policy.spec.ingress.flatMap((rule) => rule.ports.map((p) => p.port)).sort(),
    [...ports].sort(),
    'the webhook and metrics ports, nothing else',
  );
  t.end();
});
