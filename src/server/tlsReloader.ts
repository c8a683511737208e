/**
 * SPEC §6 "certificates rotate without restart": watches the serving certificate and key files and
 * swaps them into the running server with `setSecureContext`. Open connections keep the context
 * they were negotiated with; only new handshakes see the new certificate, so nothing in flight
 * fails.
 *
 * The directories are watched, not the files: a Kubernetes Secret volume replaces its `..data`
 * symlink, and editors and `certs` write new files — both break a watch on the old inode. A slow
 * poll covers file systems whose change events are unreliable.
 *
 * Without files (`TlsReloader.fromPair`), pairs arrive through `install()` instead: self-managed
 * certificates read from a Secret (selfManagedCerts.ts) take the same path into the server.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { PemPair } from './certificates.ts';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

/** The part of a TLS server the reloader needs (tls.Server and http2.Http2SecureServer have it). */
export interface SecureContextTarget {
  setSecureContext(options: SecureContextOptions): void;
}

export interface TlsReloaderOptions {
  /** Options every context carries besides cert and key (minVersion…). */
  contextOptions: SecureContextOptions;
  onReload?: (pair: PemPair) => void;
  onError?: (error: Error) => void;
  /** Events come in bursts (key then cert, symlink swaps): wait this long after the first. */
  settleMs?: number;
  pollIntervalMs?: number;
}

/** Reads the pair and proves the key matches the certificate before anyone uses it. */
export async function readTlsPair(
  files: TlsFiles,
  contextOptions: SecureContextOptions = {},
): Promise<PemPair> {
  const [cert, key] = await Promise.all([readFile(files.certFile, 'utf8'), readFile(files.keyFile, 'utf8')]);
  createSecureContext({ ...contextOptions, cert, key });
  return { cert, key };
}

export class TlsReloader {
  /** Where pairs are read from; undefined when they arrive through `install()` only. */
  readonly files: TlsFiles | undefined;
  #options: TlsReloaderOptions;
  #current: PemPair;
  #target: SecureContextTarget | undefined;
  #watchers: FSWatcher[] = [];
  #pending: NodeJS.Timeout | undefined;
  #poll: NodeJS.Timeout | undefined;
  #reloading: Promise<boolean> = Promise.resolve(false);

  private constructor(files: TlsFiles | undefined, options: TlsReloaderOptions, initial: PemPair) {
    this.files = files;
    this.#options = options;
    this.#current = initial;
  }

  /** Fails when the files are missing or do not form a pair: the server must not start without TLS. */
  static async load(files: TlsFiles, options: TlsReloaderOptions): Promise<TlsReloader> {
    const reloader = new TlsReloader(files, options, await readTlsPair(files, options.contextOptions));
    options.onReload?.(reloader.current);
    return reloader;
  }

  /**
   * Starts with `initial` (not reported through `onReload`: it is a stand-in until the first
   * `install()`), and reads no files.
   */
  static fromPair(initial: PemPair, options: TlsReloaderOptions): TlsReloader {
    createSecureContext({ ...options.contextOptions, ...initial });
    return new TlsReloader(undefined, options, initial);
  }

  get current(): PemPair {
    return this.#current;
  }

  /** Starts pushing changes into `target`. */
  watch(target: SecureContextTarget): void {
    this.#target = target;
    if (!this.files) return;
    const names = new Set([basename(this.files.certFile), basename(this.files.keyFile)]);
    for (const dir of new Set([dirname(this.files.certFile), dirname(this.files.keyFile)])) {
      try {
        const watcher = watch(dir, { persistent: false }, (_event, file) => {
          // Other files in the directory (a log, say) are none of our business; `..data` is how a
          // Secret volume swaps its contents; no name means the platform did not say.
          if (file === null || names.has(file) || file.startsWith('..')) this.#schedule();
        });
        watcher.on('error', (error) => this.#options.onError?.(error));
        this.#watchers.push(watcher);
      } catch (error) {
        this.#options.onError?.(error instanceof Error ? error : new Error(String(error)));
      }
    }
    this.#poll = setInterval(() => void this.reload(), this.#options.pollIntervalMs ?? 60_000);
    this.#poll.unref();
  }

  /**
   * One reload `settleMs` after the first event of a burst, not after the last: a file that keeps
   * changing must not postpone the reload forever. A write that lands after the reload read the
   * files sends its own event and gets its own reload.
   */
  #schedule(): void {
    if (this.#pending) return;
    this.#pending = setTimeout(() => {
      this.#pending = undefined;
      void this.reload();
    }, this.#options.settleMs ?? 100);
    this.#pending.unref();
  }

  /**
   * Re-reads the files; true when a new, valid pair was installed. A half-written or mismatched
   * pair is reported and the server keeps the previous one until the next change.
   */
  reload(): Promise<boolean> {
    // Serialised, so two overlapping events cannot install an older read after a newer one.
    this.#reloading = this.#reloading.then(async () => {
      if (!this.files) return false;
      let pair: PemPair;
      try {
        pair = await readTlsPair(this.files, this.#options.contextOptions);
      } catch (error) {
        this.#options.onError?.(error instanceof Error ? error : new Error(String(error)));
        return false;
      }
      return this.#install(pair);
    });
    return this.#reloading;
  }

  /**
   * Installs `pair` for new handshakes; true when it replaced a different one. A pair whose key
   * does not match is reported and refused, and the server keeps the previous one.
   */
  install(pair: PemPair): boolean {
    if (pair.cert === this.#current.cert && pair.key === this.#current.key) return false;
    try {
      createSecureContext({ ...this.#options.contextOptions, ...pair });
    } catch (error) {
      this.#options.onError?.(error instanceof Error ? error : new Error(String(error)));
      return false;
    }
    return this.#install(pair);
  }

  #install(pair: PemPair): boolean {
    if (pair.cert === this.#current.cert && pair.key === this.#current.key) return false;
    this.#target?.setSecureContext({ ...this.#options.contextOptions, ...pair });
    this.#current = pair;
    this.#options.onReload?.(pair);
    return true;
  }

  close(): void {
    clearTimeout(this.#pending);
    clearInterval(this.#poll);
    for (const watcher of this.#watchers) watcher.close();
    this.#watchers = [];
  }
}
