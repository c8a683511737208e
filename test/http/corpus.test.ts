/**
 * The HTTP door and the CLI door agree on every render in ../shared/charts-rendered (STYLE:
 * "a golden case added once is checked through every door"). Each object is sent as an
 * AdmissionReview — CREATE, UPDATE with oldObject, and UPDATE of the already-mutated object — and
 * the JSONPatch in the answer, applied with fast-json-patch, must give exactly what `mutate`
 * (mutateManifests) makes of the object's own single-document YAML. Re-admitting the result
 * yields no patch (SPEC §3 idempotence).
 */
import fastJsonPatch from 'fast-json-patch';
import t from 'tap';
import { stringify } from 'yaml';
import {
  applyResult,
  mutateManifests,
  parseManifests,
  type ManifestDocument,
} from '../../src/cli/manifests.ts';
import type { ReleaseView } from '../../src/core/release.ts';
import { corpusMissing, renderedCharts } from '../support/corpus.ts';
import { postReview, review, testApp } from './helpers.ts';

const missing = corpusMissing();
if (missing !== undefined) {
  t.comment(`SKIPPED corpus round trip: ${missing}`);
  t.pass('corpus round trip', { skip: missing });
} else {
  const charts = renderedCharts();
  t.ok(charts.length > 0, `${charts.length} renders`);
  let requests = 0;
  let patched = 0;
  const started = performance.now();

  for (const [index, chart] of charts.entries()) {
    t.test(chart.name, async (t) => {
      const { app } = await testApp();
      const apiVersion = index % 2 === 0 ? 'admission.k8s.io/v1' : 'admission.k8s.io/v1beta1';
      const objects = chart.objects.filter((o) => o !== null && typeof o === 'object');
      for (const object of objects) {
        const [cli] = mutateManifests(stringify(object, { version: '1.1' }), {
          defaults: {},
          namespaceAnnotations: {},
        });
        if (!cli) throw new Error('no document');
        const expected = applyResult(cli);
        const what = `${(object as { kind: string }).kind} ${(object as { metadata: { name: string } }).metadata.name}`;

        const create = await postReview(app, review(object, { apiVersion }));
        const update = await postReview(
          app,
          review(object, { apiVersion, operation: 'UPDATE', oldObject: expected }),
        );
        const again = await postReview(
          app,
          review(expected, { apiVersion, operation: 'UPDATE', oldObject: expected }),
        );
        requests += 3;

        for (const [name, answer] of [
          ['CREATE', create],
          ['UPDATE', update],
        ] as const) {
          t.equal(answer.review.apiVersion, apiVersion, `${what} ${name}: apiVersion`);
          t.equal(
            answer.review.response.allowed,
            cli.result.decision !== 'denied',
            `${what} ${name}: allowed`,
          );
          const after =
            answer.patch.length === 0
              ? object
              : fastJsonPatch.applyPatch(structuredClone(object), answer.patch, true, false).newDocument;
          t.same(after, expected, `${what} ${name}: patched object equals the CLI's`);
        }
        if (create.patch.length > 0) patched += 1;
        t.same(again.patch, [], `${what}: re-admitting the mutated object yields no patch`);
      }
    });
  }

  // A Service is decided from its release: on `helm install` from Helm's release record (the
  // whole render, written before any object, so Services arriving first see their brokers); on a
  // `helm upgrade` without a record, from the cluster, which then holds the mutated StatefulSets
  // (and the ConfigMaps a start script comes from).
  // Either way the Service must end as `mutate` makes it from the whole render.
  const views: [string, (whole: ManifestDocument[], chart: { text: string }) => ReleaseView][] = [
    [
      "Services before any StatefulSet, with Helm's release record",
      (_whole, chart) => ({ objects: parseManifests(chart.text).map((d) => d.object), complete: true }),
    ],
    [
      "Services with the release's mutated StatefulSets in the cluster",
      (whole) => ({
        objects: whole
          .filter((d) =>
            ['StatefulSet', 'Service', 'ConfigMap'].includes(
              (d.object as { kind?: string } | null)?.kind ?? '',
            ),
          )
          .map(applyResult),
        complete: false,
      }),
    ],
  ];
  for (const chart of charts) {
    for (const [how, view] of views) {
      t.test(`${chart.name}: ${how}`, async (t) => {
        const whole = mutateManifests(chart.text, { defaults: {}, namespaceAnnotations: {} });
        const release = view(whole, chart);
        const { app } = await testApp({ release: () => Promise.resolve(release) });
        for (const document of whole.filter(
          (d) => (d.object as { kind?: string } | null)?.kind === 'Service',
        )) {
          const object = document.object as { metadata: { name: string } };
          const answer = await postReview(app, review(object, { operation: 'UPDATE', oldObject: object }));
          requests += 1;
          const after =
            answer.patch.length === 0
              ? object
              : fastJsonPatch.applyPatch(structuredClone(object), answer.patch, true, false).newDocument;
          t.same(after, applyResult(document), `Service ${object.metadata.name} (${document.result.reason})`);
        }
      });
    }
  }

  t.teardown(() => {
    const ms = performance.now() - started;
    t.comment(`${requests} AdmissionReviews (${patched} objects patched) in ${Math.round(ms)} ms`);
  });
}
