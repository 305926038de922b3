package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// MetricsReader names the ServiceAccount (namespace default), ClusterRole and
// ClusterRoleBinding of a scraper: GET on the non-resource URL /metrics, what the
// chart's metrics-reader ClusterRole grants.
const MetricsReader = "snaprestore-metrics-reader"

// grantMetrics creates the scraper's RBAC and its token (Cluster.metricsToken).
func (c *Cluster) grantMetrics(ctx context.Context) error {
	objs := []client.Object{
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: MetricsReader},
			Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: MetricsReader},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: MetricsReader},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: MetricsReader, Namespace: "default"}}},
	}
	for _, o := range objs {
		if err := c.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %T %s: %w", o, o.GetName(), err)
		}
	}
	tok, err := c.ServiceAccountToken(ctx, "default", MetricsReader)
	if err != nil {
		return err
	}
	c.metricsToken = tok
	return nil
}

// ServiceAccountToken creates the ServiceAccount namespace/name when missing and
// returns a token of it (TokenRequest, one hour).
func (c *Cluster) ServiceAccountToken(ctx context.Context, namespace, name string) (string, error) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if err := c.Client.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create ServiceAccount %s/%s: %w", namespace, name, err)
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	if err := c.Client.SubResource("token").Create(ctx, sa, tr); err != nil {
		return "", fmt.Errorf("request a token of ServiceAccount %s/%s: %w", namespace, name, err)
	}
	if tr.Status.Token == "" {
		return "", errors.New("TokenRequest answered without a token")
	}
	return tr.Status.Token, nil
}

// Scrape GETs MetricsURL over HTTPS (the webhook's serving certificate, checked
// against CABundle) with token as the bearer token ("" sends none) and returns the
// status code and body.
func (c *Cluster) Scrape(ctx context.Context, token string) (int, string, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(c.CABundle) {
		return 0, "", errors.New("CA bundle holds no certificate")
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.MetricsURL, nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// MetricsToken is the token of MetricsReader, allowed to scrape.
func (c *Cluster) MetricsToken() string { return c.metricsToken }
