package offline

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
)

// validate runs the webhook's rules for one object (old is nil for CREATE).
func validate(ctx context.Context, o Options, ix *index, obj, old runtime.Object) (causes, warnings []string, covered bool) {
	return nil, nil, false
}
