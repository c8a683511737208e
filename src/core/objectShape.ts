/**
 * The shape the core relies on, checked before any Kafka logic runs. An AdmissionReview may carry
 * anything; an object whose fields have the wrong types is admitted unchanged with a clear reason
 * (which field, what was expected) rather than tripping the core. Only the fields we read are
 * constrained; everything else passes through.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import type { Service, StatefulSet } from './kubeTypes.ts';

// Optional lists and maps may be null: Helm renders an empty value as null and the API server
// treats it as absent.
const string = { type: 'string' };
const optionalString = { type: ['string', 'null'] };
const strings = { type: ['array', 'null'], items: string };
const stringMap = { type: ['object', 'null'], additionalProperties: string };
const objects = { type: ['array', 'null'], items: { type: 'object' } };
const listOf = (items: object): object => ({ type: ['array', 'null'], items });

const metadata = {
  type: 'object',
  properties: { name: optionalString, namespace: optionalString, labels: stringMap, annotations: stringMap },
};

const container = {
  type: 'object',
  required: ['name'],
  properties: {
    name: string,
    image: optionalString,
    command: strings,
    args: strings,
    env: listOf({
      type: 'object',
      required: ['name'],
      properties: {
        name: string,
        value: { type: ['string', 'null'] },
        valueFrom: {
          type: 'object',
          properties: { fieldRef: { type: 'object', properties: { fieldPath: string } } },
        },
      },
    }),
    ports: listOf({
      type: 'object',
      required: ['containerPort'],
      properties: { name: string, containerPort: { type: 'integer' } },
    }),
    volumeMounts: listOf({
      type: 'object',
      required: ['name', 'mountPath'],
      properties: { name: string, mountPath: string, subPath: optionalString },
    }),
  },
};

const statefulSetSchema = {
  type: 'object',
  required: ['spec'],
  properties: {
    metadata,
    spec: {
      type: 'object',
      required: ['template'],
      properties: {
        replicas: { type: 'integer' },
        template: {
          type: 'object',
          required: ['spec'],
          properties: {
            metadata,
            spec: {
              type: 'object',
              required: ['containers'],
              properties: {
                containers: { type: 'array', items: container },
                initContainers: listOf(container),
                nodeSelector: { type: ['object', 'null'], additionalProperties: string },
                affinity: {
                  type: ['object', 'null'],
                  properties: {
                    podAntiAffinity: {
                      type: ['object', 'null'],
                      properties: {
                        requiredDuringSchedulingIgnoredDuringExecution: objects,
                        preferredDuringSchedulingIgnoredDuringExecution: objects,
                      },
                    },
                  },
                },
                volumes: listOf({
                  type: 'object',
                  required: ['name'],
                  properties: {
                    name: string,
                    configMap: {
                      type: ['object', 'null'],
                      properties: {
                        name: optionalString,
                        items: listOf({
                          type: 'object',
                          required: ['key', 'path'],
                          properties: { key: string, path: string },
                        }),
                      },
                    },
                  },
                }),
              },
            },
          },
        },
      },
    },
  },
};

const serviceSchema = {
  type: 'object',
  required: ['spec'],
  properties: {
    metadata,
    spec: {
      type: 'object',
      properties: {
        type: optionalString,
        clusterIP: optionalString,
        externalTrafficPolicy: optionalString,
        selector: stringMap,
        ports: listOf({
          type: 'object',
          required: ['port'],
          properties: {
            name: string,
            port: { type: 'integer' },
            targetPort: { type: ['integer', 'string'] },
            nodePort: { type: ['integer', 'null'] },
          },
        }),
      },
    },
  },
};

const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });
const validators = {
  StatefulSet: ajv.compile<StatefulSet>(statefulSetSchema),
  Service: ajv.compile<Service>(serviceSchema),
};

export type ShapeCheck<T> = { ok: true; object: T } | { ok: false; problem: string };

function check<T>(validate: ValidateFunction<T>, object: unknown): ShapeCheck<T> {
  if (validate(object)) return { ok: true, object };
  const error = validate.errors?.[0];
  const where = error?.instancePath ? error.instancePath.slice(1).replaceAll('/', '.') : 'the object';
  return { ok: false, problem: `${where} ${error?.message ?? 'is malformed'}` };
}

export function checkStatefulSet(object: unknown): ShapeCheck<StatefulSet> {
  return check(validators.StatefulSet, object);
}

export function checkService(object: unknown): ShapeCheck<Service> {
  return check(validators.Service, object);
}
