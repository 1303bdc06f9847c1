package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The OCI annotation keys the image carries, as config labels and as
// manifest and index annotations.
const (
	annotationCreated     = "org.opencontainers.image.created"
	annotationVersion     = "org.opencontainers.image.version"
	annotationRevision    = "org.opencontainers.image.revision"
	annotationSource      = "org.opencontainers.image.source"
	annotationTitle       = "org.opencontainers.image.title"
	annotationDescription = "org.opencontainers.image.description"
	annotationLicenses    = "org.opencontainers.image.licenses"
)

// meta is what the image says about where it comes from, and the time that
// every timestamp in it is pinned to.
type meta struct {
	version  string    // stamped into the binary and labelled, e.g. v0.1.0 or b6cc7e3-dirty
	revision string    // the commit, e.g. the full hash
	source   string    // the repository's URL
	licenses string    // an SPDX expression; omitted when empty
	created  time.Time // the commit time: config, history and file times
}

// versionPattern is what a version may be: it goes into -ldflags -X unquoted.
var versionPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)

// validate says what is wrong with m, if anything.
func (m meta) validate() error {
	if !versionPattern.MatchString(m.version) {
		return fmt.Errorf("version %q: expected letters, digits and . _ + - only (e.g. v0.1.0)", m.version)
	}
	if m.revision == "" {
		return fmt.Errorf("revision is empty: expected the commit hash")
	}
	if m.created.IsZero() || m.created.Unix() < 0 {
		return fmt.Errorf("created time %v: expected a time after 1970 (the commit time)", m.created)
	}
	return nil
}

// labels are the config's labels.
func (m meta) labels() map[string]string {
	l := map[string]string{
		annotationVersion:     m.version,
		annotationRevision:    m.revision,
		annotationTitle:       "rgd",
		annotationDescription: "rgd, an engine for ResourceGraphDefinitions",
	}
	if m.source != "" {
		l[annotationSource] = m.source
	}
	if m.licenses != "" {
		l[annotationLicenses] = m.licenses
	}
	return l
}

// annotations are the manifests' and the index's annotations: the labels
// and the created time.
func (m meta) annotations() map[string]string {
	a := maps.Clone(m.labels())
	a[annotationCreated] = m.created.UTC().Format(time.RFC3339)
	return a
}

// metaOverrides are what the caller said; empty fields are asked of git.
type metaOverrides struct {
	version, revision, source, licenses string
	epoch                               string // seconds since 1970; falls back to SOURCE_DATE_EPOCH, then the commit time
}

// resolveMeta fills what overrides leaves empty from the git checkout at dir:
// `git describe --tags --always --dirty`, `git rev-parse HEAD` and the commit
// time of HEAD (after SOURCE_DATE_EPOCH).
func resolveMeta(ctx context.Context, dir string, o metaOverrides) (meta, error) {
	m := meta{version: o.version, revision: o.revision, source: o.source, licenses: o.licenses}
	var err error
	if m.version == "" {
		if m.version, err = git(ctx, dir, "describe", "--tags", "--always", "--dirty"); err != nil {
			return meta{}, fmt.Errorf("the version (pass --version): %w", err)
		}
	}
	if m.revision == "" {
		if m.revision, err = git(ctx, dir, "rev-parse", "HEAD"); err != nil {
			return meta{}, fmt.Errorf("the revision (pass --revision): %w", err)
		}
	}
	epoch := o.epoch
	if epoch == "" {
		epoch = os.Getenv("SOURCE_DATE_EPOCH")
	}
	if epoch == "" {
		if epoch, err = git(ctx, dir, "log", "-1", "--format=%ct"); err != nil {
			return meta{}, fmt.Errorf("the commit time (pass --epoch or SOURCE_DATE_EPOCH): %w", err)
		}
	}
	secs, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return meta{}, fmt.Errorf("epoch %q: expected seconds since 1970", epoch)
	}
	m.created = time.Unix(secs, 0).UTC()
	return m, m.validate()
}

// git runs git in dir and returns its trimmed output.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s in %s: %w: %s", strings.Join(args, " "), dir, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}
