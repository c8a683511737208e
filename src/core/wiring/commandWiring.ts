/**
 * Command/args family (cp-helm-charts cp-kafka, incubator/kafka, CloudPirates kafka): the broker
 * container's shell script sets `KAFKA_ADVERTISED_LISTENERS=` (Confluent images) or writes
 * `advertised.listeners=` into a properties file (Apache image). The listener list is rewritten in
 * the script text; the kubelet expands `$(MY_HOST_IP)` in command and args before the shell runs.
 * When the advertised host is resolved at start instead, the text refers to the shell's
 * `${MY_HOST_IP}`, which the advertised-host prelude sets before the script runs.
 */
import {
  appendListener,
  chooseListener,
  formatAddress,
  parseListeners,
  rewriteListener,
  type Listener,
} from '../advertisedListeners.ts';
import { hostPreludeLength, resolvesHostAtStart } from '../advertisedHost.ts';
import { ensureHostIpEnv, HOST_IP_ENV, HOST_IP_REFERENCE } from '../downwardEnv.ts';
import type { Container, PodSpec } from '../kubeTypes.ts';
import { pointer } from '../patchBuilder.ts';
import { commandText, envValue } from '../recognizeKafka.ts';
import {
  ADDED_LISTENER,
  addedListenerRefusal,
  defaultInterBrokerListener,
  ensureProtocolMap,
  readKafkaEnv,
  SECURITY_PROTOCOLS,
  settingName,
} from './kafkaEnvConfig.ts';
import { TEMPLATE_SPEC, unsupported, type Wiring, type WiringInput, type WiringOutcome } from './wiring.ts';

const ASSIGNMENT = /(KAFKA_ADVERTISED_LISTENERS=|advertised\.listeners=)/g;

/** A listener list written inside a script, located by offsets in one command/args element. */
interface ScriptList {
  field: 'command' | 'args';
  element: number;
  start: number;
  end: number;
  text: string;
}

/** Reads a listener list up to the first unnested whitespace, quote or shell operator. */
function scanList(text: string, from: number): number {
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    const ch = text.charAt(i);
    if (ch === '(' || ch === '{' || ch === '[') depth++;
    else if ((ch === ')' || ch === '}' || ch === ']') && depth > 0) depth--;
    else if (depth === 0 && /[\s"';&|)]/.test(ch)) return i;
  }
  return text.length;
}

function findScriptLists(container: Container): ScriptList[] {
  const lists: ScriptList[] = [];
  for (const field of ['command', 'args'] as const) {
    const skip = field === 'command' ? hostPreludeLength(container.command) : 0;
    (container[field] ?? []).forEach((text, element) => {
      if (typeof text !== 'string' || element < skip) return;
      for (const match of text.matchAll(ASSIGNMENT)) {
        const start = match.index + match[0].length;
        const end = scanList(text, start);
        lists.push({ field, element, start, end, text: text.slice(start, end) });
      }
    });
  }
  return lists;
}

/** Confluent images derive `listeners` from the advertised list, so a new entry also opens a port. */
function derivesListenersFromAdvertised(container: Container): boolean {
  return (
    commandText(container).includes('/etc/confluent/docker/run') &&
    envValue(container, 'KAFKA_LISTENERS') === undefined
  );
}

/** Kafka's default inter-broker listener is the one named after security.inter.broker.protocol. */
function interBrokerListener(container: Container, listeners: Listener[]): string {
  const explicit = envValue(container, 'KAFKA_INTER_BROKER_LISTENER_NAME');
  if (explicit) return explicit;
  const text = /inter\.broker\.listener\.name=([A-Za-z0-9_]+)/.exec(commandText(container))?.[1];
  if (text) return text;
  return defaultInterBrokerListener(listeners);
}

export const commandWiring: Wiring = {
  family: 'command',

  brokerIndex(spec: PodSpec): number {
    return spec.containers.findIndex((c) => findScriptLists(c).length > 0);
  },

  apply({ builder, config, container, index }: WiringInput): WiringOutcome {
    const lists = findScriptLists(container);
    const first = lists[0];
    if (!first) return unsupported('no advertised listener list in command or args');

    const listeners = parseListeners(first.text);
    const derived = derivesListenersFromAdvertised(container);
    const interBroker = interBrokerListener(container, listeners);
    const chosen = chooseListener(listeners, config.listener, interBroker);
    const addListener = chosen === undefined;
    if (addListener && (!derived || (config.listener !== 'auto' && config.listener !== ADDED_LISTENER))) {
      return unsupported(`no listener to expose in the broker script (listener=${config.listener})`);
    }
    const env = readKafkaEnv(container);
    if (addListener) {
      const refusal = addedListenerRefusal(listeners, env);
      if (refusal)
        return unsupported(`broker script advertises ${listeners.map((l) => l.name).join(', ')}; ${refusal}`);
    }
    const name = chosen?.name ?? ADDED_LISTENER;
    // Confluent binds each advertised listener on its advertised port. Other images keep the
    // chart's bind port: the container port named after the listener (it survives our rewrite of
    // the advertised port), else the port the chart advertised.
    const namedPort = container.ports?.find((p) => p.name?.toUpperCase() === name)?.containerPort;
    const containerPort = derived
      ? config.nodePort
      : (namedPort ?? (chosen && /^\d+$/.test(chosen.port) ? Number(chosen.port) : undefined));
    if (containerPort === undefined)
      return unsupported(`cannot tell which container port listener ${name} binds`);

    const host = resolvesHostAtStart(config) ? `\${${HOST_IP_ENV}}` : HOST_IP_REFERENCE;
    const address = formatAddress(host, config.nodePort);
    const containerPath = [...TEMPLATE_SPEC, 'containers', index];
    // Rewrite every occurrence (a script may set the list in several branches), last first so
    // earlier offsets stay valid.
    const texts = new Map<string, string>();
    for (const list of [...lists].reverse()) {
      const key = `${list.field}/${String(list.element)}`;
      const text = texts.get(key) ?? container[list.field]?.[list.element] ?? '';
      const rewritten = addListener
        ? appendListener(list.text, name, address)
        : findListenerIn(list.text, name)
          ? rewriteListener(list.text, name, address)
          : list.text;
      texts.set(key, text.slice(0, list.start) + rewritten + text.slice(list.end));
    }
    for (const [key, text] of texts) {
      const [field = '', element = ''] = key.split('/');
      if (text !== container[field as 'command' | 'args']?.[Number(element)]) {
        builder.replace(pointer(...containerPath, field, element), text);
      }
    }
    const needsProtocolMap = derived && !SECURITY_PROTOCOLS.includes(name);
    if (needsProtocolMap) ensureProtocolMap(builder, containerPath, container, env, listeners, name);
    const hostEnv = ensureHostIpEnv(builder, containerPath, container);
    if (!hostEnv.ok) return unsupported(hostEnv.message);

    return {
      exposed: true,
      exposure: {
        family: 'command',
        listener: name,
        containerPort,
        advertised: `${name}://${address}`,
        hostReader: { container: 'broker' },
      },
      // Changes name the state we guarantee, not the edits of this pass, so the status annotation
      // is the same bytes when an already-mutated object is admitted again.
      changes: [
        `${first.field} advertised listeners: ${name}`,
        ...(needsProtocolMap ? [`env ${settingName(env, 'LISTENER_SECURITY_PROTOCOL_MAP')}: ${name}`] : []),
        'env MY_HOST_IP',
      ],
    };
  },
};

function findListenerIn(list: string, name: string): boolean {
  return parseListeners(list).some((l) => l.name.toUpperCase() === name.toUpperCase());
}
