package mp

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/mp-go/mp/internal/wire"
)

// MarshalError encodes err with its identity, for a process of the same binary that receives it
// over a channel of its own (a cluster's worker agent sending a task's error to the head, say):
// UnmarshalError rebuilds it there as an error that errors.Is and errors.As match as the error
// of a local pool's task would. The codes of the registered sentinels it matches travel (so
// ErrWorkerDied, context.DeadlineExceeded, a RegisterError sentinel still match), the fields of
// the errors of registered types in its chain (RegisterErrorType), its errno, and, for a
// *PanicError, the panic value and stack. A *ProcessError or a *PanicError keeps its process's
// name and pid; any other error is rebuilt as a *ProcessError whose Name and Pid are this
// process's. A nil err encodes as nil.
func MarshalError(err error) []byte {
	if err == nil {
		return nil
	}
	m := &wire.Remote{Format: wire.RemoteFormat, Kind: wire.RemoteProcess, Name: Current().Name, Pid: Current().Pid}
	m.Err = toWire(err)
	var pe *PanicError
	var pre *ProcessError
	switch {
	case errors.As(err, &pe) && err == error(pe):
		m.Kind, m.Name, m.Pid = wire.RemotePanic, pe.Name, pe.Pid
		m.Err.Message, m.Err.Stack, m.Err.Type = pe.Value, pe.Stack, "*mp.PanicError"
	case errors.As(err, &pre) && err == error(pre):
		m.Name, m.Pid = pre.Name, pre.Pid
		m.Err.Message, m.Err.Type, m.Err.Unregistered = pre.Message, pre.Type, pre.Unregistered
	}
	b, _ := wire.Marshal(m)
	return b
}

// UnmarshalError rebuilds an error that MarshalError encoded, in a process of the same binary:
// a *PanicError for a panic, else a *ProcessError (see MarshalError for what matches). Empty b
// gives nil. Bytes that are not such an encoding give an error matching ErrDecode that says so.
func UnmarshalError(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	var m wire.Remote
	if err := wire.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%w: UnmarshalError: the bytes are not an error encoded by mp.MarshalError of this version: %v", ErrDecode, err)
	}
	if m.Kind == wire.RemotePanic {
		m.Err.Panic = true
	}
	return fromWire(m.Name, m.Pid, m.Err)
}

// RegistryHash returns a hash of the functions registered in this binary (their names and their
// argument and result types, see Register) and of the registered error codes (RegisterError,
// RegisterErrorType). Two processes with the same hash agree on what every name means: a
// cluster's worker agent refuses a task whose sender's hash differs from its own, rather than
// run other code under the same name. Call it after Init (when registration is over).
func RegistryHash() string {
	var lines []string
	registry.RLock()
	for name, e := range registry.byName {
		lines = append(lines, "f "+name+" "+reflect.TypeOf(e.caller).String())
	}
	registry.RUnlock()
	errorRegistry.RLock()
	for _, c := range errorRegistry.codes {
		lines = append(lines, "e "+c)
	}
	for c, t := range errorRegistry.types {
		lines = append(lines, "t "+c+" "+t.typ.String())
	}
	errorRegistry.RUnlock()
	slices.Sort(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(sum[:16])
}
