# syntax=docker/dockerfile:1
# Build: compile TypeScript with the dev toolchain, then keep production dependencies only.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` (build + tap) runs below, explicitly, without the test toolchain.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json \
 && npm prune --omit=dev --ignore-scripts

# Run: Node 24, no npm, no shell tools beyond the base image, a non-root user.
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["node", "bin/kafka-nodeport-injector"]
CMD ["serve", "--host=0.0.0.0", "--self-managed-certs"]
