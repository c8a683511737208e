# syntax=docker/dockerfile:1
# The base: the official Node 24 image, or one made without a registry (test/image/base.sh).
ARG BASE=node:24-bookworm-slim
# Build: compile TypeScript with the dev toolchain, then keep production dependencies only.
FROM ${BASE} AS build
# Only where the registry is reached through a TLS-intercepting proxy: its CA, mounted at build time.
ARG NODE_EXTRA_CA_CERTS
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` (build + tap) runs below, explicitly, without the test toolchain.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json \
 && npm prune --omit=dev --ignore-scripts

# Run: Node 24, no shell tools beyond the base image, a non-root user.
FROM ${BASE}
WORKDIR /app
ENV NODE_ENV=production
# A small young generation keeps resident memory low under load (see manifests/base/deployment.yaml).
ENV NODE_OPTIONS=--max-semi-space-size=1
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["node", "bin/kafka-nodeport-injector"]
# With no arguments: a development pair (in memory: the root file system is read-only) on :8443.
# The Deployment passes its own args (self-managed certificates from the cluster).
CMD ["serve", "--host=0.0.0.0"]
