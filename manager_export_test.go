package mp

// ManagerAddr returns the address the manager listens on, for tests that talk to it raw.
func ManagerAddr(m *Manager) string { return m.addr }

// ManagerToken returns the manager's secret token.
func ManagerToken(m *Manager) []byte { return m.c.token }
