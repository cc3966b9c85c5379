# The registry on Node 22 LTS (the line .ci/run tests besides Node 20), as compiled JavaScript, with API keys on.
# Not Node 24: from 24.19 Node aborts the process when the SQLite driver (better-sqlite3 below 13, the line the ORM
# uses) has a statement collected by an idle GC, which a SQLite registry does at any moment.
# Build: docker build -t atr .
# Run:   docker run -d --name atr -p 127.0.0.1:8000:8000 -p 127.0.0.1:8443:8443 -v atr-var:/app/var atr
# The first start writes the bootstrap admin key: docker exec atr cat /app/var/admin/admin.key
# Agents that reach the mTLS port by another name than localhost need it in MTLS_HOSTNAMES (-e MTLS_HOSTNAMES=...).
FROM node:22-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY gen ./gen
# npm ci installs everything, TypeScript included, and its prepare script builds dist/; the explicit build says
# so here and is a no-op after it (incremental). Then the dev dependencies go before node_modules is copied.
RUN npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:22-bookworm-slim
WORKDIR /app
# Production refuses to start without API keys, so the port never takes anonymous writes; the bootstrap admin key
# goes to its own directory, which docker-compose.yml mounts as a volume of its own.
ENV NODE_ENV=production ATR_ENV=production API_KEY_ENABLED=true ADMIN_KEY_FILE=/app/var/admin/admin.key \
    HOST=0.0.0.0 PORT=8000 MTLS_PORT=8443
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY proto ./proto
# Every directory a volume is mounted on exists here, owned by the user the server runs as: Docker creates a missing
# mount point owned by root, and a new named volume takes the owner and mode of the directory it is mounted on.
RUN mkdir -p var/pki var/admin var/keys && chown -R node:node var && chmod 0700 var/pki var/admin
USER node
EXPOSE 8000 8443
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "dist/src/cli/bin.js", "serve"]
