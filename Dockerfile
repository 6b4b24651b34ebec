# The control-plane image: controller, activator and autoscaler, each its own entry point
#   node src/cmd/<component>/main.ts
# Node.js 24 runs the TypeScript sources directly (type stripping): no build step.
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY src ./src
USER 10001:10001
CMD ["node", "src/cmd/controller/main.ts"]
