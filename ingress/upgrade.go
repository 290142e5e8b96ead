package ingress

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"time"
)

// switchProtocols completes an upgrade (a websocket) the endpoint accepted:
// the client's connection is taken from the server, given the endpoint's
// 101 response, and joined to the endpoint's connection until either side
// closes.
func (p *Proxy) switchProtocols(w *statusRecorder, out *outboundRequest, c *upstreamConn, resp *http.Response) {
	defer c.Close()
	clientConn, clientRW, err := w.Hijack()
	if err != nil {
		p.log.Warn("cannot take over the client connection for an upgrade", "host", out.in.Host, "err", err)
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	defer clientConn.Close()
	// The server may have set deadlines for the request; the tunnel has none.
	_ = clientConn.SetDeadline(time.Time{})

	bw := clientRW.Writer
	bw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n")
	writeHeaderLine(bw, "Upgrade", resp.Header.Get("Upgrade"))
	connection := resp.Header["Connection"]
	for key, values := range resp.Header {
		if forwardable(key, connection) {
			for _, v := range values {
				writeHeaderLine(bw, key, v)
			}
		}
	}
	bw.WriteString("\r\n")
	if err := bw.Flush(); err != nil {
		return
	}
	tunnel(clientConn, clientRW.Reader, c.Conn, c.br)
}

// tunnel copies bytes both ways between the client and the endpoint until
// one direction ends, then closes both so the other ends too. The readers
// may hold bytes that arrived with the upgrade.
func tunnel(client net.Conn, fromClient *bufio.Reader, endpoint net.Conn, fromEndpoint *bufio.Reader) {
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(endpoint, fromClient)
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(client, fromEndpoint)
		done <- struct{}{}
	}()
	<-done
	_ = client.Close()
	_ = endpoint.Close()
	<-done
}
