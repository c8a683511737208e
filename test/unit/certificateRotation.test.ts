/**
 * SPEC §6 "certificates rotate without restart", self-managed: every step of a rotation as
 * certificateRotation.ts decides it, from the Secret and the webhook configuration as read. The
 * same steps against a real API server, with two replicas and load: test/e2e/self-managed-certs.ts.
 */
import t from 'tap';
import { generateCertificateSet, type CertificateSet } from '../../src/server/certificates.ts';
import {
  ROTATION_ANNOTATIONS as A,
  SECRET_KEYS,
  freshContent,
  nextStep,
  previousCaDropped,
  promoted,
  renewalTime,
  servingPair,
  splitBundle,
  staged,
  type PublishedBundle,
  type RotationPolicy,
  type TlsSecret,
} from '../../src/server/certificateRotation.ts';

const HOSTS = ['svc', 'svc.ns', 'svc.ns.svc', 'svc.ns.svc.cluster.local', '127.0.0.1'];
const HOUR = 3_600_000;
const POLICY: RotationPolicy = {
  hosts: HOSTS,
  validityMs: 30 * 24 * HOUR,
  propagationDelayMs: 30_000,
  graceMs: 300_000,
};
const UID = 'secret-uid';

const set = (hosts = HOSTS, validityMs = POLICY.validityMs): Promise<CertificateSet> =>
  generateCertificateSet({ hosts }, validityMs);

function secretOf(content: Omit<TlsSecret, 'uid'>): TlsSecret {
  return { uid: UID, ...content };
}

/** The webhook configuration after a replica published `secret`'s bundle at `at`, for `entries` webhooks. */
function publishedFrom(secret: TlsSecret, at: Date, entries = 2): PublishedBundle {
  return {
    bundles: Array.from({ length: entries }, () => secret.data[SECRET_KEYS.bundle] ?? ''),
    annotations: {
      [A.bundleFrom]: `${secret.uid}/${secret.annotations[A.generation] ?? ''}`,
      [A.publishedAt]: at.toISOString(),
    },
  };
}

const later = (from: Date, ms: number): Date => new Date(from.getTime() + ms);

t.test('a new Secret: its CA is published on every webhook entry, then nothing until renewal', async (t) => {
  const first = await set();
  const secret = secretOf(freshContent(first, 1));
  const now = new Date();
  t.same(servingPair(secret), first.serving, 'serves the pair it holds');
  t.same(splitBundle(secret.data[SECRET_KEYS.bundle]), splitBundle(first.ca.cert), 'the bundle is its CA');

  const unpublished: PublishedBundle = { bundles: ['', ''], annotations: {} };
  t.same(nextStep(secret, unpublished, POLICY, now), {
    kind: 'publish',
    bundle: splitBundle(first.ca.cert).join(''),
    from: `${UID}/1`,
  });
  const step = nextStep(secret, publishedFrom(secret, now), POLICY, now);
  t.equal(step.kind, 'wait');
  if (step.kind === 'wait') {
    t.same(step.until, renewalTime([first.serving.cert, first.ca.cert], POLICY.validityMs));
    const lifetime = step.until?.getTime() ?? 0;
    t.ok(
      Math.abs(lifetime - now.getTime() - (2 / 3) * POLICY.validityMs) < 5_000,
      'renewal at 2/3 of the lifetime, counted from when the pair was made',
    );
  }
});

t.test('one entry with a stale caBundle is published again', async (t) => {
  const secret = secretOf(freshContent(await set(), 1));
  const webhook = publishedFrom(secret, new Date());
  webhook.bundles[1] = 'someone else';
  t.equal(nextStep(secret, webhook, POLICY, new Date()).kind, 'publish');
});

t.test('without a webhook configuration the Secret is still served, and nothing is published', async (t) => {
  const secret = secretOf(freshContent(await set(), 1));
  t.equal(nextStep(secret, undefined, POLICY, new Date()).kind, 'wait');
});

t.test(
  'a full rotation: stage (old + new CA trusted), publish, promote after the propagation delay, drop the old CA after the grace period',
  async (t) => {
    const old = await set();
    const next = await set();
    let secret = secretOf(freshContent(old, 1));
    secret.annotations[A.rotate] = 'now';
    const t0 = new Date();

    const stage = nextStep(secret, publishedFrom(secret, t0), POLICY, t0);
    t.match(stage, { kind: 'stage', hosts: HOSTS }, 'the rotate annotation asks for one');
    secret = secretOf(staged(secret, next));
    t.equal(secret.annotations[A.rotate], undefined, 'the request is consumed');
    t.equal(secret.annotations[A.generation], '2');
    t.same(servingPair(secret), old.serving, 'still serving the old pair');
    t.same(
      splitBundle(secret.data[SECRET_KEYS.bundle]),
      [...splitBundle(old.ca.cert), ...splitBundle(next.ca.cert)],
      'old and new CA trusted',
    );

    // The webhook configuration still has generation 1: publish first, promote later.
    t.match(nextStep(secret, publishedFrom(secretOf(freshContent(old, 1)), t0), POLICY, t0), {
      kind: 'publish',
      from: `${UID}/2`,
    });
    const publishedAt = later(t0, 1000);
    const webhook = publishedFrom(secret, publishedAt);
    t.same(
      nextStep(secret, webhook, POLICY, later(publishedAt, 29_000)),
      {
        kind: 'wait',
        until: later(publishedAt, POLICY.propagationDelayMs),
        reason: 'the API server may not trust the new CA yet',
      },
      'not before the API server can have loaded the new caBundle',
    );
    const promoteAt = later(publishedAt, POLICY.propagationDelayMs);
    t.same(nextStep(secret, webhook, POLICY, promoteAt), { kind: 'promote' });
    t.same(nextStep(secret, undefined, POLICY, promoteAt), {
      kind: 'wait',
      until: undefined,
      reason: 'the new CA is not published yet',
    });

    secret = secretOf(promoted(secret, promoteAt, POLICY.graceMs));
    t.same(servingPair(secret), next.serving, 'serving the new pair');
    t.equal(secret.data[SECRET_KEYS.nextCert], undefined, 'nothing staged any more');
    t.equal(splitBundle(secret.data[SECRET_KEYS.bundle]).length, 2, 'the old CA is still trusted');
    const dropAt = later(promoteAt, POLICY.graceMs);
    t.same(nextStep(secret, webhook, POLICY, later(dropAt, -1)), {
      kind: 'wait',
      until: dropAt,
      reason: 'replicas may still serve the previous certificate',
    });
    secret.annotations[A.rotate] = 'again';
    t.equal(
      nextStep(secret, webhook, POLICY, later(dropAt, -1)).kind,
      'wait',
      'another rotation waits until the previous CA is gone',
    );
    t.same(nextStep(secret, webhook, POLICY, dropAt), { kind: 'drop-previous-ca' });

    secret = secretOf(previousCaDropped(secret));
    t.same(splitBundle(secret.data[SECRET_KEYS.bundle]), splitBundle(next.ca.cert), 'only the new CA');
    t.equal(secret.annotations[A.generation], '3');
    t.equal(secret.annotations[A.previousCaUntil], undefined);
    t.match(nextStep(secret, webhook, POLICY, dropAt), { kind: 'publish', from: `${UID}/3` });
    t.match(
      nextStep(secret, publishedFrom(secret, dropAt), POLICY, dropAt),
      { kind: 'stage' },
      'the annotation set meanwhile is honoured once the previous CA is gone',
    );
  },
);

t.test('a replica that read an older Secret never publishes it over a newer one', async (t) => {
  const secret = secretOf(freshContent(await set(), 3));
  const newer = publishedFrom({ ...secret, annotations: { [A.generation]: '4' } }, new Date());
  t.match(nextStep(secret, newer, POLICY, new Date()), {
    kind: 'wait',
    reason: 'our read of the Secret is stale',
  });
  const otherSecret = publishedFrom(
    { ...secret, uid: 'recreated', annotations: { [A.generation]: '9' } },
    new Date(),
  );
  t.match(
    nextStep(secret, otherSecret, POLICY, new Date()),
    { kind: 'publish' },
    'a recreated Secret (another uid) starts its own count',
  );
});

t.test('renewal when due, and sooner when --cert-validity was shortened', async (t) => {
  const pair = await set(HOSTS, 90_000);
  const secret = secretOf(freshContent(pair, 1));
  const policy = { ...POLICY, validityMs: 90_000, propagationDelayMs: 1000, graceMs: 1000 };
  const renewAt = renewalTime([pair.serving.cert, pair.ca.cert], policy.validityMs);
  const webhook = publishedFrom(secret, new Date());
  t.match(nextStep(secret, webhook, policy, later(renewAt, -1)), { kind: 'wait', until: renewAt });
  t.match(nextStep(secret, webhook, policy, renewAt), { kind: 'stage', reason: /^due since/ });

  const longLived = await set(HOSTS, 365 * 24 * HOUR);
  const shortened = renewalTime([longLived.serving.cert], HOUR).getTime() - Date.now();
  t.ok(shortened < HOUR, 'a year-long pair is renewed within 2/3 of the new, shorter validity');
});

t.test('a pair without a wanted host is rotated, keeping the hosts it had', async (t) => {
  const secret = secretOf(freshContent(await set(['svc', 'old.example']), 1));
  const step = nextStep(secret, publishedFrom(secret, new Date()), POLICY, new Date());
  t.match(step, { kind: 'stage', reason: /not valid for svc.ns/ });
  if (step.kind === 'stage') t.same(step.hosts, [...HOSTS, 'old.example']);
});

t.test('unusable content is replaced at once', async (t) => {
  const good = secretOf(freshContent(await set(), 1));
  const other = await set();
  const cases: [string, TlsSecret][] = [
    ['no data', secretOf({ data: {}, annotations: {} })],
    ['a key that does not match', { ...good, data: { ...good.data, [SECRET_KEYS.key]: other.serving.key } }],
    ['no CA', { ...good, data: { ...good.data, [SECRET_KEYS.caCert]: '' } }],
    ['a bundle without its CA', { ...good, data: { ...good.data, [SECRET_KEYS.bundle]: other.ca.cert } }],
  ];
  for (const [name, secret] of cases) {
    t.equal(nextStep(secret, undefined, POLICY, new Date()).kind, 'replace', name);
  }
  const expired = await set(HOSTS, 1);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  t.equal(
    nextStep(secretOf(freshContent(expired, 1)), undefined, POLICY, new Date()).kind,
    'replace',
    'an expired pair',
  );
});
