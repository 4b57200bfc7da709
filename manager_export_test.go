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
