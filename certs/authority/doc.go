// Package authority is the Kubernetes plumbing of builtin certificate mode: Authority
// (leader only) keeps a CA and a serving certificate in Secrets, rotates them and
// patches the caBundle of the webhook configurations; Source (every replica) serves the
// serving Secret through GetCertificate. Certificate generation is in certs/pki; the
// rotation rules are the pure functions in policy.go. Entry points: New, NewSource.
package authority
