/**
 * The families that can only edit listeners once the chart's own start-up code has run
 * (script-export, start-script render) replace the container command with `<shell> -c <ours>`,
 * followed by the chart's command, kept for the record and for a later admission to find.
 */
import { peelHostPrelude } from '../advertisedHost.ts';
import { ensureHostIpEnv } from '../downwardEnv.ts';
import type { Container } from '../kubeTypes.ts';
import { pointer } from '../patchBuilder.ts';
import { INJECTED_MARKER } from './shellSnippets.ts';
import { TEMPLATE_SPEC, unsupported, type Exposure, type WiringInput, type WiringOutcome } from './wiring.ts';

/** The chart's command as it wrote it, whether or not `shell` already wraps it. */
export function originalCommand(container: Container, shell: string): string[] {
  const command = peelHostPrelude(container.command);
  const wrapped = command[0] === shell && command[1] === '-c' && command[2]?.startsWith(INJECTED_MARKER);
  return wrapped ? command.slice(3) : command;
}

/** Wraps the chart's command in `script` (run by `shell`) and gives the container `MY_HOST_IP`. */
export function wrapCommand(
  { builder, config, container, index }: WiringInput,
  shell: string,
  script: string,
  exposure: Omit<Exposure, 'advertised' | 'hostReader'>,
  change: string,
): WiringOutcome {
  const desired = [shell, '-c', script, ...originalCommand(container, shell)];
  const containerPath = [...TEMPLATE_SPEC, 'containers', index];
  // Under the advertised-host prelude, when there is one: that step wraps what we leave here.
  if (JSON.stringify(desired) !== JSON.stringify(peelHostPrelude(container.command))) {
    builder.replace(pointer(...containerPath, 'command'), desired);
  }
  const env = ensureHostIpEnv(builder, containerPath, container);
  if (!env.ok) return unsupported(env.message);
  return {
    exposed: true,
    exposure: {
      ...exposure,
      advertised: `${exposure.listener}://$(MY_HOST_IP):${String(config.nodePort)}`,
      hostReader: { container: 'broker' },
    },
    changes: [change, 'env MY_HOST_IP'],
  };
}
