package mp

import "context"

// ManagerAddr returns the address the manager listens on, for tests that talk to it raw.
func ManagerAddr(m *Manager) string { return m.addr }

// ManagerToken returns the manager's secret token.
func ManagerToken(m *Manager) []byte { return m.c.token }

// ManagerSendShutdown sends the shutdown request itself, as a client that skips Shutdown's
// checks would.
func ManagerSendShutdown(ctx context.Context, m *Manager) error {
	_, err := m.c.call(ctx, managerOpShutdown, &mreq{})
	return err
}

// ManagerLocalOff turns the managed Dict's local fast path off (true) or on in this process, for
// tests of the socket path; it returns the previous setting.
func ManagerLocalOff(off bool) bool { return managerLocalOff.Swap(off) }

// DictAttached reports whether d's operations run on its table in this process (the fast path).
func DictAttached[K comparable, V any](d *Dict[K, V]) bool {
	return d != nil && d.p != nil && d.p.tab.Load() != nil
}
