package progress

import (
	"context"
	"errors"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
)

// WaitActive reads the named RGDs every interval until each is Active,
// logging each change of an RGD's state (and message). It returns false,
// having logged why, when one is refused or after timeout, and false when
// ctx ends.
func (r *Reader) WaitActive(ctx context.Context, names []string, timeout, interval time.Duration, log func(format string, args ...any)) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	said := map[string]string{}
	for {
		active := 0
		for _, name := range names {
			rgd, err := r.RGD(ctx, name)
			if err != nil {
				continue
			}
			st := Summarize(rgd)
			line := string(st.State)
			if st.Message != "" {
				line += ": " + st.Message
			}
			if st.State != "" && said[name] != line {
				log("ResourceGraphDefinition %s is %s", name, line)
				said[name] = line
			}
			if st.Refused {
				return false
			}
			if st.State == v1alpha1.StateActive {
				active++
			}
		}
		if active == len(names) {
			return true
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				log("the ResourceGraphDefinitions are not Active after %s", timeout)
			}
			return false
		case <-ticker.C:
		}
	}
}

// Watch shows a snapshot of rgds and instances (see Snapshot) through p
// every interval until every instance is ACTIVE or in ERROR, and returns
// them then; it returns nil when ctx ends first.
func (r *Reader) Watch(ctx context.Context, p *Printer, rgds, instances []*unstructured.Unstructured, interval time.Duration) []Instance {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		snap := r.Snapshot(ctx, rgds, instances)
		if ctx.Err() != nil {
			return nil // the reads may have failed for it: nothing to show
		}
		p.Show(Render(snap))
		if done := Settled(snap); done != nil {
			return done
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}
