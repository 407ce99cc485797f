package caddysse

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// jwtAlgs are the signing algorithms a jwt config may pin.
var jwtAlgs = []string{
	"HS256", "HS384", "HS512",
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

func isHMAC(alg string) bool { return strings.HasPrefix(alg, "HS") }

// minSecret is the shortest HMAC secret an algorithm accepts: the size of
// its hash, as RFC 7518 section 3.2 requires.
func minSecret(alg string) int {
	switch alg {
	case "HS384":
		return 48
	case "HS512":
		return 64
	}
	return 32
}

// verificationKey turns key material into the key that verifies alg: the
// secret itself for HMAC, else the PEM public key, which must be of the
// type (and curve) alg needs.
func verificationKey(alg string, material []byte) (any, error) {
	if isHMAC(alg) {
		return hmacSecret(alg, material)
	}
	pub, err := parsePublicKey(material)
	if err != nil {
		return nil, fmt.Errorf("alg %s wants a PEM public key: %w", alg, err)
	}
	if err := keyFits(alg, pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// signingKey turns key material into the key that signs with alg: the
// secret for HMAC, else the PEM private key of the type alg needs.
func signingKey(alg string, material []byte) (any, error) {
	if isHMAC(alg) {
		return hmacSecret(alg, material)
	}
	priv, err := parsePrivateKey(material)
	if err != nil {
		return nil, fmt.Errorf("alg %s wants a PEM private key: %w", alg, err)
	}
	if err := keyFits(alg, priv.Public()); err != nil {
		return nil, err
	}
	return priv, nil
}

// hmacSecret checks an HMAC secret. A PEM block is refused: using a public
// key as a shared secret is how forged tokens pass when the algorithm is
// not pinned, and here it would be a misconfigured alg.
func hmacSecret(alg string, secret []byte) ([]byte, error) {
	if strings.Contains(string(secret), "-----BEGIN") {
		return nil, fmt.Errorf("alg %s wants a shared secret, but the key is a PEM block; set alg to the key's algorithm", alg)
	}
	if n := minSecret(alg); len(secret) < n {
		return nil, fmt.Errorf("alg %s wants a secret of at least %d bytes, the key has %d", alg, n, len(secret))
	}
	return secret, nil
}

// keyFits checks that a public key is of the type and curve alg needs.
func keyFits(alg string, pub crypto.PublicKey) error {
	ok := false
	want := ""
	switch alg[:2] {
	case "RS", "PS":
		_, ok = pub.(*rsa.PublicKey)
		want = "an RSA key"
	case "ES":
		curve := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
		k, isEC := pub.(*ecdsa.PublicKey)
		ok = isEC && k.Curve == curve
		want = "an ECDSA " + curve.Params().Name + " key"
	case "Ed":
		_, ok = pub.(ed25519.PublicKey)
		want = "an Ed25519 key"
	}
	if !ok {
		return fmt.Errorf("alg %s wants %s, but the key is %s", alg, want, describeKey(pub))
	}
	return nil
}

// describeKey names a key's type for error messages.
func describeKey(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return "an RSA key"
	case *ecdsa.PublicKey:
		return "an ECDSA " + k.Curve.Params().Name + " key"
	case ed25519.PublicKey:
		return "an Ed25519 key"
	}
	return fmt.Sprintf("a %T", pub)
}

// parsePublicKey reads the first PEM block: a PKIX or PKCS #1 public key,
// or a certificate. A private key is refused, so that servers are not
// handed what signs tokens.
func parsePublicKey(material []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(material)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	switch {
	case block.Type == "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(block.Bytes)
	case block.Type == "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	case block.Type == "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		return cert.PublicKey, nil
	case strings.HasSuffix(block.Type, "PRIVATE KEY"):
		return nil, errors.New("the PEM block is a private key; give the server only the public key (openssl pkey -pubout)")
	}
	return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
}

// parsePrivateKey reads the first PEM block as a PKCS #8, PKCS #1 (RSA) or
// SEC 1 (EC) private key.
func parsePrivateKey(material []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(material)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
	}
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key %T", key)
	}
	return signer, nil
}
