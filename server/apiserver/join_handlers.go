package apiserver

import (
	"encoding/json"
	"log/slog"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"kite/internal/joinprotocol"
	"kite/server/auth"
)

// isJoinPath says whether path is a join endpoint, served without client
// certificates: the joining node has none yet and proves itself with the
// cluster token instead.
func isJoinPath(path string) bool {
	return path == joinprotocol.CACertsPath || path == joinprotocol.NodePath
}

// serveJoin answers /cacerts and /v1-kite/node.
func (s *Server) serveJoin(w http.ResponseWriter, r *http.Request) {
	j := s.cfg.Join
	if j == nil {
		writeError(w, r, apierrors.NewNotFound(schema.GroupResource{}, ""))
		return
	}
	switch r.URL.Path {
	case joinprotocol.CACertsPath:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeError(w, r, apierrors.NewMethodNotSupported(schema.GroupResource{Resource: "cacerts"}, r.Method))
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Header().Set(joinprotocol.CAHMACHeader, j.CAHMAC())
		_, _ = w.Write(j.CAPEM())
	case joinprotocol.NodePath:
		if r.Method != http.MethodPost {
			writeError(w, r, apierrors.NewMethodNotSupported(schema.GroupResource{Resource: "node"}, r.Method))
			return
		}
		s.joinNode(w, r, j)
	}
}

func (s *Server) joinNode(w http.ResponseWriter, r *http.Request, j *auth.NodeJoiner) {
	user, secret, ok := r.BasicAuth()
	// Both checks run whatever the first says, so the time taken tells
	// nothing about the secret.
	secretOK := j.Authorized(secret)
	if !ok || user != joinprotocol.NodeUser || !secretOK {
		slog.Warn("join refused: invalid token", "component", "apiserver", "remote", r.RemoteAddr)
		writeError(w, r, apierrors.NewUnauthorized("invalid join token"))
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var req joinprotocol.NodeRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, r, apierrors.NewBadRequest("decoding the join request: "+err.Error()))
		return
	}
	resp, err := j.Join(req)
	if auth.IsInvalidJoin(err) {
		writeError(w, r, apierrors.NewBadRequest(err.Error()))
		return
	}
	if err != nil {
		writeError(w, r, apierrors.NewInternalError(err))
		return
	}
	slog.Info("node joined", "component", "apiserver", "node", req.NodeName, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, resp)
}
