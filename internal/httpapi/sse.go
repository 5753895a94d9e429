package httpapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/hotpot-rt/hotpot/internal/events"
)

// sseWriteTimeout bounds one write to an SSE subscriber.
const sseWriteTimeout = 10 * time.Second

// StreamEvents streams agent events as Server-Sent Events. Headers go out
// at once; every event appended after that moment is delivered, after the
// replay asked for by Last-Event-ID. A subscriber too slow to keep up is
// cut off with a comment saying so, and may resume.
func (a *API) StreamEvents(w http.ResponseWriter, r *http.Request, params StreamEventsParams) {
	var f events.Filter
	if params.Types != nil {
		for _, t := range *params.Types {
			if !t.Valid() {
				writeProblem(w, http.StatusBadRequest, fmt.Sprintf("unknown event type %q", t), Problem{})
				return
			}
			f.Types = append(f.Types, string(t))
		}
	}
	if params.Agent != nil {
		if f.Agent = *params.Agent; !checkID(w, "agent", f.Agent) {
			return
		}
	}
	if params.Group != nil {
		if f.Group = *params.Group; !checkID(w, "group", f.Group) {
			return
		}
	}
	lastID := ""
	if params.LastEventID != nil {
		lastID = *params.LastEventID
	}
	if a.node.Events().Subscribers() >= a.cfg.MaxSSESubscribers {
		writeProblem(w, http.StatusServiceUnavailable, fmt.Sprintf("the node has %d event streams open, its --max-sse-subscribers: try another node, or later", a.cfg.MaxSSESubscribers), Problem{})
		return
	}
	sub, fromOldest := a.node.Events().Subscribe(f, lastID)
	defer sub.Close()

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	buf := []byte(nil)
	if fromOldest {
		buf = fmt.Appendf(buf, ": Last-Event-ID %q is unknown or older than the events kept; replaying from the oldest event kept\n\n", lastID)
	}
	ping := time.NewTicker(a.pingInterval)
	defer ping.Stop()
	for {
		var wake <-chan struct{}
		var err error
		buf, wake, err = sub.Read(buf)
		if err != nil {
			buf = fmt.Appendf(buf, ": %v\n\n", err)
		}
		if len(buf) > 0 || err != nil {
			rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
			if _, werr := w.Write(buf); werr != nil || rc.Flush() != nil || err != nil {
				return
			}
			buf = buf[:0]
			continue
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-wake:
		case <-ping.C:
			buf = append(buf, ": ping\n\n"...)
		case <-r.Context().Done():
			return
		case <-a.node.StreamsDone():
			return
		}
	}
}
