package main

import (
	"fmt"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/snaprestore/snaprestore/webhook"
)

// configName names both webhook configurations, as the chart does.
const configName = "snaprestore"

// validatingConfig registers the validating paths as the shared contract
// fixes them (names, rules, sideEffects None, timeoutSeconds 5, matchPolicy
// Equivalent, failurePolicy Fail), reached by URL on loopback; url maps a
// path to the URL the webhook calls.
func validatingConfig(url func(path string) string, ca []byte) *admissionregv1.ValidatingWebhookConfiguration {
	hook := func(name, path string, rule admissionregv1.RuleWithOperations) admissionregv1.ValidatingWebhook {
		return admissionregv1.ValidatingWebhook{
			Name:                    name,
			ClientConfig:            admissionregv1.WebhookClientConfig{URL: ptr.To(url(path)), CABundle: ca},
			Rules:                   []admissionregv1.RuleWithOperations{rule},
			FailurePolicy:           ptr.To(admissionregv1.Fail),
			MatchPolicy:             ptr.To(admissionregv1.Equivalent),
			SideEffects:             ptr.To(admissionregv1.SideEffectClassNone),
			TimeoutSeconds:          ptr.To[int32](5),
			AdmissionReviewVersions: []string{"v1"},
		}
	}
	createUpdate := []admissionregv1.OperationType{admissionregv1.Create, admissionregv1.Update}
	create := []admissionregv1.OperationType{admissionregv1.Create}
	return &admissionregv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: configName},
		Webhooks: []admissionregv1.ValidatingWebhook{
			hook("volumesnapshots.validate.snaprestore.io", webhook.PathValidateVolumeSnapshots, snapshotRule("volumesnapshots", createUpdate)),
			hook("volumesnapshotcontents.validate.snaprestore.io", webhook.PathValidateVolumeSnapshotContents, snapshotRule("volumesnapshotcontents", createUpdate)),
			hook("volumesnapshotclasses.validate.snaprestore.io", webhook.PathValidateVolumeSnapshotClasses, snapshotRule("volumesnapshotclasses", createUpdate)),
			hook("persistentvolumeclaims.validate.snaprestore.io", webhook.PathValidatePVCs, coreRule("persistentvolumeclaims", create)),
		},
	}
}

// mutatingConfig registers the mutating paths (sideEffects NoneOnDryRun,
// reinvocationPolicy IfNeeded). With onlyAnnotated, a matchCondition lets the
// API server skip the call for objects without the snaprestore.io/backup
// annotation, which the mutating handlers leave untouched anyway (an
// experiment, not the shared contract).
func mutatingConfig(url func(path string) string, ca []byte, onlyAnnotated bool) *admissionregv1.MutatingWebhookConfiguration {
	hook := func(name, path string, rule admissionregv1.RuleWithOperations) admissionregv1.MutatingWebhook {
		h := admissionregv1.MutatingWebhook{
			Name:                    name,
			ClientConfig:            admissionregv1.WebhookClientConfig{URL: ptr.To(url(path)), CABundle: ca},
			Rules:                   []admissionregv1.RuleWithOperations{rule},
			FailurePolicy:           ptr.To(admissionregv1.Fail),
			MatchPolicy:             ptr.To(admissionregv1.Equivalent),
			SideEffects:             ptr.To(admissionregv1.SideEffectClassNoneOnDryRun),
			TimeoutSeconds:          ptr.To[int32](5),
			AdmissionReviewVersions: []string{"v1"},
			ReinvocationPolicy:      ptr.To(admissionregv1.IfNeededReinvocationPolicy),
		}
		if onlyAnnotated {
			h.MatchConditions = []admissionregv1.MatchCondition{{
				Name:       "annotated",
				Expression: fmt.Sprintf("has(object.metadata.annotations) && %q in object.metadata.annotations", webhook.AnnotationBackup),
			}}
		}
		return h
	}
	return &admissionregv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: configName},
		Webhooks: []admissionregv1.MutatingWebhook{
			hook("volumesnapshots.mutate.snaprestore.io", webhook.PathMutateVolumeSnapshots,
				snapshotRule("volumesnapshots", []admissionregv1.OperationType{admissionregv1.Create, admissionregv1.Update})),
			hook("persistentvolumeclaims.mutate.snaprestore.io", webhook.PathMutatePVCs,
				coreRule("persistentvolumeclaims", []admissionregv1.OperationType{admissionregv1.Create, admissionregv1.Update})),
		},
	}
}

func snapshotRule(resource string, ops []admissionregv1.OperationType) admissionregv1.RuleWithOperations {
	return admissionregv1.RuleWithOperations{
		Operations: ops,
		Rule:       admissionregv1.Rule{APIGroups: []string{snapv1.GroupName}, APIVersions: []string{"v1"}, Resources: []string{resource}},
	}
}

func coreRule(resource string, ops []admissionregv1.OperationType) admissionregv1.RuleWithOperations {
	return admissionregv1.RuleWithOperations{
		Operations: ops,
		Rule:       admissionregv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{resource}},
	}
}
