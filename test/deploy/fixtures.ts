/**
 * The image's final stage as it was before it made the mount points: only /app/var, owned by node, so Docker created
 * /app/var/pki and /app/var/admin owned by root. The tests show their checks would have caught it.
 */
export const IMAGE_WITHOUT_MOUNT_POINTS = `
FROM node:22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8000
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY proto ./proto
RUN mkdir -p var && chown node:node var
USER node
EXPOSE 8000
`;
