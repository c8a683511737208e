/**
 * SPEC §3–4 on every render in ../shared/charts-rendered, judged by effect
 * (test/support/exposureEffect.ts), and idempotent.
 */
import t from 'tap';
import { corpusMissing, renderedCharts } from '../support/corpus.ts';
import { checkExposureEffect, checkSecondPassIsEmpty, NODE_PORT } from '../support/exposureEffect.ts';

const missing = corpusMissing();
if (missing) t.test('chart corpus', { skip: missing }, (t) => t.end());

for (const chart of renderedCharts()) {
  // The corpus README names the variants that turn on the chart's own per-broker NodePorts.
  const expect = chart.name.includes('extNodePort') ? 'already-exposed' : 'exposed';
  t.test(
    `${chart.name}: every broker advertises <its hostIP>:${String(NODE_PORT)} and is reachable through the client Service`,
    (t) => {
      checkExposureEffect(t, chart.text, chart.objects, expect);
      t.end();
    },
  );
  t.test(`${chart.name}: a second mutate pass changes nothing`, (t) => {
    checkSecondPassIsEmpty(t, chart.text);
    t.end();
  });
}
