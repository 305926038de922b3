package cluster

import (
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/snaprestore/snaprestore/webhook"
	"github.com/snaprestore/snaprestore/webhook/populator/api/v1alpha1"
)

// ConfigurationName names both webhook configurations (the default of
// --validating-webhook-configuration and --mutating-webhook-configuration).
const ConfigurationName = "snaprestore"

// hook is one webhook entry of the shared contract. The entries are those the chart
// (charts/snaprestore) registers with its default values, including the matchConditions; test/chart
// checks the chart against the same operations and expressions.
type hook struct {
	name, path, group, resource string
	ops                         []admissionregv1.OperationType
	conditions                  []admissionregv1.MatchCondition
}

var (
	createUpdate = []admissionregv1.OperationType{admissionregv1.Create, admissionregv1.Update}
	createOnly   = []admissionregv1.OperationType{admissionregv1.Create}
)

// LonghornDrivers are the --longhorn-driver values the contract's content webhook is
// scoped to: the webhook's default, which the end-to-end processes run with.
var LonghornDrivers = []string{webhook.DefaultLonghornDriver}

var validatingHooks = []hook{
	{"volumesnapshots.validate.snaprestore.io", webhook.PathValidateVolumeSnapshots, "snapshot.storage.k8s.io", "volumesnapshots", createUpdate,
		[]admissionregv1.MatchCondition{{Name: "restore-or-snaprestore-annotation", Expression: webhook.MatchSnapshotRestores}}},
	{"volumesnapshotcontents.validate.snaprestore.io", webhook.PathValidateVolumeSnapshotContents, "snapshot.storage.k8s.io", "volumesnapshotcontents", createUpdate,
		[]admissionregv1.MatchCondition{{Name: "longhorn-driver-or-snaprestore-annotation", Expression: webhook.MatchContentDrivers(LonghornDrivers)}}},
	{"volumesnapshotclasses.validate.snaprestore.io", webhook.PathValidateVolumeSnapshotClasses, "snapshot.storage.k8s.io", "volumesnapshotclasses", createUpdate,
		[]admissionregv1.MatchCondition{{Name: "longhorn-driver-or-default-class", Expression: webhook.MatchClassDrivers(LonghornDrivers)}}},
	{"persistentvolumeclaims.validate.snaprestore.io", webhook.PathValidatePVCs, "", "persistentvolumeclaims", createOnly,
		[]admissionregv1.MatchCondition{{Name: "restores-a-volumesnapshot", Expression: webhook.MatchRestoresSnapshot}}},
	// The BackupSource webhooks (issue #10), which the chart registers with
	// populator.enabled: the grammar of spec.backup, and a Block claim populated from a
	// BackupSource below the backup's size. They need the chart's CRDs (Options.CRDDirs).
	{"backupsources.validate.snaprestore.io", webhook.PathValidateBackupSources, v1alpha1.Group, "backupsources", createOnly, nil},
	{"populated-persistentvolumeclaims.validate.snaprestore.io", webhook.PathValidatePopulatedPVCs, "", "persistentvolumeclaims", createOnly,
		[]admissionregv1.MatchCondition{{Name: "populated-from-a-backupsource", Expression: webhook.MatchPopulatedPVC}}},
}

var mutatingHooks = []hook{
	{"volumesnapshots.mutate.snaprestore.io", webhook.PathMutateVolumeSnapshots, "snapshot.storage.k8s.io", "volumesnapshots", createUpdate,
		[]admissionregv1.MatchCondition{{Name: "carries-a-backup-reference", Expression: webhook.MatchBackupAnnotation}}},
	// UPDATE too, unlike the validating PVC hook: a re-apply of a PVC whose request was
	// raised to the backup's size sends the manifest's smaller request again, and only
	// raising it again keeps the (immutable) spec unchanged; see bare-reference-pvc.
	// Claims restoring a VolumeSnapshot are sent too: the mutating handler denies a wrong or
	// missing apiGroup, which the API server drops before validating admission.
	{"persistentvolumeclaims.mutate.snaprestore.io", webhook.PathMutatePVCs, "", "persistentvolumeclaims", createUpdate,
		[]admissionregv1.MatchCondition{{Name: "backup-reference-or-volumesnapshot", Expression: webhook.MatchBackupOrSnapshot}}},
}

func (h hook) clientConfig(url func(path string) string, caBundle []byte) admissionregv1.WebhookClientConfig {
	return admissionregv1.WebhookClientConfig{URL: ptr.To(url(h.path)), CABundle: caBundle}
}

func (h hook) rules() []admissionregv1.RuleWithOperations {
	version := "v1"
	if h.group == v1alpha1.Group {
		version = v1alpha1.Version
	}
	return []admissionregv1.RuleWithOperations{{
		Operations: h.ops,
		Rule:       admissionregv1.Rule{APIGroups: []string{h.group}, APIVersions: []string{version}, Resources: []string{h.resource}},
	}}
}

// ValidatingConfiguration is the ValidatingWebhookConfiguration of the contract;
// url gives the URL the API server calls for a path of webhook/paths.go (usually
// "https://host:port" + path). matchAllSnapshots drops the snapshot and content
// webhooks' matchConditions, as the chart value webhook.matchAllSnapshots does for
// CRDs without CEL rules.
func ValidatingConfiguration(url func(path string) string, caBundle []byte, matchAllSnapshots bool) *admissionregv1.ValidatingWebhookConfiguration {
	c := &admissionregv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: ConfigurationName}}
	for _, h := range validatingHooks {
		conditions := h.conditions
		if matchAllSnapshots && h.group == "snapshot.storage.k8s.io" && h.resource != "volumesnapshotclasses" {
			conditions = nil
		}
		c.Webhooks = append(c.Webhooks, admissionregv1.ValidatingWebhook{
			Name:                    h.name,
			ClientConfig:            h.clientConfig(url, caBundle),
			Rules:                   h.rules(),
			MatchConditions:         conditions,
			FailurePolicy:           ptr.To(admissionregv1.Fail),
			MatchPolicy:             ptr.To(admissionregv1.Equivalent),
			SideEffects:             ptr.To(admissionregv1.SideEffectClassNone),
			TimeoutSeconds:          ptr.To[int32](5),
			AdmissionReviewVersions: []string{"v1"},
		})
	}
	return c
}

// MutatingConfiguration is the MutatingWebhookConfiguration of the contract; url as
// for ValidatingConfiguration.
func MutatingConfiguration(url func(path string) string, caBundle []byte) *admissionregv1.MutatingWebhookConfiguration {
	c := &admissionregv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: ConfigurationName}}
	for _, h := range mutatingHooks {
		c.Webhooks = append(c.Webhooks, admissionregv1.MutatingWebhook{
			Name:                    h.name,
			ClientConfig:            h.clientConfig(url, caBundle),
			Rules:                   h.rules(),
			MatchConditions:         h.conditions,
			FailurePolicy:           ptr.To(admissionregv1.Fail),
			MatchPolicy:             ptr.To(admissionregv1.Equivalent),
			SideEffects:             ptr.To(admissionregv1.SideEffectClassNoneOnDryRun),
			TimeoutSeconds:          ptr.To[int32](5),
			AdmissionReviewVersions: []string{"v1"},
			ReinvocationPolicy:      ptr.To(admissionregv1.IfNeededReinvocationPolicy),
		})
	}
	return c
}
