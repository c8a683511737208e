/** The `kafka-nodeport-injector` command line: thin doors to the mutation core and the server. */
import { writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { isRecord, stringOr } from '../core/kubeTypes.ts';
import { isUnexposedKafka } from '../core/result.ts';
import { VERSION } from '../version.ts';
import type { mutateManifests } from './manifests.ts';
import {
  addConfigOptions,
  addNamespaceAnnotationsOption,
  parseAnnotationPairs,
  rawConfigFromFlags,
  type ConfigFlags,
} from './options.ts';
import { readInput } from './readInput.ts';
import { registerCertsCommand } from './certs.ts';
import { registerServeCommand } from './serve.ts';

interface InputFlags extends ConfigFlags {
  file?: string;
}

interface ExplainFlags extends InputFlags {
  hostIp?: string[];
  output: string;
  kubeconfig?: string;
  namespace?: string;
  webhookNamespace: string;
}

/**
 * `mutate` and `explain` load their modules (yaml, fast-json-patch) when run: `serve`, the
 * long-running door, never pays for them in memory.
 */
async function loadDocuments(flags: InputFlags): Promise<ReturnType<typeof mutateManifests>> {
  const { mutateManifests } = await import('./manifests.ts');
  const defaults = rawConfigFromFlags(flags);
  const namespaceAnnotations = parseAnnotationPairs(flags.namespaceAnnotations);
  return mutateManifests(await readInput(flags.file), { defaults, namespaceAnnotations });
}

type Documents = ReturnType<typeof mutateManifests>;

/** Denied objects make `mutate` fail, as the API server would refuse them. */
function deniedMessages(documents: Documents): string[] {
  return documents.filter((d) => d.result.decision === 'denied').map((d) => d.result.message);
}

/** One line per Kafka object left unexposed, as the webhook's admission warning says it. */
function unexposedWarnings(documents: Documents): string[] {
  return documents
    .filter((d) => isUnexposedKafka(d.result))
    .map((d) => {
      // An internal error may come from an object of any shape: name it with strings only.
      const object = isRecord(d.object) ? d.object : {};
      const meta = isRecord(object.metadata) ? object.metadata : {};
      return `${stringOr(object.kind, 'object')} ${stringOr(meta.name, '?')} not exposed: ${d.result.message}`;
    });
}

export function buildProgram(): Command {
  const program = new Command('kafka-nodeport-injector')
    .description(
      'Make an unmodified Kafka Helm chart reachable from outside the cluster at <node IP>:<nodePort>',
    )
    .version(VERSION)
    .showHelpAfterError();

  const fileOption = new Option('-f, --file <file>', 'multi-document YAML to read ("-" for stdin)').default(
    '-',
  );

  addNamespaceAnnotationsOption(
    addConfigOptions(
      program
        .command('mutate')
        .description('mutate manifests offline (usable as `helm install --post-renderer`)')
        .addOption(fileOption)
        .option('--strict', 'fail (exit 1, no output) when a Kafka object cannot be exposed')
        .option(
          '--report <file>',
          'also write the outcome, warnings and errors to FILE (Helm 4 shows no post-renderer stderr)',
        ),
    ),
  ).action(async (flags: InputFlags & { strict?: boolean; report?: string }) => {
    const lines: string[] = [];
    try {
      const documents = await loadDocuments(flags);
      const denied = deniedMessages(documents);
      if (denied.length > 0) throw new Error(denied.join('\n'));
      const warnings = unexposedWarnings(documents);
      // stdout stays the manifest: a post-renderer's output is what Helm installs.
      if (flags.strict === true && warnings.length > 0) throw new Error(`--strict: ${warnings.join('\n')}`);
      for (const warning of warnings) {
        lines.push(`warning: ${warning}`);
        process.stderr.write(`kafka-nodeport-injector: warning: ${warning}\n`);
      }
      const mutated = documents.filter((d) => d.result.decision === 'mutated').length;
      lines.push(`ok: ${String(mutated)} of ${String(documents.length)} objects mutated`);
      const { renderManifests } = await import('./manifests.ts');
      process.stdout.write(renderManifests(documents));
    } catch (error) {
      lines.push(`error: ${error instanceof Error ? error.message : String(error)}`);
      throw error;
    } finally {
      if (flags.report !== undefined) {
        await writeFile(flags.report, lines.map((line) => `kafka-nodeport-injector: ${line}\n`).join(''));
      }
    }
  });

  addNamespaceAnnotationsOption(
    addConfigOptions(
      program
        .command('explain')
        .description('show, per object, the decision, the patch and the listener each broker will advertise')
        .addOption(fileOption)
        .option('--host-ip <ip...>', 'node IP of broker 0, 1, … (comma-separated or repeated)')
        .option(
          '--kubeconfig <file>',
          'explain what a live cluster holds instead of a file: per broker pod its node, the address it advertises and the bootstrap list',
        )
        .option('-n, --namespace <ns>', "with --kubeconfig: the namespace (default: the context's)")
        .option(
          '--webhook-namespace <ns>',
          "with --kubeconfig: the webhook's own namespace (never mutated)",
          'kafka-nodeport-injector',
        )
        .addOption(
          new Option('-o, --output <format>', 'text or json').choices(['text', 'json']).default('text'),
        ),
    ),
  ).action(async (flags: ExplainFlags) => {
    if (flags.kubeconfig !== undefined) {
      if (flags.file !== undefined && flags.file !== '-')
        throw new Error('--kubeconfig and -f exclude each other');
      const { explainNamespace } = await import('./explainLive.ts');
      const { formatLiveExplanation } = await import('../core/liveExplanation.ts');
      const live = await explainNamespace(
        { kind: 'file', path: flags.kubeconfig },
        flags.namespace,
        rawConfigFromFlags(flags),
        flags.webhookNamespace,
      );
      process.stdout.write(
        flags.output === 'json' ? `${JSON.stringify(live, null, 2)}\n` : `${formatLiveExplanation(live)}\n`,
      );
      return;
    }
    const documents = await loadDocuments(flags);
    const hostIPs = (flags.hostIp ?? []).flatMap((v) => v.split(',')).filter((v) => v !== '');
    const { explain, formatExplanations } = await import('./explain.ts');
    const explanations = explain(documents, hostIPs);
    process.stdout.write(
      flags.output === 'json'
        ? `${JSON.stringify(explanations, null, 2)}\n`
        : `${formatExplanations(explanations)}\n`,
    );
    // A denied object would be refused by the API server: scripts must see it.
    if (deniedMessages(documents).length > 0) process.exitCode = 1;
  });

  registerServeCommand(program);
  registerCertsCommand(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    process.stderr.write(
      `kafka-nodeport-injector: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exitCode = 1;
  }
}
