# OpsLedger image: one image, two commands (api, process manager); see docker-compose.yml.

# Build: swc and the other dev dependencies compile apps/ and libs/ to dist/.
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci
COPY tsconfig.json nest-cli.json ./
COPY scripts ./scripts
COPY apps ./apps
COPY libs ./libs
RUN npm run build

# Runtime: production dependencies and dist/ only, as the unprivileged node user.
FROM node:20-slim
ENV NODE_ENV=production \
    OPSLEDGER_DATA_DIR=/data \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000
# Exec form: node is PID 1 (compose adds an init), receives SIGTERM and shuts down gracefully.
CMD ["node", "dist/apps/api/src/main.js"]
