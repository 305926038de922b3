package chart

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/spf13/pflag"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/snaprestore/snaprestore/certs"
	"github.com/snaprestore/snaprestore/webhook"
)

// rendered is one render, decoded and sorted by kind.
type rendered struct {
	deployment  *appsv1.Deployment
	service     *corev1.Service
	pdb         *policyv1.PodDisruptionBudget
	validating  *admissionregv1.ValidatingWebhookConfiguration
	mutating    *admissionregv1.MutatingWebhookConfiguration
	clusterRole *rbacv1.ClusterRole
	// metricsReader is the ClusterRole for scrapers (metrics.enabled).
	metricsReader *rbacv1.ClusterRole
	networkPolicy *networkingv1.NetworkPolicy
	role          *rbacv1.Role
	// populatorRole is the populator pods' own Role (patch on pods).
	populatorRole   *rbacv1.Role
	volumePopulator *volumePopulator
	certificate     *cmv1.Certificate
	issuer          *cmv1.Issuer
	kinds           []string
}

func renderObjects(t *testing.T, c renderCase) rendered {
	t.Helper()
	var r rendered
	for _, o := range decode(t, render(t, c)) {
		r.kinds = append(r.kinds, fmt.Sprintf("%T", o))
		switch o := o.(type) {
		case *appsv1.Deployment:
			r.deployment = o
		case *corev1.Service:
			r.service = o
		case *policyv1.PodDisruptionBudget:
			r.pdb = o
		case *admissionregv1.ValidatingWebhookConfiguration:
			r.validating = o
		case *admissionregv1.MutatingWebhookConfiguration:
			r.mutating = o
		case *rbacv1.ClusterRole:
			if strings.HasSuffix(o.Name, "-metrics-reader") {
				r.metricsReader = o
			} else {
				r.clusterRole = o
			}
		case *networkingv1.NetworkPolicy:
			r.networkPolicy = o
		case *rbacv1.Role:
			if strings.HasSuffix(o.Name, "-populator") {
				r.populatorRole = o
			} else {
				r.role = o
			}
		case *volumePopulator:
			r.volumePopulator = o
		case *cmv1.Certificate:
			r.certificate = o
		case *cmv1.Issuer:
			r.issuer = o
		}
	}
	if r.deployment == nil || r.service == nil || r.validating == nil || r.mutating == nil || r.clusterRole == nil || r.role == nil {
		t.Fatalf("render %s lacks a core object; kinds: %v", c.name, r.kinds)
	}
	return r
}

// webhookWant is the shared contract for one webhook entry.
type webhookWant struct {
	name, path, group, resource string
	ops                         []admissionregv1.OperationType
}

var (
	createUpdate   = []admissionregv1.OperationType{admissionregv1.Create, admissionregv1.Update}
	createOnly     = []admissionregv1.OperationType{admissionregv1.Create}
	wantValidating = []webhookWant{
		{"volumesnapshots.validate.snaprestore.io", webhook.PathValidateVolumeSnapshots, "snapshot.storage.k8s.io", "volumesnapshots", createUpdate},
		{"volumesnapshotcontents.validate.snaprestore.io", webhook.PathValidateVolumeSnapshotContents, "snapshot.storage.k8s.io", "volumesnapshotcontents", createUpdate},
		{"volumesnapshotclasses.validate.snaprestore.io", webhook.PathValidateVolumeSnapshotClasses, "snapshot.storage.k8s.io", "volumesnapshotclasses", createUpdate},
		{"persistentvolumeclaims.validate.snaprestore.io", webhook.PathValidatePVCs, "", "persistentvolumeclaims", createOnly},
		{"backupsources.validate.snaprestore.io", webhook.PathValidateBackupSources, "snaprestore.io", "backupsources", createOnly},
		{"populated-persistentvolumeclaims.validate.snaprestore.io", webhook.PathValidatePopulatedPVCs, "", "persistentvolumeclaims", createOnly},
	}
	wantMutating = []webhookWant{
		{"volumesnapshots.mutate.snaprestore.io", webhook.PathMutateVolumeSnapshots, "snapshot.storage.k8s.io", "volumesnapshots", createUpdate},
		{"persistentvolumeclaims.mutate.snaprestore.io", webhook.PathMutatePVCs, "", "persistentvolumeclaims", createUpdate},
	}
)

func TestWebhookConfigurations(t *testing.T) {
	t.Parallel()
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := renderObjects(t, c)
			wantFP := admissionregv1.Fail
			if slices.Contains(c.set, "webhook.failurePolicy=Ignore") {
				wantFP = admissionregv1.Ignore
			}
			type common struct {
				Name, Path, Service, Namespace string
				Port                           int32
				Rules                          []admissionregv1.RuleWithOperations
				Versions                       []string
				MatchPolicy                    admissionregv1.MatchPolicyType
				Timeout                        int32
				FailurePolicy                  admissionregv1.FailurePolicyType
				SideEffects                    admissionregv1.SideEffectClass
				Reinvocation                   admissionregv1.ReinvocationPolicyType
				NamespaceSelector              string
			}
			wantCommon := func(w webhookWant, side admissionregv1.SideEffectClass, reinv admissionregv1.ReinvocationPolicyType) common {
				scope := admissionregv1.ClusterScope
				if w.resource == "volumesnapshots" || w.resource == "persistentvolumeclaims" || w.resource == "backupsources" {
					scope = admissionregv1.NamespacedScope
				}
				version, fp := "v1", wantFP
				if w.group == "snaprestore.io" {
					// The BackupSource check guards a Secret: it fails closed.
					version, fp = "v1alpha1", admissionregv1.Fail
				}
				return common{Name: w.name, Path: w.path, Service: r.service.Name, Namespace: namespace, Port: 443,
					Rules: []admissionregv1.RuleWithOperations{{Operations: w.ops, Rule: admissionregv1.Rule{
						APIGroups: []string{w.group}, APIVersions: []string{version}, Resources: []string{w.resource}, Scope: &scope}}},
					Versions: []string{"v1"}, MatchPolicy: admissionregv1.Equivalent, Timeout: 5, FailurePolicy: fp,
					SideEffects: side, Reinvocation: reinv,
					NamespaceSelector: `kubernetes.io/metadata.name notin (snaprestore),snaprestore.io/ignore notin (true)`}
			}
			gotCommon := func(name string, cc admissionregv1.WebhookClientConfig, rules []admissionregv1.RuleWithOperations, versions []string,
				mp *admissionregv1.MatchPolicyType, timeout *int32, fp *admissionregv1.FailurePolicyType, side *admissionregv1.SideEffectClass,
				reinv *admissionregv1.ReinvocationPolicyType, sel string) common {
				g := common{Name: name, Rules: rules, Versions: versions, NamespaceSelector: sel}
				if s := cc.Service; s != nil {
					g.Service, g.Namespace, g.Path, g.Port = s.Name, s.Namespace, deref(s.Path), deref(s.Port)
				}
				g.MatchPolicy, g.Timeout, g.FailurePolicy, g.SideEffects, g.Reinvocation = deref(mp), deref(timeout), deref(fp), deref(side), deref(reinv)
				return g
			}
			var got, want []common
			for _, w := range wantValidating {
				want = append(want, wantCommon(w, admissionregv1.SideEffectClassNone, ""))
			}
			for _, h := range r.validating.Webhooks {
				got = append(got, gotCommon(h.Name, h.ClientConfig, h.Rules, h.AdmissionReviewVersions, h.MatchPolicy, h.TimeoutSeconds,
					h.FailurePolicy, h.SideEffects, nil, selectorString(t, h.NamespaceSelector)))
			}
			for _, w := range wantMutating {
				want = append(want, wantCommon(w, admissionregv1.SideEffectClassNoneOnDryRun, admissionregv1.IfNeededReinvocationPolicy))
			}
			for _, h := range r.mutating.Webhooks {
				got = append(got, gotCommon(h.Name, h.ClientConfig, h.Rules, h.AdmissionReviewVersions, h.MatchPolicy, h.TimeoutSeconds,
					h.FailurePolicy, h.SideEffects, h.ReinvocationPolicy, selectorString(t, h.NamespaceSelector)))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("webhooks differ from the contract (-want +got):\n%s", diff)
			}

			// Every webhook but the class one filters further, by the objects its handler acts
			// on, with the expressions the end-to-end configurations use (webhook.Match*); the
			// content webhook's from the --longhorn-driver flags the Deployment passes.
			// webhook.matchAllSnapshots=true sends every snapshot and content again.
			wantConditions := map[string]string{
				wantValidating[0].name: webhook.MatchSnapshotRestores,
				wantValidating[1].name: webhook.MatchContentDrivers(deploymentDrivers(t, r)),
				wantValidating[2].name: webhook.MatchClassDrivers(deploymentDrivers(t, r)),
				wantValidating[3].name: webhook.MatchRestoresSnapshot,
				wantValidating[5].name: webhook.MatchPopulatedPVC,
				wantMutating[0].name:   webhook.MatchBackupAnnotation,
				wantMutating[1].name:   webhook.MatchBackupOrSnapshot,
			}
			if slices.Contains(c.set, "webhook.matchAllSnapshots=true") {
				wantConditions[wantValidating[0].name], wantConditions[wantValidating[1].name] = "", ""
			}
			gotConditions := map[string]string{}
			for _, h := range r.validating.Webhooks {
				gotConditions[h.Name] = conditionExpressions(h.MatchConditions)
			}
			for _, h := range r.mutating.Webhooks {
				gotConditions[h.Name] = conditionExpressions(h.MatchConditions)
			}
			for name, got := range gotConditions {
				if want := wantConditions[name]; got != want {
					t.Errorf("webhook %s: matchConditions %q, want %q", name, got, want)
				}
			}

			inject := fmt.Sprintf("%s/%s", namespace, deref(ptrName(r.certificate)))
			for _, o := range []client.Object{r.validating, r.mutating} {
				got := o.GetAnnotations()["cert-manager.io/inject-ca-from"]
				if r.certificate == nil && got != "" {
					t.Errorf("%T %s: inject-ca-from %q in builtin mode", o, o.GetName(), got)
				}
				if r.certificate != nil && got != inject {
					t.Errorf("%T %s: inject-ca-from %q, want %q", o, o.GetName(), got, inject)
				}
			}
		})
	}
}

// TestDeploymentArgs parses the container args with the real flag sets of
// `snaprestore webhook` (package webhook and package certs) and checks the values.
func TestDeploymentArgs(t *testing.T) {
	t.Parallel()
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := renderObjects(t, c)
			ctr := r.deployment.Spec.Template.Spec.Containers[0]
			if len(ctr.Args) == 0 || ctr.Args[0] != "webhook" {
				t.Fatalf("args %v: want the webhook subcommand first", ctr.Args)
			}
			fs := pflag.NewFlagSet("webhook", pflag.ContinueOnError)
			var wo webhook.Options
			co := certs.Options{Getenv: func(string) string { return "" }} // the chart must pass the namespace itself
			wo.AddFlags(fs)
			co.AddFlags(fs)
			if err := fs.Parse(ctr.Args[1:]); err != nil {
				t.Fatalf("parse args %v: %v", ctr.Args[1:], err)
			}
			if fs.NArg() != 0 {
				t.Errorf("args leave positional arguments %v", fs.Args())
			}
			wo.SetDefaults()
			if err := wo.Validate(); err != nil {
				t.Errorf("webhook options from the chart: %v", err)
			}
			if err := co.Validate(); err != nil {
				t.Errorf("certs options from the chart: %v", err)
			}
			if wo.Port != 9443 || wo.HealthProbeBindAddress != ":8081" || !wo.LeaderElect || wo.LeaderElectionNamespace != namespace {
				t.Errorf("port %d, probes %q, leader election %v in %q; want 9443, :8081, true in %q",
					wo.Port, wo.HealthProbeBindAddress, wo.LeaderElect, wo.LeaderElectionNamespace, namespace)
			}
			svc := r.service
			if p := svc.Spec.Ports[0]; p.Port != 443 || p.TargetPort.StrVal != "webhook" || ctr.Ports[0].Name != "webhook" || ctr.Ports[0].ContainerPort != int32(wo.Port) {
				t.Errorf("service port %d -> %s, container port %s %d; want 443 -> webhook = %d", p.Port, p.TargetPort.StrVal, ctr.Ports[0].Name, ctr.Ports[0].ContainerPort, wo.Port)
			}
			switch {
			case slices.Contains(c.set, "certs.mode=builtin"):
				want := certs.Options{Mode: certs.ModeBuiltin, Namespace: namespace, CASecret: "snaprestore-ca", ServingSecret: "snaprestore-serving",
					ServiceName: svc.Name, ValidatingConfig: r.validating.Name, MutatingConfig: r.mutating.Name,
					CAValidity: 8760 * time.Hour, ServingValidity: 168 * time.Hour, CAPropagation: certs.DefaultCAPropagation,
					ResyncInterval: certs.DefaultResyncInterval, ReloadInterval: certs.DefaultReloadInterval}
				if diff := cmp.Diff(want, co, cmpopts.IgnoreFields(certs.Options{}, "Getenv")); diff != "" {
					t.Errorf("certs options (-want +got):\n%s", diff)
				}
				if r.certificate != nil || r.issuer != nil {
					t.Errorf("builtin mode renders cert-manager objects")
				}
			default:
				if co.Mode != certs.ModeFiles {
					t.Errorf("--cert-mode %q, want files", co.Mode)
				}
				vol := volumeSecret(r.deployment, "serving-cert")
				mount := mountPath(ctr, "serving-cert")
				if r.certificate == nil || vol != r.certificate.Spec.SecretName || mount != wo.CertDir {
					t.Errorf("certificate secret %q mounted from %q at %q; want the Certificate's secret at --cert-dir %q", deref(ptrSecret(r.certificate)), vol, mount, wo.CertDir)
				}
				if r.certificate != nil {
					if diff := cmp.Diff(certs.DNSNames(svc.Name, namespace), r.certificate.Spec.DNSNames); diff != "" {
						t.Errorf("certificate dnsNames (-want +got):\n%s", diff)
					}
				}
			}
			if c.name == "file-backupstore" && (wo.Backupstore != "file:///backups" || mountPath(ctr, "backups") != "/backups") {
				t.Errorf("backupstore %q with volume backups at %q; want file:///backups mounted at /backups", wo.Backupstore, mountPath(ctr, "backups"))
			}
			if c.name == "certmanager-clusterissuer" {
				if r.issuer != nil || r.certificate.Spec.IssuerRef.Kind != "ClusterIssuer" || r.certificate.Spec.IssuerRef.Name != "cluster-ca" {
					t.Errorf("issuer %v, issuerRef %+v; want no Issuer and ClusterIssuer cluster-ca", r.issuer != nil, r.certificate.Spec.IssuerRef)
				}
				if !slices.Equal(wo.LonghornDrivers, []string{"driver.longhorn.io", "io.rancher.longhorn"}) || !wo.ProtectBackups ||
					wo.GCGracePeriod != 5*time.Minute || wo.Backupstore != "s3://backups@us-east-1/" {
					t.Errorf("drivers %v, protect %v, grace %s, backupstore %q: values not passed through", wo.LonghornDrivers, wo.ProtectBackups, wo.GCGracePeriod, wo.Backupstore)
				}
				if len(ctr.EnvFrom) != 1 || ctr.EnvFrom[0].SecretRef == nil || ctr.EnvFrom[0].SecretRef.Name != "longhorn-backup-target" {
					t.Errorf("envFrom %+v, want the secret longhorn-backup-target", ctr.EnvFrom)
				}
				if r.pdb != nil {
					t.Errorf("a PodDisruptionBudget with minAvailable 1 for a single replica would block drains")
				}
			}
		})
	}
}

func TestPodHardening(t *testing.T) {
	t.Parallel()
	r := renderObjects(t, renderCases[0])
	spec := r.deployment.Spec.Template.Spec
	ctr := spec.Containers[0]
	sc := ctr.SecurityContext
	if deref(r.deployment.Spec.Replicas) != 2 || r.pdb == nil || r.pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("replicas %d, PDB %v; want 2 replicas and minAvailable 1", deref(r.deployment.Spec.Replicas), r.pdb)
	}
	if spec.Affinity == nil || spec.Affinity.PodAntiAffinity == nil {
		t.Errorf("no pod anti-affinity")
	}
	if !deref(spec.SecurityContext.RunAsNonRoot) || spec.SecurityContext.SeccompProfile == nil || spec.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and seccomp RuntimeDefault", spec.SecurityContext)
	}
	if sc == nil || !deref(sc.ReadOnlyRootFilesystem) || deref(sc.AllowPrivilegeEscalation) || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container securityContext %+v: want a read-only root, no privilege escalation, all capabilities dropped", sc)
	}
	if p := ctr.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.StrVal != "health" {
		t.Errorf("readiness probe %+v, want /readyz on port health", p)
	}
	if p := ctr.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.StrVal != "health" {
		t.Errorf("liveness probe %+v, want /healthz on port health", p)
	}
	if ctr.Resources.Requests.Cpu().IsZero() || ctr.Resources.Requests.Memory().IsZero() {
		t.Errorf("resource requests %v: want cpu and memory", ctr.Resources.Requests)
	}
}

// TestRBAC pins the permissions: exactly what the code uses (see clusterrole.yaml).
func TestRBAC(t *testing.T) {
	t.Parallel()
	rule := func(groups, resources, verbs []string, names ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: groups, Resources: resources, Verbs: verbs, ResourceNames: names}
	}
	snap := []string{"snapshot.storage.k8s.io"}
	base := []rbacv1.PolicyRule{
		rule(snap, []string{"volumesnapshots", "volumesnapshotcontents", "volumesnapshotclasses"}, []string{"get", "list", "watch"}),
		rule(snap, []string{"volumesnapshotcontents"}, []string{"create", "delete"}),
		rule(snap, []string{"volumesnapshots"}, []string{"create"}),
		rule([]string{""}, []string{"persistentvolumeclaims"}, []string{"get", "list", "watch", "patch"}),
		rule([]string{"storage.k8s.io"}, []string{"storageclasses"}, []string{"get", "list", "watch"}),
		rule([]string{""}, []string{"events"}, []string{"create", "patch"}),
		rule([]string{"apiextensions.k8s.io"}, []string{"customresourcedefinitions"}, []string{"get"}, webhook.SnapshotCRDName),
		// the populator (enabled by default)
		rule([]string{"snaprestore.io"}, []string{"backupsources"}, []string{"get", "list", "watch", "create", "patch"}),
		rule([]string{"snaprestore.io"}, []string{"backupsources/status"}, []string{"patch"}),
		rule([]string{""}, []string{"persistentvolumes"}, []string{"get", "list", "watch", "patch"}),
		rule([]string{""}, []string{"secrets"}, []string{"get"}),
		rule([]string{"authentication.k8s.io"}, []string{"tokenreviews"}, []string{"create"}),
		rule([]string{"authorization.k8s.io"}, []string{"subjectaccessreviews"}, []string{"create"}),
	}
	roleBase := []rbacv1.PolicyRule{
		rule([]string{"coordination.k8s.io"}, []string{"leases"}, []string{"get", "create", "update"}),
		rule([]string{"", "events.k8s.io"}, []string{"events"}, []string{"create", "patch"}),
		rule([]string{""}, []string{"persistentvolumeclaims"}, []string{"create", "delete"}),
		rule([]string{""}, []string{"pods"}, []string{"get", "list", "watch", "create", "delete"}),
		rule([]string{""}, []string{"secrets"}, []string{"create", "delete"}),
	}
	for _, tc := range []struct {
		c             renderCase
		cluster, role []rbacv1.PolicyRule
	}{
		{renderCases[0], base, roleBase},
		{renderCases[1],
			append(slices.Clone(base), rule([]string{"admissionregistration.k8s.io"}, []string{"validatingwebhookconfigurations", "mutatingwebhookconfigurations"}, []string{"get", "patch"}, "snaprestore")),
			append(slices.Clone(roleBase),
				rule([]string{""}, []string{"secrets"}, []string{"create"}),
				rule([]string{""}, []string{"secrets"}, []string{"get", "update"}, "snaprestore-ca", "snaprestore-serving"))},
	} {
		r := renderObjects(t, tc.c)
		if diff := cmp.Diff(tc.cluster, r.clusterRole.Rules); diff != "" {
			t.Errorf("%s: ClusterRole rules (-want +got):\n%s", tc.c.name, diff)
		}
		if diff := cmp.Diff(tc.role, r.role.Rules); diff != "" {
			t.Errorf("%s: Role rules (-want +got):\n%s", tc.c.name, diff)
		}
		// The populator pods may patch pods (their own, by the chart's admission policy) and nothing else.
		if diff := cmp.Diff([]rbacv1.PolicyRule{rule([]string{""}, []string{"pods"}, []string{"patch"})}, r.populatorRole.Rules); diff != "" {
			t.Errorf("%s: populator Role rules (-want +got):\n%s", tc.c.name, diff)
		}
		if vp := r.volumePopulator; vp == nil || vp.SourceKind != (metav1.GroupKind{Group: "snaprestore.io", Kind: "BackupSource"}) {
			t.Errorf("%s: VolumePopulator %+v; want sourceKind snaprestore.io BackupSource", tc.c.name, vp)
		}
		wantReader := []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}
		if r.metricsReader == nil {
			t.Errorf("%s: no metrics-reader ClusterRole", tc.c.name)
		} else if diff := cmp.Diff(wantReader, r.metricsReader.Rules); diff != "" {
			t.Errorf("%s: metrics-reader ClusterRole rules (-want +got):\n%s", tc.c.name, diff)
		}
	}
}

// TestMetricsSecurity: metrics are HTTPS with token review by default (no
// --metrics-insecure, the review RBAC granted); metrics.secure=false is plain HTTP
// (--metrics-insecure) without the review RBAC, except subjectaccessreviews while
// the populator's webhook asks whether a BackupSource's creator may read its Secret.
func TestMetricsSecurity(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		c                 renderCase
		secure, populator bool
	}{
		{renderCases[0], true, true},
		{renderCase{name: "insecure-metrics", set: []string{"metrics.secure=false"}}, false, true},
		{renderCase{name: "insecure-metrics-no-populator", set: []string{"metrics.secure=false", "populator.enabled=false"}}, false, false},
	} {
		r := renderObjects(t, tc.c)
		args := r.deployment.Spec.Template.Spec.Containers[0].Args
		if got := slices.Contains(args, "--metrics-insecure"); got == tc.secure {
			t.Errorf("%s: --metrics-insecure in args %v: %v, want %v", tc.c.name, args, got, !tc.secure)
		}
		reviews := slices.ContainsFunc(r.clusterRole.Rules, func(p rbacv1.PolicyRule) bool { return slices.Contains(p.Resources, "tokenreviews") })
		if reviews != tc.secure {
			t.Errorf("%s: ClusterRole grants tokenreviews: %v, want %v", tc.c.name, reviews, tc.secure)
		}
		access := slices.ContainsFunc(r.clusterRole.Rules, func(p rbacv1.PolicyRule) bool { return slices.Contains(p.Resources, "subjectaccessreviews") })
		if want := tc.secure || tc.populator; access != want {
			t.Errorf("%s: ClusterRole grants subjectaccessreviews: %v, want %v", tc.c.name, access, want)
		}
	}
}

// TestNetworkPolicy: off by default; when on, the API server's peers reach the webhook
// port and the scrapers the metrics port, nothing else; on without peers, the render
// fails with what to set.
func TestNetworkPolicy(t *testing.T) {
	t.Parallel()
	if r := renderObjects(t, renderCases[0]); r.networkPolicy != nil {
		t.Errorf("a NetworkPolicy is rendered by default")
	}
	r := renderObjects(t, renderCase{name: "network-policy", set: []string{"networkPolicy.enabled=true", "networkPolicy.apiServer[0].ipBlock.cidr=10.0.0.0/24"}})
	np := r.networkPolicy
	if np == nil {
		t.Fatal("networkPolicy.enabled=true renders no NetworkPolicy")
	}
	type ingress struct {
		Port string
		From []string
	}
	var got []ingress
	for _, rule := range np.Spec.Ingress {
		var in ingress
		for _, p := range rule.Ports {
			in.Port += p.Port.StrVal
		}
		for _, f := range rule.From {
			switch {
			case f.IPBlock != nil:
				in.From = append(in.From, "cidr "+f.IPBlock.CIDR)
			case f.NamespaceSelector != nil:
				in.From = append(in.From, "namespace "+f.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"])
			}
		}
		got = append(got, in)
	}
	want := []ingress{{"webhook", []string{"cidr 10.0.0.0/24"}}, {"metrics", []string{"namespace monitoring"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NetworkPolicy ingress (-want +got):\n%s", diff)
	}
	for k, v := range np.Spec.PodSelector.MatchLabels {
		if r.deployment.Spec.Template.Labels[k] != v {
			t.Errorf("NetworkPolicy selects %s=%s, the pods have %q", k, v, r.deployment.Spec.Template.Labels[k])
		}
	}
	out, err := helmErr(t, "template", release, chartDir(t), "--namespace", namespace, "--kube-version", kubeVersion, "--set", "networkPolicy.enabled=true")
	if err == nil || !strings.Contains(string(out), "networkPolicy.apiServer: expected the NetworkPolicy peers") {
		t.Errorf("networkPolicy.enabled without apiServer: err %v, output %s; want the render to fail naming networkPolicy.apiServer", err, out)
	}
}

// TestServiceMonitor renders the optional ServiceMonitor (its CRD is not installed in the
// dry-run test) and checks it selects the Service's metrics port.
func TestServiceMonitor(t *testing.T) {
	t.Parallel()
	out := helm(t, "template", release, chartDir(t), "--namespace", namespace, "--kube-version", kubeVersion,
		"--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.serviceMonitor.labels.release=prometheus",
		"--show-only", "templates/servicemonitor.yaml")
	var sm struct {
		Kind     string
		Metadata struct{ Labels map[string]string }
		Spec     struct {
			Selector  struct{ MatchLabels map[string]string }
			Endpoints []struct {
				Port, Path, Scheme, BearerTokenFile string
				TLSConfig                           struct {
					ServerName string
					CA         struct{ Secret struct{ Name, Key string } }
				}
			}
		}
	}
	if err := yamlUnmarshal(out, &sm); err != nil {
		t.Fatal(err)
	}
	svc := renderObjects(t, renderCases[0]).service
	if sm.Kind != "ServiceMonitor" || sm.Metadata.Labels["release"] != "prometheus" || len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" {
		t.Errorf("ServiceMonitor %+v: want kind ServiceMonitor, label release=prometheus, one endpoint on port metrics", sm)
	}
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%s, Service has %q", k, v, svc.Labels[k])
		}
	}
	if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "metrics" }) {
		t.Errorf("Service has no metrics port")
	}
	if len(sm.Spec.Endpoints) == 1 {
		e := sm.Spec.Endpoints[0]
		if e.Scheme != "https" || e.BearerTokenFile == "" || e.TLSConfig.ServerName != svc.Name+"."+namespace+".svc" ||
			e.TLSConfig.CA.Secret.Name != "snaprestore-tls" || e.TLSConfig.CA.Secret.Key != "ca.crt" {
			t.Errorf("ServiceMonitor endpoint %+v: want https with the pod's token, server name %s.%s.svc and the CA of Secret snaprestore-tls", e, svc.Name, namespace)
		}
	}
}

// deploymentDrivers are the --longhorn-driver values of the rendered container args,
// parsed with the webhook's own flag set.
func deploymentDrivers(t *testing.T, r rendered) []string {
	t.Helper()
	args := r.deployment.Spec.Template.Spec.Containers[0].Args
	fs := pflag.NewFlagSet("webhook", pflag.ContinueOnError)
	var wo webhook.Options
	var co certs.Options
	wo.AddFlags(fs)
	co.AddFlags(fs)
	if len(args) == 0 {
		t.Fatalf("deployment has no container args")
	}
	if err := fs.Parse(args[1:]); err != nil {
		t.Fatalf("parse args %v: %v", args[1:], err)
	}
	return wo.LonghornDrivers
}

// conditionExpressions joins the expressions of conditions with " && " (the API server
// calls a webhook when all are true), spaces normalized, so that YAML's folding does not
// matter; "" for none.
func conditionExpressions(conditions []admissionregv1.MatchCondition) string {
	var all []string
	for _, c := range conditions {
		all = append(all, strings.Join(strings.Fields(c.Expression), " "))
	}
	return strings.Join(all, " && ")
}

// helmErr runs helm and returns its combined output and error, for renders that must
// fail.
func helmErr(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	return exec.Command(tool(t, "helm"), args...).CombinedOutput()
}
