package devcluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// KubernetesVersion is the version of the control-plane binaries devcluster runs.
const KubernetesVersion = "v1.37.2"

// BinariesEnv names the environment variable that points at a directory of
// ready-made control-plane binaries; when set, nothing is built.
const BinariesEnv = "RGD_K8S_BINARIES"

// Names of the binaries devcluster knows how to run.
const (
	Etcd                  = "etcd"
	KubeAPIServer         = "kube-apiserver"
	KubeControllerManager = "kube-controller-manager"
	KubeScheduler         = "kube-scheduler"
	Kubectl               = "kubectl"
	Kwok                  = "kwok"
)

// BinDir returns the directory that holds the control-plane binaries:
// override when not empty, else $RGD_K8S_BINARIES, else
// ${XDG_CACHE_HOME:-$HOME/.cache}/rgd/k8s-v1.37.2 (the directory
// hack/control-plane.sh builds into).
func BinDir(override string) string {
	if override != "" {
		return override
	}
	if dir := os.Getenv(BinariesEnv); dir != "" {
		return dir
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "rgd", "k8s-"+KubernetesVersion)
}

// CheckBinaries reports, in one error, every named binary that is missing or
// not executable in dir, and tells the user how to build them.
func CheckBinaries(dir string, names ...string) error {
	var missing []string
	for _, name := range names {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || info.IsDir() || info.Mode().Perm()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &MissingBinariesError{Dir: dir, Names: missing}
}

// MissingBinariesError says which control-plane binaries are missing and how to get them.
type MissingBinariesError struct {
	Dir   string   // directory that was searched
	Names []string // binaries not found there
}

func (e *MissingBinariesError) Error() string {
	return fmt.Sprintf("control-plane binaries %v not found in %s: build them with `make control-plane` "+
		"(or hack/control-plane.sh; a cold build takes about 10 minutes), or set %s to a directory that has them",
		e.Names, e.Dir, BinariesEnv)
}

// IsMissingBinaries reports whether err says control-plane binaries are missing.
func IsMissingBinaries(err error) bool {
	var m *MissingBinariesError
	return errors.As(err, &m)
}
