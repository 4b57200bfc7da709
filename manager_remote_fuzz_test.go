package mp

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// FuzzManagerRemoteWelcome feeds the fuzzer's bytes to ConnectManager's client as what the
// served manager's listener sends (keyless, so the welcome comes first): it connects only on a
// well-formed welcome, and fails on anything else with ErrAuthentication or ErrProtocol, without
// a panic.
func FuzzManagerRemoteWelcome(f *testing.F) {
	token := bytes.Repeat([]byte{7}, managerTokenSize)
	good := frame(managerRemoteWelcome + string(token))
	f.Add(good)
	f.Add(append(good, 0, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0, 0, managerOpClosed))
	f.Add(frame("#CHALLENGE#{sha256}" + string(make([]byte, 40))))
	f.Add(frame(managerRemoteWelcome))
	f.Add(frame("mpmgr-remote\x00\x02" + string(token)))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 1, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &memStream{in: data}
		m, err := NewManagerConn(context.Background(), s, "fuzz 127.0.0.1:1")
		if err != nil {
			if !errors.Is(err, ErrAuthentication) && !errors.Is(err, ErrProtocol) {
				t.Fatalf("NewManagerConn: %v, want ErrAuthentication or ErrProtocol", err)
			}
			return
		}
		defer m.Close()
		if len(data) < len(good) || !bytes.Equal(data[4:4+len(managerRemoteWelcome)], []byte(managerRemoteWelcome)) {
			t.Fatalf("connected on %q", data)
		}
		if !bytes.Equal(m.c.token, data[len(good)-managerTokenSize:len(good)]) {
			t.Fatalf("token %x from %q", m.c.token, data)
		}
	})
}
