# The rgd image: a static binary on a distroless base, running as non-root.
#   make image IMG=registry.example.com/rgd:v0.1.0
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/rgd ./cmd/rgd

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rgd /rgd
USER 65532:65532
ENTRYPOINT ["/rgd"]
CMD ["controller"]
