# The siogate gateway binary with its demo page.
#   docker build -t siogate .
#   docker run -p 3000:3000 siogate
FROM node:20-bookworm-slim AS js
WORKDIR /src/js
COPY js/package.json js/package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=dev

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY . .
RUN cd gateway/cmd/gateway && CGO_ENABLED=0 go build -trimpath -o /out/gateway .

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 siogate
COPY --from=build /out/gateway /usr/local/bin/gateway
COPY --from=js /src/js/node_modules/socket.io-client/dist/socket.io.min.js /usr/share/siogate/socket.io.min.js
USER siogate
EXPOSE 3000
ENTRYPOINT ["/usr/local/bin/gateway"]
CMD ["--addr", "0.0.0.0:3000", "--client-js", "/usr/share/siogate/socket.io.min.js"]
