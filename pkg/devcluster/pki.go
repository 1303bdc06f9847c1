package devcluster

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// adminUser is the user the admin token authenticates as (in system:masters).
const adminUser = "admin"

// ensureServiceAccountKeys writes an RSA key pair for signing service-account
// tokens (PKCS#1 private key, PKIX public key, both PEM) unless both files
// already exist.
func ensureServiceAccountKeys(keyPath, pubPath string) error {
	if fileExists(keyPath) && fileExists(pubPath) {
		return nil
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generating service-account key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return fmt.Errorf("encoding service-account public key: %w", err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600)
}

// ensureAdminToken returns the admin bearer token stored in the static token
// file at path, writing a new random one when the file does not exist.
// The file format is kube-apiserver's --token-auth-file: token,user,uid,"groups".
func ensureAdminToken(path string) (string, error) {
	if data, err := os.ReadFile(path); err == nil {
		token, _, ok := strings.Cut(strings.TrimSpace(string(data)), ",")
		if ok && token != "" {
			return token, nil
		}
		return "", fmt.Errorf("token file %s: expected a line token,user,uid,groups", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	token := hex.EncodeToString(buf)
	line := fmt.Sprintf("%s,%s,%s,\"system:masters\"\n", token, adminUser, adminUser)
	if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
		return "", err
	}
	return token, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// stateEntries are the names devcluster creates inside its directory; a fresh
// start (Keep false) removes exactly these and nothing else the user put there.
var stateEntries = []string{"kubeconfig", "logs", "etcd", "pki", "kwok"}

// resetState removes devcluster's own entries from dir.
func resetState(dir string) error {
	for _, name := range stateEntries {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}
