// Command image builds rgd's container image without a container engine
// (`make image`) and pushes it (`make image-push IMG=...`).
//
// `image build` cross-compiles ./cmd/rgd for each platform (linux/amd64 and
// linux/arm64 by default; CGO off, -trimpath, stripped, no build ID, the
// version stamped into main.version), puts each binary at /rgd in a single
// layer with a minimal /etc/passwd and /etc/group (the user nonroot, 65532),
// /home/nonroot and /tmp, and assembles one OCI image index over the
// platforms. Each image runs as 65532:65532 with Entrypoint ["/rgd"] and
// Cmd ["controller"], and carries the org.opencontainers.image.* labels
// (version, revision, source, title, and licenses when given), which are also
// the manifests' and the index's annotations.
//
// Every timestamp in the image (the config's created time, its history, the
// layer's file times) is the commit time, SOURCE_DATE_EPOCH or --epoch, and
// the layer's entries are sorted with fixed owners and modes, so the same
// commit built with the same Go toolchain gives the same index digest.
//
// It writes two things: an OCI image layout (bin/image/) whose index.json
// names the image index, and an archive (bin/rgd-image.tar) holding that same
// layout plus a docker manifest.json for one platform (the host's by
// default): the layout that `docker save` writes since Docker 25. Docker
// (any version, through manifest.json), podman and containerd (through
// index.json) load it.
//
// `image push` reads the index back from the layout and pushes it, with
// every blob, to a registry, using the credentials of `docker login` or
// `podman login`.
//
// No daemon is involved and nothing is pulled: the image has no base.
package main
