# syntax=docker/dockerfile:1
# Build stage: full install (dev dependencies build the dashboard), then prune to production dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ ca-certificates && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY services/shared/package.json services/shared/
COPY services/ml/package.json services/ml/
COPY services/worker/package.json services/worker/
COPY services/api/package.json services/api/
COPY services/cli/package.json services/cli/
COPY services/client/package.json services/client/
COPY services/dashboard/package.json services/dashboard/
COPY scripts/postinstall.mjs scripts/
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
# tfjs-node's install script downloads libtensorflow; here the network reaches it, so the worker trains natively.
RUN npm rebuild @tensorflow/tfjs-node --foreground-scripts || echo "tfjs-node unavailable: workers use wasm"
RUN node --import tsx services/client/build.ts && node services/cli/build.mjs && node services/dashboard/build.mjs && npm prune --omit=dev --no-audit --no-fund

# Runtime stage: production dependencies and sources only, as a non-root user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=node:node /app /app
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "services/api/src/server.ts"]
