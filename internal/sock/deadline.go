package sock

import (
	"context"
	"time"
)

// Bound makes ctx bound the I/O of a stream in the direction that set sets the deadline of (an
// *os.File's or a net.Conn's SetReadDeadline, say), and returns the function that undoes it,
// which must be called once the I/O is over. ctx's deadline becomes the stream's; when ctx is
// cancelled, the deadline moves to the past, so that the I/O waiting returns at once with an
// error matching os.ErrDeadlineExceeded. With a ctx that cannot end it does nothing. One
// operation at a time may be bounded in each direction.
func Bound(ctx context.Context, set func(time.Time) error) (undo func()) {
	if ctx.Done() == nil {
		return func() {}
	}
	d, hasDeadline := ctx.Deadline()
	if hasDeadline {
		set(d)
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		set(time.Unix(1, 0))
		close(fired)
	})
	return func() {
		if !stop() {
			<-fired
			set(time.Time{})
		} else if hasDeadline {
			set(time.Time{})
		}
	}
}
