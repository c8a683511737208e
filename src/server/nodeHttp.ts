/**
 * `node:http`, loaded with require() instead of an ESM import. An ESM import builds the module's
 * namespace, which reads every export, and node:http's exports include lazy getters (WebSocket,
 * CloseEvent, MessageEvent) that load Node's bundled undici, for classes the webhook never uses
 * (13 MiB of RSS in a bare process; in `serve`, whose stack touches much of the same code anyway,
 * ~1 MiB of heap). Import what you need of node:http from here; `import type` from node:http
 * directly is free.
 */
import { createRequire } from 'node:module';
import type * as Http from 'node:http';

const http = createRequire(import.meta.url)('node:http') as typeof Http;

export const { STATUS_CODES, createServer, request } = http;
