/**
 * Helm's release record: the Secret `sh.helm.release.v1.<release>.v<N>` (labels `owner=helm`,
 * `name=<release>`, `version=<N>`, `status=…`) that Helm 3 and Helm 4 write, with the whole
 * rendered manifest, *before* they create any object of the install, upgrade or rollback. Reading
 * it lets the webhook decide a Service as `mutate` decides the whole release, whatever order the
 * objects arrive in, and every replica reads the same record.
 *
 * Pure: picking the record among a list and decoding it. The content is never logged, and of the
 * manifest only the kinds the core decides from are kept (a chart's own Secrets are not).
 */
import { gunzipSync } from 'node:zlib';
import { isRecord } from '../core/kubeTypes.ts';

export const RELEASE_NAME_ANNOTATION = 'meta.helm.sh/release-name';
export const RELEASE_NAMESPACE_ANNOTATION = 'meta.helm.sh/release-namespace';

/** What is read of each listed Secret: labels and the `release` key, base64 as the API sends it. */
export interface ReleaseRecordItem {
  name: string;
  labels: Record<string, string>;
  /** `data.release` of the Secret (base64 of Helm's own base64 of gzipped JSON). */
  release?: string;
}

/** The helm release an object belongs to, from the annotations Helm sets on every object. */
export function helmReleaseOf(object: unknown, namespace: string): string | undefined {
  if (!isRecord(object) || !isRecord(object.metadata)) return undefined;
  const annotations = object.metadata.annotations;
  if (!isRecord(annotations)) return undefined;
  const name = annotations[RELEASE_NAME_ANNOTATION];
  const releaseNamespace = annotations[RELEASE_NAMESPACE_ANNOTATION];
  if (typeof name !== 'string' || name === '') return undefined;
  if (typeof releaseNamespace === 'string' && releaseNamespace !== namespace) return undefined;
  return name;
}

/** The label selector that lists one release's records. */
export function releaseRecordSelector(release: string): string {
  return `owner=helm,name=${release}`;
}

const PENDING = new Set(['pending-install', 'pending-upgrade', 'pending-rollback']);

/**
 * The record of the revision being applied: the newest pending one (Helm marks the revision it is
 * installing, upgrading to or rolling back to as pending until it is done), else the newest.
 */
export function currentRecord(items: ReleaseRecordItem[]): ReleaseRecordItem | undefined {
  const version = (item: ReleaseRecordItem): number => Number(item.labels['version'] ?? 0) || 0;
  const newestFirst = [...items].sort((a, b) => version(b) - version(a));
  return newestFirst.find((item) => PENDING.has(item.labels['status'] ?? '')) ?? newestFirst[0];
}

const GZIP_MAGIC = [0x1f, 0x8b];
/** Far above any chart's manifest; a record that inflates beyond it is refused, not read. */
const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

/** The rendered manifest a record holds. Throws on anything that is not a Helm release record. */
export function decodeReleaseManifest(item: ReleaseRecordItem): string {
  if (item.release === undefined) throw new Error(`release record ${item.name} has no release data`);
  // The API server base64-encodes Secret data; Helm's own value inside is base64 again.
  const helmEncoded = Buffer.from(item.release, 'base64').toString('latin1');
  let bytes = Buffer.from(helmEncoded, 'base64');
  if (bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1])
    bytes = gunzipSync(bytes, { maxOutputLength: MAX_MANIFEST_BYTES });
  const release: unknown = JSON.parse(bytes.toString('utf8'));
  if (!isRecord(release) || typeof release.manifest !== 'string') {
    throw new Error(`release record ${item.name} holds no manifest`);
  }
  return release.manifest;
}

/** The kinds of a release the core decides from (core release.ts, configMaps.ts). */
const DECIDING_KINDS = new Set(['StatefulSet', 'Service', 'ConfigMap']);

/** A record's StatefulSets, Services and ConfigMaps. Throws as `decodeReleaseManifest` does. */
export async function releaseObjects(item: ReleaseRecordItem): Promise<unknown[]> {
  const manifest = decodeReleaseManifest(item);
  // Loaded by the records' watch at start-up (releaseRecords.ts); here it is already in memory.
  const { parseAllDocuments } = await import('yaml');
  return parseAllDocuments(manifest, { version: '1.1' })
    .map((doc) => doc.toJS() as unknown)
    .filter(
      (object) => isRecord(object) && typeof object.kind === 'string' && DECIDING_KINDS.has(object.kind),
    );
}

/** The shape of a chart's manifest, small: what warms the parser the first record meets. */
const SAMPLE_MANIFEST = `---
apiVersion: v1
kind: Service
metadata:
  name: sample
  labels: { app.kubernetes.io/name: kafka, app.kubernetes.io/instance: sample }
spec:
  type: ClusterIP
  ports:
    - name: tcp-client
      port: 9092
      targetPort: kafka-client
  selector: { app.kubernetes.io/name: kafka }
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: sample
spec:
  replicas: 3
  template:
    spec:
      containers:
        - name: kafka
          image: "docker.io/bitnami/kafka:3.9"
          command: ["/scripts/setup.sh"]
          env:
            - name: MY_POD_NAME
              valueFrom:
                fieldRef: { fieldPath: metadata.name }
            - name: KAFKA_CFG_LISTENERS
              value: "INTERNAL://:9093,CLIENT://:9092"
            - name: KAFKA_CFG_ADVERTISED_LISTENERS
              value: "INTERNAL://$(MY_POD_NAME).sample-headless:9093,CLIENT://$(MY_POD_NAME).sample-headless:9092"
            - name: KAFKA_CFG_LISTENER_SECURITY_PROTOCOL_MAP
              value: "INTERNAL:PLAINTEXT,CLIENT:PLAINTEXT"
            - name: KAFKA_CFG_INTER_BROKER_LISTENER_NAME
              value: INTERNAL
            - name: ALLOW_PLAINTEXT_LISTENER
              value: yes
          ports:
            - { name: kafka-client, containerPort: 9092 }
          volumeMounts:
            - { name: data, mountPath: /bitnami/kafka }
      volumes:
        - name: scripts
          configMap: { name: sample-scripts, defaultMode: 0755 }
`;

/**
 * Parses the sample until the parser's code is compiled (a cold parser takes ~40 ms for a 15 KB
 * manifest, a warm one ~7 ms: the first record read may be on an admission's path); its objects,
 * for warming what decides from them.
 */
export async function warmDecoder(rounds = 40): Promise<unknown[]> {
  const { parseAllDocuments } = await import('yaml');
  let objects: unknown[] = [];
  for (let i = 0; i < rounds; i += 1)
    objects = parseAllDocuments(SAMPLE_MANIFEST, { version: '1.1' }).map((doc) => doc.toJS() as unknown);
  return objects;
}
