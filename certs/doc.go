// Package certs gives the webhook server its serving certificate in one of two modes:
// "files" (cert-manager or the user mounts tls.crt/tls.key into --cert-dir and
// controller-runtime's certwatcher reloads them) or "builtin" (the leader keeps a CA and
// a serving certificate in Secrets, rotates them and patches the caBundle of the webhook
// configurations; every replica serves from the Secret). It does not run the webhook
// server itself. Entry points: Options (flags) and Setup.
package certs
