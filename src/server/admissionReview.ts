/**
 * The AdmissionReview envelope, `admission.k8s.io/v1` and `v1beta1`: its JSON schema (checked by
 * fastify before any handler runs), and the response, always in the request's own apiVersion.
 * The two versions carry the same fields; only the apiVersion string differs.
 */
import type { Operation } from 'fast-json-patch';

export const ADMISSION_API_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const;
export type AdmissionApiVersion = (typeof ADMISSION_API_VERSIONS)[number];

export const OPERATIONS = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'] as const;
export type AdmissionOperation = (typeof OPERATIONS)[number];

export interface GroupVersionKind {
  group?: string;
  version?: string;
  kind?: string;
}

export interface AdmissionRequest {
  uid: string;
  kind?: GroupVersionKind;
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: AdmissionOperation;
  userInfo?: { username?: string };
  object?: unknown;
  oldObject?: unknown;
  dryRun?: boolean;
}

export interface AdmissionReviewRequest {
  apiVersion: AdmissionApiVersion;
  kind: 'AdmissionReview';
  request: AdmissionRequest;
}

/** metav1.Status, as much of it as a webhook answer uses. */
export interface AdmissionStatus {
  code: number;
  reason: string;
  message: string;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: AdmissionStatus;
  patchType?: 'JSONPatch';
  /** base64 of the JSON Patch document. */
  patch?: string;
  auditAnnotations?: Record<string, string>;
  warnings?: string[];
}

export interface AdmissionReviewResponse {
  apiVersion: AdmissionApiVersion;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

const stringField = { type: 'string' } as const;

/**
 * Only what the handler relies on is constrained; `object` and `oldObject` are left to the
 * mutation core, which admits anything it does not understand unchanged.
 */
export const admissionReviewSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'request'],
  properties: {
    apiVersion: { type: 'string', enum: [...ADMISSION_API_VERSIONS] },
    kind: { type: 'string', const: 'AdmissionReview' },
    request: {
      type: 'object',
      required: ['uid', 'operation'],
      properties: {
        uid: { type: 'string', minLength: 1, maxLength: 256 },
        kind: {
          type: 'object',
          properties: { group: stringField, version: stringField, kind: stringField },
        },
        subResource: stringField,
        name: stringField,
        namespace: stringField,
        operation: { type: 'string', enum: [...OPERATIONS] },
        userInfo: { type: 'object', properties: { username: stringField } },
        dryRun: { type: 'boolean' },
      },
    },
  },
} as const;

export function encodePatch(patch: Operation[]): string {
  return Buffer.from(JSON.stringify(patch)).toString('base64');
}

export function decodePatch(patch: string): Operation[] {
  return JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as Operation[];
}

/** The answer travels in the request's apiVersion: a v1beta1 caller cannot read v1. */
export function reviewResponse(
  apiVersion: AdmissionApiVersion,
  response: AdmissionResponse,
): AdmissionReviewResponse {
  return { apiVersion, kind: 'AdmissionReview', response };
}

/** controller-runtime's `admission.Denied`: 403 Forbidden with the reason as message. */
export function deniedStatus(message: string): AdmissionStatus {
  return { code: 403, reason: 'Forbidden', message };
}
