package authority

import (
	"bytes"
	"context"
	"fmt"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// publish sets bundle as the caBundle of every webhook entry of both configurations. A
// missing configuration is logged and skipped: it may not be installed yet, and the next
// reconcile publishes to it.
func (a *Authority) publish(ctx context.Context, bundle []byte) error {
	var v admissionregv1.ValidatingWebhookConfiguration
	if err := a.patchBundle(ctx, "ValidatingWebhookConfiguration", a.cfg.ValidatingConfig, &v, bundle, func() []*admissionregv1.WebhookClientConfig {
		out := make([]*admissionregv1.WebhookClientConfig, len(v.Webhooks))
		for i := range v.Webhooks {
			out[i] = &v.Webhooks[i].ClientConfig
		}
		return out
	}); err != nil {
		return err
	}
	var m admissionregv1.MutatingWebhookConfiguration
	return a.patchBundle(ctx, "MutatingWebhookConfiguration", a.cfg.MutatingConfig, &m, bundle, func() []*admissionregv1.WebhookClientConfig {
		out := make([]*admissionregv1.WebhookClientConfig, len(m.Webhooks))
		for i := range m.Webhooks {
			out[i] = &m.Webhooks[i].ClientConfig
		}
		return out
	})
}

// patchBundle reads obj by name, sets bundle in every client config clientConfigs returns
// and patches obj when something changed. The patch carries the resourceVersion, so it
// fails instead of overwriting a concurrent edit of the webhook list.
func (a *Authority) patchBundle(ctx context.Context, kind, name string, obj client.Object, bundle []byte, clientConfigs func() []*admissionregv1.WebhookClientConfig) error {
	if err := a.client.Get(ctx, types.NamespacedName{Name: name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			logf.FromContext(ctx).WithName("certs").Info("Webhook configuration not found; caBundle not published", "kind", kind, "name", name)
			return nil
		}
		return fmt.Errorf("read %s %s: %w", kind, name, err)
	}
	base := obj.DeepCopyObject().(client.Object)
	changed := false
	for _, cc := range clientConfigs() {
		if !bytes.Equal(cc.CABundle, bundle) {
			cc.CABundle = bundle
			changed = true
		}
	}
	if !changed {
		return nil
	}
	if err := a.client.Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("patch caBundle of %s %s: %w", kind, name, err)
	}
	logf.FromContext(ctx).WithName("certs").Info("Published the CA bundle", "kind", kind, "name", name)
	return nil
}
