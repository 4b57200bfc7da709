package mp

// ManagerAddr returns the address the manager listens on, for tests that talk to it raw.
func ManagerAddr(m *Manager) string { return m.addr }
