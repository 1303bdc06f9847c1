package registrar

import (
	"errors"
	"fmt"
	"strings"

	"github.com/rgd-dev/rgd/pkg/crdgen"
)

// ErrNotOwned is returned (wrapped) when a CRD of the requested name exists
// but was not created by rgd or kro (it lacks the kro.run/owned=true label).
// Such a CRD is never modified or deleted.
var ErrNotOwned = errors.New("CRD exists and is not owned by rgd")

// ErrOwnedByOther is returned (wrapped, with the other RGD's name) when the
// CRD belongs to a different ResourceGraphDefinition.
var ErrOwnedByOther = errors.New("CRD is owned by another ResourceGraphDefinition")

// ErrNamesNotAccepted is returned (wrapped, with the API server's message)
// when the API server refuses the CRD's names, for example because another
// CRD of the same group already uses the kind or a short name.
var ErrNamesNotAccepted = errors.New("CRD names not accepted")

// ErrBeingDeleted is returned (wrapped) by Ensure when the CRD exists but is
// being deleted; once it is gone, a new Ensure creates it again.
var ErrBeingDeleted = errors.New("CRD is being deleted")

// BreakingChangeError is returned by Ensure when the desired CRD's schema is
// not compatible with the existing one and the owner does not allow breaking
// changes. Report holds every change found, breaking or not.
type BreakingChangeError struct {
	// CRD is the name of the CRD.
	CRD string
	// Report is the comparison of the existing schema with the desired one.
	Report crdgen.Report
}

// Error lists the breaking changes, one per line after a summary.
func (e *BreakingChangeError) Error() string {
	breaking := e.Report.BreakingChanges()
	var b strings.Builder
	fmt.Fprintf(&b, "CRD %s: %d breaking schema change(s) refused (set the RGD annotation %s: \"true\" to allow them):",
		e.CRD, len(breaking), annotationAllowBreaking)
	for _, c := range breaking {
		b.WriteString("\n  ")
		b.WriteString(c.String())
	}
	return b.String()
}
