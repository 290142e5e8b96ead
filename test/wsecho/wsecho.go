// Package wsecho is the websocket echo the ingress tests route through the
// proxy, the unit tests to a loopback backend and the e2e test to one on
// the lab bridge, with gorilla/websocket as browsers' peers use it.
package wsecho

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// Handler upgrades every request and answers each message with "echo: "
// and the message, until the client closes.
func Handler() http.Handler {
	upgrader := websocket.Upgrader{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		for {
			kind, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			if err := conn.WriteMessage(kind, append([]byte("echo: "), msg...)); err != nil {
				return
			}
		}
	})
}

// Check dials url with the Host header host and sends each message,
// expecting Handler's echo of it, all within timeout.
func Check(url, host string, timeout time.Duration, messages ...string) error {
	dialer := websocket.Dialer{HandshakeTimeout: timeout}
	conn, resp, err := dialer.Dial(url, http.Header{"Host": {host}})
	if err != nil {
		if resp != nil {
			return fmt.Errorf("%w (status %d)", err, resp.StatusCode)
		}
		return err
	}
	defer conn.Close()
	_ = conn.NetConn().SetDeadline(time.Now().Add(timeout))
	for _, msg := range messages {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			return err
		}
		_, got, err := conn.ReadMessage()
		if err != nil {
			return fmt.Errorf("read the echo of %q: %w", msg, err)
		}
		if string(got) != "echo: "+msg {
			return fmt.Errorf("got %q, want the echo of %q", got, msg)
		}
	}
	return nil
}
