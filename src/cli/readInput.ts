import { readFile } from 'node:fs/promises';

/** `-f FILE`, or standard input for `-f -` or no flag (Helm's post-renderer pipes the manifests in). */
export async function readInput(file: string | undefined): Promise<string> {
  if (file !== undefined && file !== '-') return readFile(file, 'utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
