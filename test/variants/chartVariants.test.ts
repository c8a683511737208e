/**
 * SPEC §3–4 beyond the rendered corpus: value variants of the charts in ../shared/charts rendered
 * with a real `helm template` (the helm the end-to-end tier builds from Go modules), each judged by
 * effect like the corpus (test/support/exposureEffect.ts).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { CHARTS_DIR, corpusMissing } from '../support/corpus.ts';
import { VALUE_VARIANTS as VARIANTS } from '../support/chartVariants.ts';
import { checkExposureEffect, checkSecondPassIsEmpty } from '../support/exposureEffect.ts';

/** The helm binary `npm run setup` built; builds nothing (fails at once naming the set-up). */
function helmBinary(): string {
  const script = new URL('../e2e/build-binaries.sh', import.meta.url).pathname;
  const binDir = execFileSync('bash', [script, '--check'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  return join(binDir, 'helm');
}

const missing = corpusMissing();
if (missing) t.test('chart variants', { skip: missing }, (t) => t.end());
else {
  const helm = helmBinary();
  for (const variant of VARIANTS) {
    const name = `${variant.chart} ${variant.values.filter((v) => v !== '--set').join(' ')}`;
    t.test(`${name} (${variant.why}): ${variant.expect}`, (t) => {
      const text = execFileSync(
        helm,
        ['template', 'my-kafka', join(CHARTS_DIR, variant.chart), '--namespace', 'kafka', ...variant.values],
        { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      );
      const objects = parseAllDocuments(text, { version: '1.1' }).map((d) => d.toJS() as unknown);
      checkExposureEffect(t, text, objects, variant.expect);
      checkSecondPassIsEmpty(t, text);
      t.end();
    });
  }
}
