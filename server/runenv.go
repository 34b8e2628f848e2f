package server

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// secretKeyFile is the key that seals a run's own variables (an event's
// "env": DSC_SESSION and the like) in its stored record. Nodes sharing a
// database must share it (copy it into each node's data-dir), or a run
// sealed by one fails on another, saying so.
const secretKeyFile = "secret-env.key"

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// checkRunEnv refuses an event's env that no runner could pass on,
// naming the variable, never its value.
func checkRunEnv(env map[string]string) error {
	for k, v := range env {
		if !envNameRE.MatchString(k) {
			return errf(http.StatusBadRequest, codeInvalid, "env: %q is not a variable name", k)
		}
		if strings.ContainsAny(v, "\n\r\x00") {
			return errf(http.StatusBadRequest, codeInvalid, "env.%s: the value holds a line break or NUL", k)
		}
	}
	return nil
}

// secretAEAD returns the AES-256-GCM of the node's key, creating the key
// (0600, 32 random bytes) on first use.
func (s *Server) secretAEAD() (cipher.AEAD, error) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if s.aead != nil {
		return s.aead, nil
	}
	file := filepath.Join(s.dataDir, secretKeyFile)
	key, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			// Another node or process made it meanwhile.
			return nil, fmt.Errorf("%s appeared while berth made it; retry", file)
		}
		if err != nil {
			return nil, err
		}
		_, err = f.Write(key)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("%s: want 32 bytes, found %d", file, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	s.aead, err = cipher.NewGCM(block)
	return s.aead, err
}

// sealEnv encrypts env for the run's stored record; the run id is the
// additional data, so a sealed value cannot be moved to another run.
func (s *Server) sealEnv(runID string, env map[string]string) (string, error) {
	if len(env) == 0 {
		return "", nil
	}
	aead, err := s.secretAEAD()
	if err != nil {
		return "", fmt.Errorf("sealing the run's env: %w", err)
	}
	plain, err := json.Marshal(env)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(aead.Seal(nonce, nonce, plain, []byte(runID))), nil
}

// openEnv decrypts what sealEnv made.
func (s *Server) openEnv(runID, sealed string) (map[string]string, error) {
	if sealed == "" {
		return nil, nil
	}
	aead, err := s.secretAEAD()
	if err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(b) < aead.NonceSize() {
		return nil, errors.New("the run's sealed env is damaged")
	}
	plain, err := aead.Open(nil, b[:aead.NonceSize()], b[aead.NonceSize():], []byte(runID))
	if err != nil {
		return nil, fmt.Errorf("the run's env was sealed with another key than this node's %s (nodes sharing a database must share that file)", secretKeyFile)
	}
	var env map[string]string
	err = json.Unmarshal(plain, &env)
	return env, err
}

// checkHostURL accepts an http(s) URL for a configuration's hostUrl.
func checkHostURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL such as http://docspell:7880", raw)
	}
	return nil
}

// runEnv is the run's own environment: the configuration's hostUrl as
// DSC_DOCSPELL_URL (Docspell's name for it, AddonPrepare.scala:70), then
// the event's sealed variables, which win.
func (s *Server) runEnv(ctx context.Context, runID, configID, sealed string) (map[string]string, error) {
	env := map[string]string{}
	if configID != "" {
		if rc, err := s.st.GetRunConfig(ctx, nil, configID); err == nil {
			if c, err := decodeConfig(rc); err == nil && c.HostURL != "" {
				env["DSC_DOCSPELL_URL"] = c.HostURL
			}
		}
	}
	opened, err := s.openEnv(runID, sealed)
	if err != nil {
		return nil, err
	}
	for k, v := range opened {
		env[k] = v
	}
	return env, nil
}
