/**
 * SPEC §5 `serve`'s default pair: made in certs/ when missing, reused while valid (a client that
 * trusts ca.crt keeps working across restarts), replaced when expiring, mismatched or not valid for
 * the host. Each CA has its own subject, so two of them can share a caBundle during rotation.
 */
import { X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import {
  ensureCertificateSet,
  generateCertificateAuthority,
  generateServingCertificate,
  servingPairProblem,
  serviceDnsNames,
} from '../../src/server/certificates.ts';
import { tempDir } from './helpers.ts';

t.test('the development pair is made once and reused while valid', async (t) => {
  const { dir, remove } = tempDir('ensure');
  t.teardown(remove);
  const first = await ensureCertificateSet(dir, ['localhost', '127.0.0.1']);
  t.equal(first.generated, true);
  const cert = await readFile(first.certFile, 'utf8');
  const again = await ensureCertificateSet(dir, ['localhost', '127.0.0.1']);
  t.equal(again.generated, false, 'reused');
  t.equal(await readFile(again.certFile, 'utf8'), cert);
  const otherHost = await ensureCertificateSet(dir, ['localhost', '127.0.0.1', '10.1.2.3']);
  t.equal(otherHost.generated, true, 'replaced when the listen address is not in it');
  await writeFile(join(dir, 'tls.key'), (await generateCertificateAuthority()).key);
  t.equal(
    (await ensureCertificateSet(dir, ['localhost'])).generated,
    true,
    'replaced when the key does not match',
  );
});

t.test('a pair is judged: key match, expiry, hosts', async (t) => {
  const ca = await generateCertificateAuthority();
  const pair = await generateServingCertificate(ca, { hosts: ['svc.ns.svc', '127.0.0.1'] });
  t.equal(servingPairProblem(pair, ['svc.ns.svc', '127.0.0.1']), undefined);
  t.match(servingPairProblem(pair, ['other']), /not valid for other/);
  t.match(servingPairProblem({ cert: pair.cert, key: ca.key }, []), /key does not belong/);
  t.match(servingPairProblem(pair, [], 400 * 24 * 3600 * 1000), /expires/);
  t.match(servingPairProblem({ cert: 'junk', key: 'junk' }, []), /unreadable/);
  const short = await generateServingCertificate(ca, { hosts: ['x'] }, 1);
  t.match(servingPairProblem(short, ['x'], 2 * 24 * 3600 * 1000), /expires/, 'custom validity honoured');
});

t.test('two CAs never share a subject', async (t) => {
  const [a, b] = await Promise.all([generateCertificateAuthority(), generateCertificateAuthority()]);
  t.not(new X509Certificate(a.cert).subject, new X509Certificate(b.cert).subject);
});

t.test('Service DNS names, as the API server dials them', (t) => {
  t.same(serviceDnsNames('kni', 'tools'), [
    'kni',
    'kni.tools',
    'kni.tools.svc',
    'kni.tools.svc.cluster.local',
  ]);
  t.end();
});
