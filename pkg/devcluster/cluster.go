package devcluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Options say which parts of the control plane to run and where.
type Options struct {
	// Dir is the state directory (kubeconfig, logs/, etcd/, pki/, kwok/).
	// Empty means a new temporary directory that Stop removes; a given Dir is
	// never removed.
	Dir string
	// Keep reuses the state already in Dir (etcd data, keys, token) instead
	// of starting fresh. Without Keep, devcluster's own entries in Dir are
	// removed first (other files there are left alone).
	Keep bool
	// ControllerManager starts kube-controller-manager (garbage collection,
	// Deployments and ReplicaSets, namespace deletion).
	ControllerManager bool
	// Scheduler starts kube-scheduler.
	Scheduler bool
	// Kwok starts kwok with one fake node (FakeNodeName) and rgd's fast node
	// and pod stages, so that pods run without a kubelet. Pods are only
	// placed on the node when Scheduler is set too.
	Kwok bool
	// BinDir overrides where the binaries are found (see BinDir).
	BinDir string
	// Profiling serves kube-apiserver's /debug/pprof profiles (to the
	// cluster's admin), for measuring where the API server spends its time.
	Profiling bool
	// Log receives one line per step of Start and Stop; nil discards them.
	Log io.Writer
	// StartTimeout bounds how long Start waits for each component to become
	// ready; zero means two minutes.
	StartTimeout time.Duration
	// StopTimeout is how long Stop waits after SIGTERM before it sends
	// SIGKILL to a process; zero means ten seconds.
	StopTimeout time.Duration
}

// Cluster is a running local control plane. Its methods are safe for
// concurrent use.
type Cluster struct {
	opts       Options
	dir        string
	tempDir    bool
	binDir     string
	token      string
	host       string
	kubeconfig string

	mu      sync.Mutex
	procs   []*process // in start order
	stopped bool
	stopErr error
}

// portAttempts is how many times a component is started on new ports when the
// ones picked were taken in the meantime.
const portAttempts = 4

// Start runs the control plane described by opts and returns once the API
// server answers /readyz (and, with Kwok, the fake node is Ready). When it
// fails, everything it started is stopped again. ctx bounds the start only;
// the processes run until Stop.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	opts = withDefaults(opts)
	c := &Cluster{opts: opts, binDir: BinDir(opts.BinDir)}
	if err := CheckBinaries(c.binDir, requiredBinaries(opts)...); err != nil {
		return nil, err
	}
	if err := c.prepareDir(); err != nil {
		return nil, err
	}
	c.kubeconfig = filepath.Join(c.dir, "kubeconfig")
	defer func() {
		if err != nil {
			if stopErr := c.Stop(); stopErr != nil {
				err = errors.Join(err, fmt.Errorf("cleaning up: %w", stopErr))
			}
		}
	}()
	if err := c.prepareState(); err != nil {
		return nil, err
	}
	if err := c.startComponents(ctx); err != nil {
		return nil, err
	}
	c.logf("control plane ready at %s (kubeconfig %s)", c.host, c.kubeconfig)
	return c, nil
}

// withDefaults fills in the zero StartTimeout, StopTimeout and Log.
func withDefaults(opts Options) Options {
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = 10 * time.Second
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	return opts
}

// requiredBinaries lists the binaries opts needs: etcd and kube-apiserver,
// plus those of the optional components it enables.
func requiredBinaries(opts Options) []string {
	need := []string{Etcd, KubeAPIServer}
	if opts.ControllerManager {
		need = append(need, KubeControllerManager)
	}
	if opts.Scheduler {
		need = append(need, KubeScheduler)
	}
	if opts.Kwok {
		need = append(need, Kwok)
	}
	return need
}

// prepareDir sets c.dir: a new temporary directory, or Options.Dir made
// absolute and created, with devcluster's old state removed unless
// Options.Keep is set.
func (c *Cluster) prepareDir() error {
	var err error
	if c.opts.Dir == "" {
		if c.dir, err = os.MkdirTemp("", "rgd-devcluster-"); err != nil {
			return err
		}
		c.tempDir = true
		return nil
	}
	if c.dir, err = filepath.Abs(c.opts.Dir); err != nil {
		return err
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	if !c.opts.Keep {
		if err := resetState(c.dir); err != nil {
			return fmt.Errorf("clearing old state in %s: %w", c.dir, err)
		}
	}
	return nil
}

// prepareState creates the state subdirectories and makes sure the service
// account keys and the admin token exist, setting c.token.
func (c *Cluster) prepareState() error {
	for _, sub := range []string{"logs", "etcd", "pki", filepath.Join("pki", "serving"), "kwok"} {
		if err := os.MkdirAll(c.path(sub), 0o700); err != nil {
			return err
		}
	}
	if err := ensureServiceAccountKeys(c.path("pki", "sa.key"), c.path("pki", "sa.pub")); err != nil {
		return err
	}
	var err error
	c.token, err = ensureAdminToken(c.path("pki", "tokens.csv"))
	return err
}

// startComponents starts etcd and kube-apiserver, writes the kubeconfig,
// starts the optional components Options asks for, and checks that every
// process is still running.
func (c *Cluster) startComponents(ctx context.Context) error {
	etcdURL, err := c.startEtcd(ctx)
	if err != nil {
		return err
	}
	if err := c.startAPIServer(ctx, etcdURL); err != nil {
		return err
	}
	if err := c.writeKubeconfig(); err != nil {
		return err
	}
	if c.opts.ControllerManager {
		if err := c.startControllerManager(); err != nil {
			return err
		}
	}
	if c.opts.Scheduler {
		if err := c.startScheduler(); err != nil {
			return err
		}
	}
	if c.opts.Kwok {
		if err := c.startKwok(ctx); err != nil {
			return err
		}
	}
	return c.checkAlive()
}

// RESTConfig returns a new copy of the admin client configuration.
func (c *Cluster) RESTConfig() *rest.Config {
	return &rest.Config{
		Host:            c.host,
		BearerToken:     c.token,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		QPS:             100,
		Burst:           200,
	}
}

// KubeconfigPath returns the path of the admin kubeconfig (usable by kubectl
// and client-go).
func (c *Cluster) KubeconfigPath() string { return c.kubeconfig }

// Dir returns the state directory.
func (c *Cluster) Dir() string { return c.dir }

// BinDir returns the directory the control-plane binaries were taken from.
func (c *Cluster) BinDir() string { return c.binDir }

// PIDs returns the process ids of the processes the cluster started and that
// have not exited yet.
func (c *Cluster) PIDs() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var pids []int
	for _, p := range c.procs {
		if !p.exited() {
			pids = append(pids, p.pid())
		}
	}
	return pids
}

// Stop ends every process the cluster started, newest first (SIGTERM, then
// SIGKILL after Options.StopTimeout), waits for them, and removes the
// temporary directory (never a Dir given in Options). Calling it again
// returns the first result.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return c.stopErr
	}
	c.stopped = true
	var errs []error
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		c.logf("stopping %s (pid %d)", p.name, p.pid())
		if err := p.stop(c.opts.StopTimeout); err != nil {
			errs = append(errs, err)
		}
	}
	if c.tempDir {
		if err := os.RemoveAll(c.dir); err != nil {
			errs = append(errs, err)
		}
	}
	c.stopErr = errors.Join(errs...)
	return c.stopErr
}

func (c *Cluster) path(elem ...string) string {
	return filepath.Join(append([]string{c.dir}, elem...)...)
}

func (c *Cluster) logf(format string, args ...any) {
	fmt.Fprintf(c.opts.Log, "devcluster: "+format+"\n", args...)
}

// start starts a binary and records it so that Stop ends it.
func (c *Cluster) start(name string, args []string) (*process, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil, errors.New("cluster is stopped")
	}
	p, err := startProcess(name, filepath.Join(c.binDir, name), args, c.path("logs", name+".log"))
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	c.logf("started %s (pid %d), log %s", name, p.pid(), p.logPath)
	return p, nil
}

// checkAlive reports the first process that has exited.
func (c *Cluster) checkAlive() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		if p.exited() {
			return p.exitError()
		}
	}
	return nil
}

// waitFor polls check until it succeeds, a process exits, or the start
// timeout (or ctx) ends.
func (c *Cluster) waitFor(ctx context.Context, what string, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	var last error
	for {
		if err := c.checkAlive(); err != nil {
			return err
		}
		if last = check(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last check: %v)", what, ctx.Err(), last)
		case <-ticker.C:
		}
	}
}

// startEtcd starts etcd on free ports and waits until it is healthy.
func (c *Cluster) startEtcd(ctx context.Context) (string, error) {
	for attempt := 1; ; attempt++ {
		ports, err := freePorts(2)
		if err != nil {
			return "", err
		}
		clientURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
		peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
		p, err := c.start(Etcd, []string{
			"--name=rgd",
			"--data-dir=" + c.path("etcd"),
			"--listen-client-urls=" + clientURL,
			"--advertise-client-urls=" + clientURL,
			"--listen-peer-urls=" + peerURL,
			"--initial-advertise-peer-urls=" + peerURL,
			"--initial-cluster=rgd=" + peerURL,
			"--unsafe-no-fsync=true",
			"--log-level=warn",
		})
		if err != nil {
			return "", err
		}
		err = c.waitFor(ctx, "etcd", func(ctx context.Context) error { return httpOK(ctx, clientURL+"/health", "") })
		if err == nil {
			return clientURL, nil
		}
		if !retryPorts(p, attempt) {
			return "", err
		}
		c.forget(p)
	}
}

// startAPIServer starts kube-apiserver on a free port and waits for /readyz.
func (c *Cluster) startAPIServer(ctx context.Context, etcdURL string) error {
	for attempt := 1; ; attempt++ {
		ports, err := freePorts(1)
		if err != nil {
			return err
		}
		port := strconv.Itoa(ports[0])
		p, err := c.start(KubeAPIServer, []string{
			"--etcd-servers=" + etcdURL,
			"--secure-port=" + port,
			"--bind-address=127.0.0.1",
			// Advertise loopback so that a laptop without a network works; the
			// endpoint reconciler refuses loopback addresses, and nothing in a
			// kubelet-less cluster dials the kubernetes Service anyway.
			"--advertise-address=127.0.0.1",
			"--endpoint-reconciler-type=none",
			"--cert-dir=" + c.path("pki", "serving"),
			"--token-auth-file=" + c.path("pki", "tokens.csv"),
			"--authorization-mode=RBAC",
			"--service-account-issuer=https://kubernetes.default.svc",
			"--service-account-key-file=" + c.path("pki", "sa.pub"),
			"--service-account-signing-key-file=" + c.path("pki", "sa.key"),
			"--service-cluster-ip-range=10.96.0.0/16",
			"--allow-privileged=true",
			"--disable-admission-plugins=ServiceAccount",
			"--profiling=" + strconv.FormatBool(c.opts.Profiling),
		})
		if err != nil {
			return err
		}
		c.host = "https://127.0.0.1:" + port
		err = c.waitFor(ctx, "kube-apiserver /readyz", func(ctx context.Context) error {
			return httpOK(ctx, c.host+"/readyz", c.token)
		})
		if err == nil {
			return nil
		}
		if !retryPorts(p, attempt) {
			return err
		}
		c.forget(p)
	}
}

// retryPorts reports whether p failed because its port was taken and
// another attempt is allowed.
func retryPorts(p *process, attempt int) bool {
	if attempt >= portAttempts || !p.exited() {
		return false
	}
	return p.logContains("address already in use")
}

// forget drops an exited process from the list Stop walks.
func (c *Cluster) forget(p *process) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, q := range c.procs {
		if q == p {
			c.procs = append(c.procs[:i], c.procs[i+1:]...)
			return
		}
	}
}

func (c *Cluster) componentArgs() []string {
	return []string{
		"--kubeconfig=" + c.kubeconfig,
		"--authentication-kubeconfig=" + c.kubeconfig,
		"--authorization-kubeconfig=" + c.kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
	}
}

func (c *Cluster) startControllerManager() error {
	args := append(c.componentArgs(),
		"--service-account-private-key-file="+c.path("pki", "sa.key"),
		"--use-service-account-credentials=false",
		"--controllers=*",
	)
	// The apiserver's self-signed serving certificate is the closest thing to a
	// cluster CA here; it ends up in the kube-root-ca.crt ConfigMaps.
	if ca := c.path("pki", "serving", "apiserver.crt"); fileExists(ca) {
		args = append(args, "--root-ca-file="+ca)
	}
	_, err := c.start(KubeControllerManager, args)
	return err
}

func (c *Cluster) startScheduler() error {
	_, err := c.start(KubeScheduler, c.componentArgs())
	return err
}

// startKwok writes the stages, starts kwok, creates the fake node and waits
// until kwok has made it Ready.
func (c *Cluster) startKwok(ctx context.Context) error {
	stages := c.path("kwok", "stages.yaml")
	if err := os.WriteFile(stages, kwokStages, 0o600); err != nil {
		return err
	}
	if _, err := c.start(Kwok, []string{
		"--kubeconfig=" + c.kubeconfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + kwokNodeAnnotation + "=fake",
		"--node-lease-duration-seconds=40",
		"--server-address=127.0.0.1:0",
		"--config=" + stages,
	}); err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		return err
	}
	if err := createFakeNode(ctx, cs); err != nil {
		return err
	}
	return c.waitFor(ctx, "kwok's node "+FakeNodeName+" to become Ready", func(ctx context.Context) error {
		return nodeReady(ctx, cs)
	})
}

// writeKubeconfig writes the admin kubeconfig (bearer token, TLS verification
// skipped: the serving certificate is self-signed).
func (c *Cluster) writeKubeconfig() error {
	const name = "rgd-dev"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: c.host, InsecureSkipTLSVerify: true}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: c.token}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name, Namespace: "default"}
	cfg.CurrentContext = name
	return clientcmd.WriteToFile(*cfg, c.kubeconfig)
}

// freePorts picks n distinct free loopback ports by binding port 0. They are
// released before use, so a start may still lose a race; callers retry.
func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("picking a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

var probeClient = &http.Client{
	Timeout: 2 * time.Second,
	Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // local self-signed apiserver
		DisableKeepAlives: true,
	},
}

// httpOK GETs url (with a bearer token when given) and expects 200.
func httpOK(ctx context.Context, url, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", url, resp.Status, body)
	}
	return nil
}
