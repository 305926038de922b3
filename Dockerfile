# syntax=docker/dockerfile:1
# snaprestore: one static binary (webhook and restore engine) on distroless.
# GOEXPERIMENT=simd: block checksums hashed eight at a time with AVX-512 where the CPU has
# it (restore/internal/batchsha); elsewhere, and on other architectures, crypto/sha512.

FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH GOEXPERIMENT=simd \
    go build -trimpath -ldflags "-s -w" -o /out/snaprestore ./cmd/snaprestore

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/snaprestore /snaprestore
USER 65532:65532
ENTRYPOINT ["/snaprestore"]
CMD ["webhook"]
