# syntax=docker/dockerfile:1
# Build stage: full install (dev dependencies build the dashboard), then prune to production dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /app
# libdnnl-dev: the oneDNN headers the native training kernels (services/native) build against.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ ca-certificates libdnnl-dev && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY services/native/package.json services/native/
COPY services/shared/package.json services/shared/
COPY services/ml/package.json services/ml/
COPY services/worker/package.json services/worker/
COPY services/api/package.json services/api/
COPY services/cli/package.json services/cli/
COPY services/dashboard/package.json services/dashboard/
COPY scripts/postinstall.mjs scripts/
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
# tfjs-node's install script downloads libtensorflow; here the network reaches it, so the worker trains natively.
RUN npm rebuild @tensorflow/tfjs-node --foreground-scripts || echo "tfjs-node unavailable: workers use wasm"
# The oneDNN addon (workers then report wasm+onednn); its build prints one line and never fails the image.
RUN npm rebuild @quantlab/native --foreground-scripts
RUN node services/dashboard/build.mjs && npm prune --omit=dev --no-audit --no-fund

# Runtime stage: production dependencies and sources only, as a non-root user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
# libdnnl2: the oneDNN runtime the native kernels link (the headers stay in the build stage).
RUN apt-get update && apt-get install -y --no-install-recommends libdnnl2 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build --chown=node:node /app /app
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "services/api/src/server.ts"]
