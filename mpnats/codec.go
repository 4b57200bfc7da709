package mpnats

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/internal/codec"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Values on queues, in dicts and in lease records are encoded with mp's codec (CBOR, with mp's
// type checks, decoding limits and allocation budget; see internal/codec): what one process puts
// any other decodes, on any host, and a malformed message is an mp.ErrDecode error, never code run.

// mp is imported for its init, which sets the codec's functions; the reference keeps it imported.
var _ = mp.ErrDecode

func encode(what string, v any) ([]byte, error) { return codec.Encode(what, v) }

func decode[T any](what string, b []byte, v *T) error { return codec.Decode(what, b, v) }

func checkType[T any](ctor string) error { return codec.CheckType(ctor, reflect.TypeFor[T]()) }

// nameRE is what a queue, dict or mutex name may be: it becomes part of a JetStream stream or
// bucket name and a subject.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func checkName(ctor, name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w: mpnats.%s(%q): a name is 1 to 64 letters, digits, '-' or '_'", mp.ErrInvalidOption, ctor, name)
	}
	return nil
}

// isMaxMsgs reports a publish refused because the stream holds its maximum of messages.
func isMaxMsgs(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && strings.Contains(apiErr.Description, "maximum messages") {
		return true
	}
	return err != nil && strings.Contains(err.Error(), "maximum messages exceeded")
}

// wireError turns a NATS error on a value too big for a message into mp.ErrTooLarge, and
// leaves others as they are, said as what failed.
func wireError(what string, err error) error {
	if errors.Is(err, nats.ErrMaxPayload) {
		return fmt.Errorf("%w: %s: the value is over the server's message limit", mp.ErrTooLarge, what)
	}
	return fmt.Errorf("%s: %w", what, err)
}
