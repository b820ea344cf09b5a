# The job image for AWS Batch (and any container executor): Node 20 and rapid-ts; its entry
# point is `rapid job run`, which reads the manifest list named by RAPID_MANIFEST_LIST at line
# AWS_BATCH_JOB_ARRAY_INDEX (or takes a manifest URI as its argument).
#   docker build -t rapid-ts .
#   docker run --rm -e RAPID_MANIFEST_LIST=s3://bucket/… -e AWS_BATCH_JOB_ARRAY_INDEX=0 rapid-ts
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts yet: `prepare` compiles the sources, which are not copied until below.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY migrations ./migrations
COPY deploy ./deploy
USER node
ENTRYPOINT ["node", "/app/bin/rapid.js", "job", "run"]
