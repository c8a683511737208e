/**
 * A stand-in API server for the idle-with-cluster-access figure: plain HTTP on loopback, answering
 * the namespace list (a few namespaces, one opted in) and holding the watch open with nothing to
 * say — what the webhook's namespace informer sees in a quiet cluster. Everything else is 404.
 * Only the memory of `serve` with the Kubernetes client loaded and a watch running is measured with
 * it; no admission uses it.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';

export interface FakeCluster {
  kubeconfig: string;
  /** Namespace lists and watches served so far. */
  requests: () => { lists: number; watches: number };
  close: () => Promise<void>;
}

function namespace(name: string, annotations: Record<string, string> = {}): Record<string, unknown> {
  return { metadata: { name, resourceVersion: '1', annotations } };
}

export async function startFakeCluster(kubeconfigFile: string): Promise<FakeCluster> {
  let lists = 0;
  let watches = 0;
  const open = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'GET' && url.pathname === '/api/v1/namespaces') {
      if (url.searchParams.get('watch') === 'true') {
        watches += 1;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        open.add(res);
        res.on('close', () => open.delete(res));
        return;
      }
      lists += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          kind: 'NamespaceList',
          apiVersion: 'v1',
          metadata: { resourceVersion: '1' },
          items: [
            namespace('default'),
            namespace('kube-system'),
            namespace('kafka', { 'kafka-nodeport-injector/node-port': '31980' }),
          ],
        }),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  writeFileSync(
    kubeconfigFile,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      // Plain HTTP on loopback: @kubernetes/client-node allows it only with TLS checks off.
      `- name: fake\n  cluster:\n    server: http://127.0.0.1:${String(port)}\n    insecure-skip-tls-verify: true`,
      'users:',
      '- name: fake\n  user: {}',
      'contexts:',
      '- name: fake\n  context:\n    cluster: fake\n    user: fake',
      'current-context: fake',
      '',
    ].join('\n'),
  );
  return {
    kubeconfig: kubeconfigFile,
    requests: () => ({ lists, watches }),
    close: () =>
      new Promise((resolve) => {
        for (const res of open) res.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}
