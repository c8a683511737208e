/**
 * Opting a namespace in is a label and a grant: the label sends its objects to the webhook, the
 * grant (a RoleBinding to the shipped ClusterRole, manifests/base/release-reader.yaml) lets the
 * webhook read the namespace's Helm release records, StatefulSets and ConfigMaps — there and
 * nowhere else, so no default manifest reads Secrets cluster-wide.
 */

/** The shipped ClusterRole that a namespace's RoleBinding grants (bound nowhere by default). */
export const RELEASE_READER_ROLE = 'kafka-nodeport-injector-release-reader';
/** The name the README's one-liner gives the RoleBinding. */
export const RELEASE_READER_BINDING = 'kafka-nodeport-injector';

export interface WebhookIdentity {
  namespace: string;
  serviceAccount: string;
}

/** The manifests' defaults. */
export const DEFAULT_WEBHOOK_IDENTITY: WebhookIdentity = {
  namespace: 'kafka-nodeport-injector',
  serviceAccount: 'kafka-nodeport-injector',
};

/** The one command that grants the webhook its reads in `namespace`. */
export function grantCommand(namespace: string, webhook: WebhookIdentity = DEFAULT_WEBHOOK_IDENTITY): string {
  return (
    `kubectl -n ${namespace} create rolebinding ${RELEASE_READER_BINDING} ` +
    `--clusterrole=${RELEASE_READER_ROLE} --serviceaccount=${webhook.namespace}:${webhook.serviceAccount}`
  );
}

/** What the webhook says when a namespace's grant is missing: what it could not read. */
export function missingGrantMessage(namespace: string, what: string): string {
  return `cannot read ${what} in namespace ${namespace}: it has not granted the webhook its reads (decided without them)`;
}
