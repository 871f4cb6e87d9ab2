# syntax=docker/dockerfile:1
# Node 24 (LTS): Node 20 reached end of life in April 2026. package.json's engines stays >=20.6, and CI runs the fast and
# API tests under Node 24 as well (.ci/run).
# Build stage: full install (dev dependencies build the dashboard), then prune to production dependencies.
FROM node:24-bookworm-slim AS build
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
COPY services/client/package.json services/client/
COPY services/dashboard/package.json services/dashboard/
COPY scripts/postinstall.mjs scripts/
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
# tfjs-node's install script downloads libtensorflow; here the network reaches it, so the worker trains natively.
RUN npm rebuild @tensorflow/tfjs-node --foreground-scripts || echo "tfjs-node unavailable: workers use wasm"
# The oneDNN addon (workers then report wasm+onednn); its build prints one line and never fails the image.
RUN npm rebuild @quantlab/native --foreground-scripts
RUN node --import tsx services/client/build.ts && node services/cli/build.mjs && node services/dashboard/build.mjs && npm prune --omit=dev --no-audit --no-fund

# Runtime stage: production dependencies and sources only, as a non-root user.
FROM node:24-bookworm-slim
# The commit this image was built from (no .git inside): every run's provenance.gitCommit records it.
#   docker build --build-arg GIT_COMMIT=$(git rev-parse HEAD) .   (docker-compose.yml passes $GIT_COMMIT)
ARG GIT_COMMIT=""
LABEL org.opencontainers.image.revision=$GIT_COMMIT
ENV NODE_ENV=production QUANTLAB_GIT_COMMIT=$GIT_COMMIT
# libdnnl2: the oneDNN runtime the native kernels link (the headers stay in the build stage).
RUN apt-get update && apt-get install -y --no-install-recommends libdnnl2 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build --chown=node:node /app /app
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "services/api/src/server.ts"]
