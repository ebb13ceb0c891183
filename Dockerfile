# syntax=docker/dockerfile:1
# Coffer in a container: one process, data in the /data volume, S3/KMS/IAM/STS and the
# console on port 9000. Build: docker build -t coffer .   Run: see README ("Container").

ARG NODE_IMAGE=node:22-bookworm-slim

# Production dependencies only. Nothing compiles: better-sqlite3 13 ships prebuilt N-API
# binaries (glibc and musl, x64 and arm64) in its npm package.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# The build: every dependency, then tsc and the console's assets.
FROM deps AS build
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/ scripts/
COPY src/ src/
COPY test/ test/
COPY bench/ bench/
COPY fuzz/ fuzz/
RUN npm run build --silent

# The runtime: Node, production node_modules, the compiled server and console.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    COFFER_ADDRESS=0.0.0.0 \
    COFFER_PORT=9000 \
    COFFER_DATA_DIR=/data \
    COFFER_LOG_LEVEL=info
RUN groupadd --system --gid 10001 coffer \
 && useradd --system --uid 10001 --gid coffer --home-dir /data --no-create-home --shell /usr/sbin/nologin coffer \
 && mkdir -p /data && chown coffer:coffer /data && chmod 700 /data
WORKDIR /app
COPY --from=deps /app/node_modules/ node_modules/
COPY --from=build /app/dist/src/ dist/src/
COPY --from=build /app/dist/console/ dist/console/
COPY package.json README.md LICENSE ./
RUN ln -s /app/dist/src/cli/main.js /usr/local/bin/coffer
USER coffer
VOLUME /data
EXPOSE 9000
# /health/ready answers 200 once every store is open; the image has no curl, so Node's fetch.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.COFFER_PORT||9000)+'/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Node is PID 1: coffer handles SIGTERM itself (drains requests for COFFER_SHUTDOWN_GRACE_SECONDS).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["server"]
