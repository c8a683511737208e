/**
 * The env families (bitnami's `KAFKA_CFG_*`, the official and Confluent images' `KAFKA_*`): the
 * broker container's env holds the advertised listeners, which the image's entrypoint turns into
 * `advertised.listeners`; the kubelet expands `$(MY_HOST_IP)` in env values. Both families share
 * this one detect → apply, over the names the entrypoint reads (kafkaEnvConfig.ts), so a rule
 * (which listener, when one is added, never a weaker one) holds the same for each.
 *
 * A listener already facing the outside (or a CLIENT one) is rewritten to `$(MY_HOST_IP):<nodePort>`
 * and keeps its bind port. When only the inter-broker listener exists, an `EXTERNAL` listener is
 * added that binds the node port itself, with its protocol-map entry.
 */
import {
  appendListener,
  chooseListener,
  formatAddress,
  parseListeners,
  rewriteParsedListener,
  type Listener,
} from '../advertisedListeners.ts';
import { ensureHostIpEnv, HOST_IP_REFERENCE } from '../downwardEnv.ts';
import type { Container } from '../kubeTypes.ts';
import { pointer } from '../patchBuilder.ts';
import {
  ADDED_LISTENER,
  addedListenerRefusal,
  bindPort,
  defaultInterBrokerListener,
  ensureProtocolMap,
  readKafkaEnv,
  settingName,
  type EnvDialect,
  type KafkaEnv,
  type SettingSource,
} from './kafkaEnvConfig.ts';
import { TEMPLATE_SPEC, unsupported, type WiringInput, type WiringOutcome } from './wiring.ts';

/** Whether the container's entrypoint takes literal advertised listeners from its env (in `dialect`). */
export function advertisesThroughEnv(container: Container, dialect?: EnvDialect): boolean {
  const env = readKafkaEnv(container);
  return (
    (dialect === undefined || env.dialect === dialect) && env.value('ADVERTISED_LISTENERS') !== undefined
  );
}

interface Literal extends SettingSource {
  value: string;
}

/** What detection settled: rewrite a listener the chart has, or add EXTERNAL. */
type EnvPlan =
  { kind: 'rewrite'; listener: Listener; containerPort: number } | { kind: 'add'; bindList: Literal };

interface EnvFindings {
  env: KafkaEnv;
  advertised: Literal;
  listeners: Listener[];
  plan: EnvPlan;
}

const literal = (source: SettingSource | undefined): Literal | undefined =>
  source?.value === undefined ? undefined : { ...source, value: source.value };

/** `controller` alone in the process roles: a KRaft controller, which clients never reach. */
function isControllerOnly(env: KafkaEnv): boolean {
  const roles = env.value('PROCESS_ROLES');
  if (roles === undefined) return false;
  const list = roles.split(',').map((r) => r.trim().toLowerCase());
  return list.includes('controller') && !list.includes('broker');
}

function detect(container: Container, requested: string): EnvFindings | WiringOutcome {
  const env = readKafkaEnv(container);
  if (isControllerOnly(env)) {
    const roles = env.source('PROCESS_ROLES')?.name ?? 'PROCESS_ROLES';
    return { exposed: false, reason: 'not-a-broker', message: `${roles}=controller: a KRaft controller` };
  }
  const advertised = literal(env.source('ADVERTISED_LISTENERS'));
  if (!advertised) return unsupported('no literal advertised listeners in env');
  const listeners = parseListeners(advertised.value);
  const controllers = (env.value('CONTROLLER_LISTENER_NAMES') ?? '')
    .split(',')
    .map((n) => n.trim().toUpperCase());
  const candidates = listeners.filter((l) => !controllers.includes(l.name.toUpperCase()));
  const interBroker = env.value('INTER_BROKER_LISTENER_NAME') ?? defaultInterBrokerListener(listeners);
  const found = `env ${advertised.name}: ${listeners.map((l) => l.name).join(', ') || 'no listener'}`;
  const bindSource = env.source('LISTENERS');

  const chosen = chooseListener(candidates, requested, interBroker);
  if (chosen) {
    const containerPort =
      bindPort(bindSource?.value, chosen.name) ??
      (/^\d+$/.test(chosen.port) ? Number(chosen.port) : undefined);
    if (containerPort === undefined) {
      return unsupported(`${found}; cannot tell which port listener ${chosen.name} binds`);
    }
    return { env, advertised, listeners, plan: { kind: 'rewrite', listener: chosen, containerPort } };
  }
  if (requested !== 'auto' && requested.toUpperCase() !== ADDED_LISTENER) {
    return unsupported(`${found}; no listener ${requested}`);
  }
  const bindList = literal(bindSource);
  if (!bindList) {
    return unsupported(`${found}; no literal ${settingName(env, 'LISTENERS')} to add ${ADDED_LISTENER} to`);
  }
  const refusal = addedListenerRefusal(candidates, env);
  if (refusal) return unsupported(`${found}; ${refusal}`);
  return { env, advertised, listeners, plan: { kind: 'add', bindList } };
}

/** Detects the env wiring of the broker container and exposes the listener it settled on. */
export function exposeThroughEnv(input: WiringInput, family: 'env' | 'image-env'): WiringOutcome {
  const { builder, config, container, index } = input;
  const findings = detect(container, config.listener);
  if (!('plan' in findings)) return findings;
  const { env, advertised, listeners, plan } = findings;
  const containerPath = [...TEMPLATE_SPEC, 'containers', index];
  const address = formatAddress(HOST_IP_REFERENCE, config.nodePort);
  const envPath = (at: number): string => pointer(...containerPath, 'env', at, 'value');

  let name: string;
  let containerPort: number;
  if (plan.kind === 'rewrite') {
    name = plan.listener.name;
    containerPort = plan.containerPort;
    const rewritten = rewriteParsedListener(advertised.value, plan.listener, address);
    if (rewritten !== advertised.value) builder.replace(envPath(advertised.index), rewritten);
  } else {
    name = ADDED_LISTENER;
    containerPort = config.nodePort;
    const bind = `:${String(config.nodePort)}`;
    builder.replace(envPath(plan.bindList.index), appendListener(plan.bindList.value, name, bind));
    builder.replace(envPath(advertised.index), appendListener(advertised.value, name, address));
    ensureProtocolMap(builder, containerPath, container, env, listeners, name);
  }
  const hostEnv = ensureHostIpEnv(builder, containerPath, container, advertised.index);
  if (!hostEnv.ok) return unsupported(hostEnv.message);

  // Changes name the state we guarantee, the same on a second pass over our own output (where
  // the added listener is found, bound on the node port), so the status annotation is stable.
  const added = name === ADDED_LISTENER && containerPort === config.nodePort;
  return {
    exposed: true,
    exposure: {
      family,
      listener: name,
      containerPort,
      advertised: `${name}://${address}`,
      hostReader: { container: 'broker', expandedEnv: advertised.name },
    },
    changes: [
      `env ${advertised.name}: ${name}`,
      ...(added
        ? [
            `env ${settingName(env, 'LISTENERS')}: ${name}`,
            `env ${settingName(env, 'LISTENER_SECURITY_PROTOCOL_MAP')}: ${name}`,
          ]
        : []),
      'env MY_HOST_IP',
    ],
  };
}
