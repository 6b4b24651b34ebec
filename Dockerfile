# One image for the control-plane components; each runs its own entry point:
#   node src/cmd/<component>/main.ts
# Node 24 runs the TypeScript sources directly (type stripping), so there is no build step.
FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY src ./src
COPY runtimes ./runtimes
USER 10001:10001
ENTRYPOINT []
CMD ["node", "src/cmd/controller/main.ts"]
