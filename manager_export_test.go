package mp

// ManagerAddr returns the address the manager listens on, for tests that talk to it raw.
func ManagerAddr(m *Manager) string { return m.addr }

// ManagerToken returns the manager's secret token.
func ManagerToken(m *Manager) []byte { return m.c.token }

// ManagerLocalOff turns the managed Dict's local fast path off (true) or on in this process, for
// tests of the socket path; it returns the previous setting.
func ManagerLocalOff(off bool) bool { return managerLocalOff.Swap(off) }
