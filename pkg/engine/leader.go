package engine

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// LeaderElection makes Run run the engine only while the process holds a
// coordination.k8s.io Lease, so that of several replicas one works and the
// others stand by.
type LeaderElection struct {
	// Namespace of the Lease; "" means the pod's own namespace when the
	// process runs in a cluster, else "default".
	Namespace string
	// LeaseName is the Lease's name (default DefaultLeaseName).
	LeaseName string
	// LeaseDuration, RenewDeadline and RetryPeriod are client-go's
	// leader-election timings (defaults DefaultLeaseDuration,
	// DefaultRenewDeadline and DefaultRetryPeriod).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// serviceAccountNamespaceFile holds the pod's namespace when rgd runs in a cluster.
const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// withDefaults returns l with its unset fields filled in.
func (l LeaderElection) withDefaults(nsFile string) LeaderElection {
	l.Namespace = leaderNamespace(l.Namespace, nsFile)
	if l.LeaseName == "" {
		l.LeaseName = DefaultLeaseName
	}
	l.LeaseDuration = orDefault(l.LeaseDuration, DefaultLeaseDuration)
	l.RenewDeadline = orDefault(l.RenewDeadline, DefaultRenewDeadline)
	l.RetryPeriod = orDefault(l.RetryPeriod, DefaultRetryPeriod)
	return l
}

// leaderNamespace is the Lease's namespace: the one asked for, else the
// pod's, else "default".
func leaderNamespace(asked, nsFile string) string {
	if asked != "" {
		return asked
	}
	if b, err := os.ReadFile(nsFile); err == nil {
		if ns := strings.TrimSpace(string(b)); ns != "" {
			return ns
		}
	}
	return "default"
}

// elect runs leader election in the background until electionCtx ends,
// then closes electionDone. While it holds the Lease it runs the engine,
// which stops on losing the Lease or when ctx ends, whichever comes first.
// electionCtx must end only after the engine has stopped, so that the
// Lease is released (ReleaseOnCancel) once nothing runs.
func (h *host) elect(ctx, electionCtx context.Context, cs kubernetes.Interface, electionDone chan<- struct{}) error {
	l := h.election.withDefaults(serviceAccountNamespaceFile)
	h.election = &l
	elector, err := newElector(cs, l, h.log, func(leadCtx context.Context) {
		runCtx, cancel := context.WithCancel(leadCtx)
		defer cancel()
		defer context.AfterFunc(ctx, cancel)()
		h.start(runCtx)
	})
	if err != nil {
		return err
	}
	go func() {
		defer close(electionDone)
		elector.Run(electionCtx)
	}()
	return nil
}

// newElector builds a Lease-based leader elector that calls lead while it
// holds the Lease and releases it when its context ends.
func newElector(cs kubernetes.Interface, l LeaderElection, log logr.Logger, lead func(context.Context)) (*leaderelection.LeaderElector, error) {
	host, err := os.Hostname()
	if err != nil {
		host = "rgd"
	}
	identity := host + "_" + string(uuid.NewUUID())
	lease := l.Namespace + "/" + l.LeaseName
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: l.Namespace, Name: l.LeaseName},
		Client:     cs.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
	}
	log.Info("leader election", "lease", lease, "identity", identity)
	return leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   l.LeaseDuration,
		RenewDeadline:   l.RenewDeadline,
		RetryPeriod:     l.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            l.LeaseName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				log.Info("became the leader", "lease", lease)
				lead(ctx)
			},
			OnStoppedLeading: func() { log.Info("not leading", "lease", lease) },
			OnNewLeader: func(id string) {
				if id != identity {
					log.Info("another replica leads", "leader", id)
				}
			},
		},
	})
}
